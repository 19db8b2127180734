"""obs.guard: adaptive concurrency limits, circuit breaking and per-client rate limits in
front of Mongo, with every decision on obs's metrics (docs/guard.md).

Off unless ``obs.init(guard=True)`` (``OBS_GUARD=true``); a guarded call then costs about a
microsecond when admitted (``make bench BENCH=guard``).

Example:
    >>> import obs
    >>> from obs.protection import Rejected
    >>> try:
    ...     with obs.guard("payouts", client="api-key-123", priority="low"):
    ...         pass
    ... except Rejected as exc:  # exc.status (429/503), exc.retry_after
    ...     pass
"""

from __future__ import annotations

from obs.protection.guard import Guard, GuardConfig, Rejected
from obs.protection.middleware import AsgiGuard, WsgiGuard
from obs.protection.runtime import guard

__all__ = ["AsgiGuard", "Guard", "GuardConfig", "Rejected", "WsgiGuard", "guard"]
