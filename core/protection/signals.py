"""What the guard reads of obs's own Mongo telemetry, read-only.

The pool listener of :mod:`obs.instrumentation.pymongo` already counts the checkouts waiting
for a connection, per pool, for its ``db.client.connection.pending_requests`` gauge; the
breaker reads the same observer the exporter calls, so its notion of a saturated pool is
the one on the dashboards.
"""

from __future__ import annotations

from collections.abc import Callable


def pool_pending_reader() -> Callable[[], int]:
    """A function returning the most checkouts waiting in any of this process's pools
    (0 while obs's pool listener is off).

    Example:
        >>> pool_pending_reader()()
        0
    """
    from opentelemetry.metrics import CallbackOptions

    from obs import catalog
    from obs.instrumentation.pymongo_pool import POOL_OBSERVERS

    observe = POOL_OBSERVERS[catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS]
    options = CallbackOptions()

    def pending() -> int:
        return max((int(point.value) for point in observe(options)), default=0)

    return pending
