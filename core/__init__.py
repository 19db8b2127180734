"""obs: observability for Python services on MongoDB, Redis caches and BullMQ queues.

One call wires OpenTelemetry (traces and metrics over OTLP), Sentry, and instruments pymongo,
Redis cache lookups and queue workers::

    import obs
    obs.init()

Importing obs is cheap: the OpenTelemetry SDK and Sentry load only inside ``init()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obs.version import __version__

if TYPE_CHECKING:
    from obs.instrumentation import cache
    from obs.instrumentation.jobs import job
    from obs.protection.runtime import guard
    from obs.runtime.status import Status

__all__ = ["__version__", "cache", "flush", "guard", "init", "job", "shutdown", "status"]


def init(*, strict: bool = False, **overrides: Any) -> Status:
    """Start obs in this process; safe to call more than once.

    Keyword arguments override the environment (see the settings table in the README).
    A bad setting turns its feature off with one warning, or raises ``SettingsError``
    when ``strict``.

    Example:
        >>> import obs
        >>> obs.init(service_name="api", cache_prefixes={"kpi:": "kpi"})  # doctest: +SKIP
    """
    from obs.lifecycle import process as runtime

    return runtime.init(strict=strict, overrides=overrides)


def status() -> Status:
    """What is on, what is off, and why.

    Example:
        >>> print(obs.status())  # doctest: +SKIP
    """
    from obs.lifecycle import process as runtime

    return runtime.status()


def flush(timeout: float = 5.0) -> bool:
    """Export everything recorded so far, returning within ``timeout`` seconds whatever the
    collector does; True when all of it was exported, False when some was dropped or time
    ran out.

    Example:
        >>> obs.flush(1.0)  # doctest: +SKIP
        True
    """
    from obs.lifecycle import process as runtime

    return runtime.flush(timeout)


def shutdown(timeout: float = 5.0) -> bool:
    """Flush and stop exporting within ``timeout`` seconds; instrumentation goes quiet until
    the next ``init()``. True when everything recorded was exported (as :func:`flush`).

    Example:
        >>> obs.shutdown(2.0)  # doctest: +SKIP
        True
    """
    from obs.lifecycle import process as runtime

    return runtime.shutdown(timeout)


def __getattr__(name: str) -> Any:
    # ``obs.cache``, ``obs.job`` and ``obs.guard`` load on first use, so that importing any
    # part of obs (the agent, a command) does not load the in-process instrumentation.
    if name == "cache":
        from obs.instrumentation import cache

        return cache
    if name == "job":
        from obs.instrumentation.jobs import job

        return job
    if name == "guard":
        from obs.protection.runtime import guard

        # Kept as a module attribute: a guarded call on a request path looks it up each time.
        globals()["guard"] = guard
        return guard
    raise AttributeError(f"module 'obs' has no attribute {name!r}")
