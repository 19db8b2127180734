"""Which failures mean "the target cannot be reached" (``obs.agent.up`` = 0), as opposed
to a collector that reached its target and was refused something (a missing privilege,
an unsupported command), which counts as a collection error only.

Example:
    >>> unreachable(ConnectionRefusedError()), unreachable(ValueError("bad reply"))
    (True, False)
"""

from __future__ import annotations

import redis.exceptions
from pymongo import errors as mongo_errors

_AUTHENTICATION_FAILED = 18
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, no route, DNS, socket timeouts
    redis.exceptions.ConnectionError,  # includes AuthenticationError
    redis.exceptions.TimeoutError,
    mongo_errors.ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeout
    mongo_errors.ExecutionTimeout,
)


def unreachable(error: BaseException) -> bool:
    """True when ``error`` says the target is down, too slow, or rejects the agent's
    credentials."""
    if isinstance(error, _UNREACHABLE):
        return True
    return isinstance(error, mongo_errors.OperationFailure) and error.code == _AUTHENTICATION_FAILED
