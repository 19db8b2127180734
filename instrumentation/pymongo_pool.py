"""pymongo's connection pools: the gauges every obs reports, and the timings it reports
when asked.

Gauges (``db.client.connection.count`` idle/used, ``.pending_requests``, ``.max``): read off
the pools when a reader collects (:mod:`obs.internals.pymongo_driver`), so a command costs
nothing for them. Timings (``db.client.connection.wait_time``, ``.create_time``,
``.timeouts``, with ``OBS_MONGO_POOL_TIMINGS``): from pymongo's pool events, which pymongo
builds three of per command once a pool listener is registered. When pymongo's pools cannot
be read (a pymongo obs does not know yet), the listener keeps the gauges' counts instead.

pymongo's pool events name only the server address, so every client's pools to one
server count as one pool named ``host:port``: their counts add up and so do their limits.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from pymongo import monitoring

from obs import catalog
from obs.catalog import attr
from obs.internals import InternalsChanged, pymongo_driver, warn_once
from obs.runtime import state

FEATURE = "pymongo"


class _Pool:
    """The pools of every client of this process to one server address.

    pymongo's pool events name only the address, so two clients of the same server cannot
    be told apart: their counts add up, ``limits`` holds each open pool's maxPoolSize, and
    ``ready`` counts connection ids (each pool numbers its connections from 1).
    """

    __slots__ = ("attributes", "idle", "limits", "pending", "ready", "used", "waits")

    def __init__(self, name: str) -> None:
        self.attributes = {attr.POOL_NAME: name}
        self.idle = 0
        self.used = 0
        self.pending = 0
        self.limits: list[int] = []
        self.ready: collections.Counter[int] = collections.Counter()
        # (the instruments of the running obs, their checkout wait-time recorder)
        self.waits: tuple[Any, Any] = (None, None)


class _PoolListener(monitoring.ConnectionPoolListener):
    """Keeps per-pool counts that the observable instruments read at export time."""

    def __init__(self) -> None:
        self._pools: dict[Any, _Pool] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        self._pools = {}
        self._lock = threading.Lock()

    def _count(
        self, address: Any, *, idle: int = 0, used: int = 0, pending: int = 0
    ) -> _Pool | None:
        """The address's pool, with one change applied to its counts when they are the gauges'
        source; None while obs is off."""
        active = state.current
        if active is None or not _events_enabled:
            return None
        try:
            pool = self._pools.get(address)
            if pool is None:  # setdefault is atomic: a racing creator's pool is dropped
                pool = self._pools.setdefault(address, _Pool(_pool_name(address)))
            if not _events_count:
                return pool
            with self._lock:
                pool.idle += idle
                pool.used += used
                if pending:
                    pending += pool.pending
                    pool.pending = pending if pending > 0 else 0
            return pool
        except Exception as exc:
            active.failures.record(FEATURE, exc)
            return None

    def _record(self, family: str, seconds: float | None, pool: _Pool, error: str = "") -> None:
        active = state.current
        if seconds is None or active is None or active.instruments is None:
            return
        try:
            attributes = pool.attributes
            if error:
                attributes = {**attributes, attr.ERROR_TYPE: error}
            key = (attributes[attr.POOL_NAME], error)
            getattr(active.instruments, family).cell(attributes, key).record(seconds)
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        pool = self._count(event.address)
        if pool is not None:
            with self._lock:
                pool.limits.append(int(event.options.get("maxPoolSize", 100) or 0))

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        # The address's entry goes only with its last pool: another client may still use it.
        # Which client closed is not in the event, so with different maxPoolSize values the
        # latest pool's limit is the one taken off.
        with self._lock:
            pool = self._pools.get(event.address)
            if pool is not None and pool.limits:
                pool.limits.pop()
            if pool is not None and not pool.limits:
                del self._pools[event.address]

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        pass

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        pool = self._count(event.address, idle=1)
        if pool is not None:
            with self._lock:
                pool.ready[event.connection_id] += 1
            self._record("db_connection_create_time", getattr(event, "duration", None), pool)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        pool = self._pools.get(event.address)
        if pool is None:
            return
        with self._lock:
            was_ready = pool.ready[event.connection_id] > 0
            if was_ready:
                pool.ready[event.connection_id] -= 1
        if was_ready:
            self._count(event.address, idle=-1)

    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None:
        if _events_count:  # only counts: nothing to do while the gauges are read off the pools
            self._count(event.address, pending=1)

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        pool = self._count(event.address, pending=-1)
        if pool is None:
            return
        reason = str(event.reason)
        self._record("db_connection_wait_time", getattr(event, "duration", None), pool, reason)
        active = state.current
        if reason == monitoring.ConnectionCheckOutFailedReason.TIMEOUT and active is not None:
            try:
                if active.instruments is not None:
                    timeouts = active.instruments.db_connection_timeouts
                    timeouts.cell(pool.attributes, pool.attributes[attr.POOL_NAME]).add(1)
            except Exception as exc:
                active.failures.record(FEATURE, exc)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        # Once per command: the wait-time recorder is kept on the pool, not looked up.
        pool = self._count(event.address, pending=-1, idle=-1, used=1)
        active = state.current
        seconds = getattr(event, "duration", None)
        if pool is None or seconds is None or active is None or active.instruments is None:
            return
        try:
            instruments, recorder = pool.waits
            if instruments is not active.instruments:
                family = active.instruments.db_connection_wait_time
                recorder = family.cell(pool.attributes, (pool.attributes[attr.POOL_NAME], ""))
                pool.waits = (active.instruments, recorder)
            recorder.record(seconds)
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        if _events_count:
            self._count(event.address, idle=1, used=-1)

    def snapshot(self) -> list[_Pool]:
        with self._lock:
            return list(self._pools.values())


class _PolledPools:
    """The pools of this process, read when a reader collects."""

    def __init__(self) -> None:
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def found(self, pool: Any) -> None:
        """pymongo made ``pool`` (called inside pymongo's pool constructor: never raises)."""
        active = state.current
        if active is None or not _gauges_polled:
            return
        try:
            with self._lock:
                self._pools.add(pool)
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def reset(self) -> None:
        with self._lock:
            self._pools = weakref.WeakSet()

    def snapshot(self) -> list[_Pool]:
        """Each server address's pools, their counts added up."""
        with self._lock:
            pools = list(self._pools)
        by_address: dict[Any, _Pool] = {}
        for pool in pools:
            counts = pymongo_driver.pool_counts(pool)
            if counts is None:  # closed
                continue
            summed = by_address.get(pool.address)
            if summed is None:
                summed = by_address[pool.address] = _Pool(_pool_name(pool.address))
            summed.idle += counts.idle
            summed.used += counts.used
            summed.pending += counts.pending
            summed.limits.append(counts.limit)
        return list(by_address.values())


def _pool_name(address: Any) -> str:
    if isinstance(address, tuple) and len(address) == 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _snapshot() -> list[_Pool]:
    """Every pool's counts: read off the pools, else as the pool listener counted them."""
    if _gauges_polled:
        try:
            return POLLED.snapshot()
        except InternalsChanged as exc:
            warn_once(exc, "pool gauges stay empty until obs knows this pymongo")
            return []
    return EVENTS.snapshot() if _events_enabled else []


def observe_count(options: CallbackOptions) -> Iterable[Observation]:
    """``db.client.connection.count``: idle and used connections per pool."""
    for pool in _snapshot():
        name = pool.attributes[attr.POOL_NAME]
        yield Observation(max(pool.idle, 0), {attr.POOL_NAME: name, attr.CONNECTION_STATE: "idle"})
        yield Observation(max(pool.used, 0), {attr.POOL_NAME: name, attr.CONNECTION_STATE: "used"})


def observe_pending(options: CallbackOptions) -> Iterable[Observation]:
    """``db.client.connection.pending_requests``: checkouts waiting for a connection."""
    for pool in _snapshot():
        yield Observation(pool.pending, pool.attributes)


def observe_limit(options: CallbackOptions) -> Iterable[Observation]:
    """``db.client.connection.max``: the pools' size limits, added up."""
    for pool in _snapshot():
        yield Observation(sum(pool.limits), pool.attributes)


POLLED = _PolledPools()
EVENTS = _PoolListener()
POOL_OBSERVERS: dict[catalog.Metric, Callable[[CallbackOptions], Iterable[Observation]]] = {
    catalog.DB_CLIENT_CONNECTION_COUNT: observe_count,
    catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS: observe_pending,
    catalog.DB_CLIENT_CONNECTION_MAX: observe_limit,
}

_gauges_polled = False  # POLLED sees every pool made since install()
_events_enabled = False  # EVENTS times (pymongo publishes pool events to it)
_events_count = False  # EVENTS counts too: the gauges' source when the pools cannot be read
_listener_registered = False


def install(timings: bool) -> str:
    """Start the gauges (read off the pools) and, with ``timings``, the pool listener;
    what runs, in words. Only pools made after this call are seen (clients made later)."""
    global _gauges_polled, _events_enabled, _events_count, _listener_registered
    try:
        pymongo_driver.track_pools(POLLED.found)
        _gauges_polled = True
    except InternalsChanged as exc:
        warn_once(exc, "pool gauges come from pymongo's pool events (three per command)")
        _gauges_polled = False
    _events_enabled = timings or not _gauges_polled
    _events_count = not _gauges_polled
    if _events_enabled and not _listener_registered:
        monitoring.register(EVENTS)  # pymongo cannot unregister: it stays, switched off
        _listener_registered = True
    if not _events_enabled:
        return "pool gauges"
    return "pool gauges and timings" if _gauges_polled else "pool listener"


def uninstall() -> None:
    """Stop both (the pool listener stays registered with pymongo, switched off)."""
    global _gauges_polled, _events_enabled, _events_count
    _gauges_polled = _events_enabled = _events_count = False
    pymongo_driver.untrack_pools()
    reset()


def reset() -> None:
    """Forget every pool (after shutdown)."""
    POLLED.reset()
    EVENTS.reset()


def after_fork() -> None:
    """In a forked child: the pool listener's counts are the parent's; the pools read off
    are the child's own copies (:func:`obs.internals.pymongo_driver.pool_counts`)."""
    EVENTS.reset()
