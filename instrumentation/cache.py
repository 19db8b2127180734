"""``obs.cache``: count hits and misses of any cache, in-process.

Redis reads under ``OBS_CACHE_PREFIXES`` are counted automatically
(:mod:`obs.instrumentation.redis`); this is for every other cache (a dict, an LRU, a CDN
lookup). Results go to ``obs.cache.requests`` with ``cache.name`` and ``cache.result``.

Example:
    >>> import obs
    >>> value = {"a": 1}.get("a")
    >>> obs.cache.record("settings", hit=value is not None)
    >>> lookup = obs.cache.counted("settings", {"a": 1}.get)
    >>> lookup("b") is None   # counted as a miss
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from obs.catalog import attr
from obs.runtime import state

P = ParamSpec("P")
R = TypeVar("R")


def attributes(name: str, hit: bool) -> dict[str, str]:
    """The attributes of one cache result."""
    return {attr.CACHE_NAME: name, attr.CACHE_RESULT: "hit" if hit else "miss"}


def record(name: str, hit: bool, count: int = 1) -> None:
    """Record ``count`` lookups of cache ``name`` that hit (or missed)."""
    active = state.current
    if active is None or active.instruments is None:
        return
    try:
        active.instruments.cache_requests.bound((name, hit), attributes, name, hit).add(count)
    except Exception as exc:
        active.failures.record("cache", exc)


def hit(name: str) -> None:
    """Record one hit of cache ``name``."""
    record(name, True)


def miss(name: str) -> None:
    """Record one miss of cache ``name``."""
    record(name, False)


def counted(name: str, getter: Callable[P, R], *, missing: object = None) -> Callable[P, R]:
    """Wrap a lookup function: a result of ``missing`` (default None) counts as a miss.

    Example:
        >>> get = counted("kpi", {}.get)
        >>> get("revenue")
    """

    def lookup(*args: P.args, **kwargs: P.kwargs) -> R:
        result = getter(*args, **kwargs)
        record(name, result is not missing)
        return result

    return lookup
