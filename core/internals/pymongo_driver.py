"""Every pymongo internal that obs uses: its connection pools' own counts, and the slots
its command events keep their fields in.

Why not pymongo's public pool events: once one ``ConnectionPoolListener`` is registered,
pymongo builds and publishes three events for every command (checkout started, checked
out, checked in), and the listener's bookkeeping runs on the request thread for each; obs's
pool gauges (connections in use and idle, pending checkouts, the size limit) need none of
that when they are read off the pools when a reader collects. pymongo has no public way
to reach a client's pools, so obs learns of each pool as it is made (a wrapper around the
pool class's ``__init__``, which runs once per pool) and reads four counters of it.
``tests/test_internals.py`` exercises each name against the installed pymongo.

Why read an event's slots: each of a command event's fields is a Python property (the
started event's ``database_name`` calls its parent's), and obs reads five per started
command and two or three per finished one: one ``operator.attrgetter`` over the slots
reads them all in one C call, at about a third of the instructions.

Example:
    >>> seen = []
    >>> track_pools(seen.append)  # pools made from now on are handed to seen.append
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from collections.abc import Callable
from operator import attrgetter
from typing import Any, NamedTuple

from obs.internals import InternalsChanged

LIBRARY = "pymongo"
# pymongo >= 4.9 has one pool class per API (obs's lower bound).
_POOL_MODULES = ("pymongo.synchronous.pool", "pymongo.asynchronous.pool")
_wrapped: list[tuple[Any, Any, Any]] = []  # (class, its own __init__, obs's wrapper)
_lock = threading.Lock()


class PoolCounts(NamedTuple):
    """What one pool holds now."""

    idle: int
    used: int
    pending: int
    limit: int


def _pool_classes() -> list[Any]:
    try:
        return [importlib.import_module(name).Pool for name in _POOL_MODULES]
    except (ImportError, AttributeError) as exc:
        raise InternalsChanged(LIBRARY, "synchronous.pool.Pool", exc) from exc


def track_pools(found: Callable[[Any], None]) -> None:
    """Call ``found(pool)`` with every application pool made from now on (not the pools
    pymongo's monitors use); once per process: a second call replaces ``found``."""
    classes = _pool_classes()
    with _lock:
        untrack_pools()
        for cls in classes:
            original = cls.__init__
            cls.__init__ = wrapper = _reporting(original, found)
            _wrapped.append((cls, original, wrapper))


def _reporting(original: Callable[..., None], found: Callable[[Any], None]) -> Any:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not getattr(self, "is_sdam", False):
            found(self)

    return __init__


def untrack_pools() -> None:
    """Give the pool classes their own ``__init__`` back, unless something wrapped obs's
    wrapper since (taking it away would take theirs too): then obs's stays, reporting to a
    ``found`` that no longer keeps anything."""
    while _wrapped:
        cls, original, wrapper = _wrapped.pop()
        if cls.__init__ is wrapper:
            cls.__init__ = original


def pool_counts(pool: Any) -> PoolCounts | None:
    """The pool's connections idle and in use, checkouts waiting for one, and its size
    limit (0: none); None once the pool is closed.

    ``operation_count`` counts checkouts from their start to their check-in and
    ``active_sockets`` those that got past the size limit, so the difference is what waits.
    The counters are read without the pool's lock: a gauge may be one change behind. In a
    forked child a pool holds its parent's counts until its first checkout resets it: until
    then it holds nothing of the child's.
    """
    try:
        if pool.closed:
            return None
        limit = int(pool.opts.max_pool_size or 0)
        if pool.pid != os.getpid():
            return PoolCounts(idle=0, used=0, pending=0, limit=limit)
        used = pool.active_sockets
        return PoolCounts(
            idle=len(pool.conns),
            used=used,
            pending=max(pool.operation_count - used, 0),
            limit=limit,
        )
    except AttributeError as exc:
        raise InternalsChanged(LIBRARY, f"Pool.{exc.name}", exc) from exc


class EventReaders(NamedTuple):
    """Functions that read a command event's fields as a tuple, in these orders:
    started (command_name, command, database_name, connection_id, request_id); succeeded
    (request_id, duration_micros, reply); failed (request_id, duration_micros, failure)."""

    started: Callable[[Any], tuple[Any, ...]]
    succeeded: Callable[[Any], tuple[Any, ...]]
    failed: Callable[[Any], tuple[Any, ...]]


_PUBLIC = EventReaders(
    attrgetter("command_name", "command", "database_name", "connection_id", "request_id"),
    attrgetter("request_id", "duration_micros", "reply"),
    attrgetter("request_id", "duration_micros", "failure"),
)
_SLOTS = EventReaders(
    attrgetter(
        "_CommandEvent__cmd_name",
        "_CommandStartedEvent__cmd",
        "_CommandEvent__db",
        "_CommandEvent__conn_id",
        "_CommandEvent__rqst_id",
    ),
    attrgetter(
        "_CommandEvent__rqst_id",
        "_CommandSucceededEvent__duration_micros",
        "_CommandSucceededEvent__reply",
    ),
    attrgetter(
        "_CommandEvent__rqst_id",
        "_CommandFailedEvent__duration_micros",
        "_CommandFailedEvent__failure",
    ),
)


def public_event_readers() -> EventReaders:
    """The readers by pymongo's public properties (what :func:`event_readers` falls back to)."""
    return _PUBLIC


def event_readers() -> EventReaders:
    """Readers of the command events' slots, checked to read what the public properties
    read on events built by pymongo's public constructors.

    Example:
        >>> from pymongo import monitoring
        >>> event = monitoring.CommandStartedEvent({"ping": 1}, "admin", 7, ("h", 1), None)
        >>> event_readers().started(event)
        ('ping', {'ping': 1}, 'admin', ('h', 1), 7)
    """
    from datetime import timedelta

    from pymongo import monitoring

    address = ("obs.invalid", 27017)
    try:
        samples = (
            monitoring.CommandStartedEvent({"find": "c", "filter": {}}, "db", 11, address, 12),
            monitoring.CommandSucceededEvent(
                timedelta(milliseconds=1), {"ok": 1}, "find", 11, address, 12
            ),
            monitoring.CommandFailedEvent(
                timedelta(milliseconds=2), {"ok": 0, "code": 2}, "find", 11, address, 12
            ),
        )
        for slots, public, event in zip(_SLOTS, _PUBLIC, samples, strict=True):
            if slots(event) != public(event):
                raise AttributeError(f"{type(event).__name__}'s slots hold other values")
    except (AttributeError, TypeError) as exc:
        raise InternalsChanged(LIBRARY, "monitoring._CommandEvent slots", exc) from exc
    return _SLOTS
