"""Which failures mean "the target cannot be reached" (``obs.agent.up`` = 0), as opposed
to a collector that reached its target and was refused something (a missing privilege,
an unsupported command), which counts as a collection error only.

Example:
    >>> unreachable(ConnectionRefusedError()), unreachable(ValueError("bad reply"))
    (True, False)
"""

from __future__ import annotations

import redis.exceptions

_AUTHENTICATION_FAILED = 18
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, no route, DNS, socket timeouts
    redis.exceptions.ConnectionError,  # includes AuthenticationError
    redis.exceptions.TimeoutError,
)


def unreachable(error: BaseException) -> bool:
    """True when ``error`` says the target is down, too slow, or rejects the agent's
    credentials."""
    if isinstance(error, _UNREACHABLE):
        return True
    if isinstance(error, redis.exceptions.RedisClusterException) and error.__cause__:
        return unreachable(error.__cause__)  # no node of the cluster could be reached
    if not type(error).__module__.startswith("pymongo"):
        return False
    # pymongo (18 MiB) is imported only by agents that watch MongoDB.
    from pymongo import errors

    if isinstance(error, errors.ConnectionFailure | errors.ExecutionTimeout):
        return True  # AutoReconnect, NetworkTimeout, ServerSelectionTimeout, maxTimeMS
    return isinstance(error, errors.OperationFailure) and error.code == _AUTHENTICATION_FAILED
