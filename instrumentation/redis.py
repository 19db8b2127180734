"""redis-py: reads of cache keys counted as cache hits and misses, per cache name.

Keys under the prefixes of ``OBS_CACHE_PREFIXES`` (``kpi:=kpi,lb:=leaderboard``) are caches.
GET, GETEX, HGET, HGETALL and EXISTS on such a key count one request; MGET counts one per
key. A reply of nil (or an empty hash, or EXISTS 0) is a miss, anything else a hit. Only
the nil-ness of a reply is looked at: values never reach telemetry.

Covers ``redis.Redis``, ``redis.asyncio.Redis``, their pipelines and transactions, and
``redis.cluster.RedisCluster``. OpenTelemetry's own redis instrumentation (spans) can run
beside this one: each wraps whatever it finds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from obs.instrumentation import cache
from obs.runtime import state

FEATURE = "redis"
_SINGLE_KEY = frozenset({"GET", "GETEX", "HGET", "HGETALL"})
_READS = _SINGLE_KEY | {"MGET", "EXISTS"}


class PrefixMatcher:
    """Finds the cache a key belongs to; the longest matching prefix wins.

    Example:
        >>> m = PrefixMatcher({"kpi:": "kpi", "kpi:daily:": "daily"})
        >>> m.cache_of(b"kpi:daily:2026"), m.cache_of("kpi:x"), m.cache_of("user:1")
        ('daily', 'kpi', None)
    """

    def __init__(self, prefixes: Mapping[str, str]) -> None:
        ordered = sorted(prefixes.items(), key=lambda item: -len(item[0]))
        self._str = tuple((p, name) for p, name in ordered)
        self._bytes = tuple((p.encode(), name) for p, name in ordered)
        self._any_str = tuple(p for p, _ in self._str)
        self._any_bytes = tuple(p for p, _ in self._bytes)

    def cache_of(self, key: object) -> str | None:
        if isinstance(key, str):
            if key.startswith(self._any_str):
                return next(name for p, name in self._str if key.startswith(p))
        elif isinstance(key, bytes) and key.startswith(self._any_bytes):
            return next(name for p, name in self._bytes if key.startswith(p))
        return None


_matcher: PrefixMatcher | None = None


def count(args: Sequence[Any], reply: Any) -> None:
    """Count the cache requests of one executed command (``args[0]`` is its name)."""
    matcher = _matcher
    if matcher is None or len(args) < 2:
        return
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    if not isinstance(name, str):
        return
    name = name.upper()
    if name not in _READS or isinstance(reply, BaseException):
        return
    if name in _SINGLE_KEY:
        cache_name = matcher.cache_of(args[1])
        if cache_name is not None:
            cache.record(cache_name, reply is not None and reply not in ({}, []))
    elif name == "MGET":
        keys = args[1:]
        if isinstance(reply, list) and len(reply) == len(keys):
            for key, value in zip(keys, reply, strict=True):
                cache_name = matcher.cache_of(key)
                if cache_name is not None:
                    cache.record(cache_name, value is not None)
    else:  # EXISTS k1 k2 ...: the reply is how many exist, not which
        keys = args[1:]
        names = {matcher.cache_of(key) for key in keys}
        # Keys of several caches (or non-cache keys) leave no way to tell whose hits these
        # are: such a call is not counted.
        cache_name = names.pop() if len(names) == 1 else None
        if cache_name is not None and isinstance(reply, int):
            hits = min(max(reply, 0), len(keys))
            if hits:
                cache.record(cache_name, True, hits)
            if len(keys) - hits:
                cache.record(cache_name, False, len(keys) - hits)


def _counting(reply: Any, args: Sequence[Any]) -> None:
    active = state.current
    if active is None or _matcher is None:
        return
    try:
        count(args, reply)
    except Exception as exc:
        active.failures.record(FEATURE, exc)


def _count_stack(stack: Sequence[Any], replies: Any) -> None:
    active = state.current
    if active is None or _matcher is None or not isinstance(replies, list):
        return
    try:
        if len(stack) != len(replies):
            return
        for entry, reply in zip(stack, replies, strict=True):
            args = entry[0] if isinstance(entry, tuple) else getattr(entry, "args", ())
            count(args, reply)
    except Exception as exc:
        active.failures.record(FEATURE, exc)


def _wrap_sync(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        reply = original(self, *args, **options)
        _counting(reply, args)
        return reply

    return execute_command


def _wrap_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        reply = await original(self, *args, **options)
        _counting(reply, args)
        return reply

    return execute_command


def _wrap_pipeline_sync(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        stack = list(self.command_stack) if _matcher is not None else ()
        replies = original(self, *args, **kwargs)
        if stack:
            _count_stack(stack, replies)
        return replies

    return execute


def _wrap_pipeline_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        stack = list(self.command_stack) if _matcher is not None else ()
        replies = await original(self, *args, **kwargs)
        if stack:
            _count_stack(stack, replies)
        return replies

    return execute


# (module, class, method, wrapper): what install() patches when redis-py has it.
_TARGETS: tuple[tuple[str, str, str, Callable[..., Any]], ...] = (
    ("redis.client", "Redis", "execute_command", _wrap_sync),
    ("redis.client", "Pipeline", "execute", _wrap_pipeline_sync),
    ("redis.asyncio.client", "Redis", "execute_command", _wrap_async),
    ("redis.asyncio.client", "Pipeline", "execute", _wrap_pipeline_async),
    ("redis.cluster", "RedisCluster", "execute_command", _wrap_sync),
    ("redis.cluster", "ClusterPipeline", "execute", _wrap_pipeline_sync),
)
_patched: list[tuple[type, str, Any, Any]] = []  # (class, method, original, wrapper)


def install(prefixes: Mapping[str, str]) -> list[str]:
    """Patch redis-py (once) and count reads under ``prefixes``; returns what was patched."""
    global _matcher
    import importlib

    _matcher = PrefixMatcher(prefixes)
    if not _patched:
        for module_name, class_name, method, wrapper in _TARGETS:
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                continue
            original = cls.__dict__.get(method)
            if original is None:
                continue
            wrapped = wrapper(original)
            setattr(cls, method, wrapped)
            _patched.append((cls, method, original, wrapped))
    return [f"{cls.__module__}.{cls.__name__}.{method}" for cls, method, _, _ in _patched]


def uninstall() -> None:
    """Stop counting and restore redis-py's own methods.

    A method someone else wrapped after obs keeps its wrapper chain (obs's link in it is
    inert once the matcher is gone): restoring under them would drop their patch.
    """
    global _matcher
    _matcher = None
    kept = []
    while _patched:
        cls, method, original, wrapped = _patched.pop()
        if cls.__dict__.get(method) is wrapped:
            setattr(cls, method, original)
        else:
            kept.append((cls, method, original, wrapped))
    _patched.extend(reversed(kept))
