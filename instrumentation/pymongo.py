"""pymongo: command and pool listeners, registered once per process, for sync and async
clients alike (pymongo's global listeners reach ``MongoClient`` and ``AsyncMongoClient``
created after ``obs.init()``).

Per command: ``db.client.operation.duration`` with the semantic-convention attributes (plus
``error.type`` on failure), query-smell counters, and a span ``{operation} {collection}``
whose masked ``db.query.text`` is built only when the span is recording. Per pool:
connections in use and idle, pending checkouts and the pool size limit (observed, so a
checkout costs a locked integer update), checkout wait time and connection create time.

The hot path reads the command in place: no copy, no serialisation unless a sampled span
asks for its text. Attribute dicts are built once per (database, collection, operation,
server) and reused.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Status, StatusCode
from pymongo import monitoring

from obs import catalog
from obs.catalog import attr
from obs.instrumentation import query_smells
from obs.mongo_queries.commands import collection_of
from obs.mongo_queries.masking import masked_text
from obs.runtime import state

FEATURE = "pymongo"

# Handshake and authentication: pymongo redacts their bodies and they are not user work.
_IGNORED = frozenset(
    {
        "hello",
        "ismaster",
        "isMaster",
        "saslStart",
        "saslContinue",
        "authenticate",
        "getnonce",
        "copydbgetnonce",
        "copydbsaslstart",
    }
)
_MAX_PENDING = 50_000  # started commands whose end never came; beyond this, start over
_MAX_ATTRIBUTE_SETS = 20_000


class _CommandListener(monitoring.CommandListener):
    def __init__(self) -> None:
        # request id -> (key, attributes, duration cell, span) until the command ends
        self._pending: dict[int, tuple[tuple[Any, ...], dict[str, Any], Any, Any]] = {}
        # (database, collection, operation, server) -> (attributes, duration cell, span name)
        self._bound: dict[tuple[Any, ...], tuple[dict[str, Any], Any, str]] = {}

    def reset(self) -> None:
        """Forget in-flight commands and bound cells (after shutdown or fork)."""
        self._pending = {}
        self._bound = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        active = state.current
        if active is None or not _enabled:
            return
        try:
            name = event.command_name
            if name in _IGNORED:
                return
            command = event.command
            key = (event.database_name, collection_of(name, command), name, event.connection_id)
            bound = self._bound.get(key)
            if bound is None:
                bound = self._bind(active, key)
            attributes, duration, span_name = bound
            tracer = active.tracer
            span = None if tracer is None else tracer.leaf(span_name, attributes)
            pending = self._pending
            if len(pending) >= _MAX_PENDING:
                pending.clear()
            # Pending before anything else can fail, so the span always gets its end.
            pending[event.request_id] = (key, attributes, duration, span)
            if (
                span is not None
                and span.is_recording()
                and active.settings.mongo_statement == "masked"
            ):
                span.set_attribute("db.query.text", masked_text(command))
            if name in query_smells.FILTERED and active.instruments is not None:
                found = query_smells.smells(
                    name, command, skip_threshold=active.settings.mongo_skip_threshold
                )
                for smell in found:
                    active.instruments.query_smells.bound(
                        (*key, smell), _smell_attributes, attributes, smell
                    ).add(1)
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def _bind(self, active: state.Active, key: tuple[Any, ...]) -> tuple[dict[str, Any], Any, str]:
        attributes = _attributes(*key)
        duration = None
        if active.instruments is not None:
            duration = active.instruments.db_operation_duration.cell(attributes, key)
        _, collection, name, _ = key
        bound = (attributes, duration, f"{name} {collection}" if collection else name)
        if len(self._bound) < _MAX_ATTRIBUTE_SETS:
            self._bound[key] = bound
        return bound

    def _take(self, request_id: int) -> tuple[state.Active, tuple[Any, ...]] | None:
        """The running obs and the started command's entry, or None."""
        entry = self._pending.pop(request_id, None)
        active = state.current
        return None if entry is None or active is None else (active, entry)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        taken = self._take(event.request_id)
        if taken is None:
            return
        active, entry = taken
        try:
            key, _, duration, span = entry
            # A write that failed per document still "succeeds" (ok: 1, writeErrors): the
            # application gets an exception (DuplicateKeyError, ...), so it is an error here.
            error = _write_error(event.reply) if key[2] in _WRITES else None
            if error is not None:
                code = _status_code(_first_write_error(event.reply))
                self._end_failed(active, entry, error, event.duration_micros, code)
                return
            if duration is not None:
                duration.record(event.duration_micros / 1e6)
            if span is not None:
                span.end()
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        taken = self._take(event.request_id)
        if taken is None:
            return
        active, entry = taken
        try:
            self._end_failed(
                active,
                entry,
                _error_type(event.failure),
                event.duration_micros,
                _status_code(event.failure),
            )
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def _end_failed(
        self,
        active: state.Active,
        entry: tuple[Any, ...],
        error: str,
        micros: int,
        code: str | None = None,
    ) -> None:
        key, attributes, _, span = entry
        failed = {attr.ERROR_TYPE: error}
        if code is not None:
            failed[attr.DB_RESPONSE_STATUS_CODE] = code
        if active.instruments is not None:
            active.instruments.db_operation_duration.cell(
                {**attributes, **failed}, (*key, error, code)
            ).record(micros / 1e6)
        if span is not None:
            span.set_attributes(failed)
            span.set_status(Status(StatusCode.ERROR, error))
            span.end()


def _smell_attributes(attributes: dict[str, Any], smell: str) -> dict[str, Any]:
    return {
        attr.DB_NAMESPACE: attributes[attr.DB_NAMESPACE],
        attr.DB_COLLECTION_NAME: attributes.get(attr.DB_COLLECTION_NAME, ""),
        attr.DB_OPERATION_NAME: attributes[attr.DB_OPERATION_NAME],
        attr.QUERY_SMELL: smell,
    }


def _attributes(database: str, collection: str | None, name: str, address: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        attr.DB_SYSTEM_NAME: "mongodb",
        attr.DB_NAMESPACE: database,
        attr.DB_OPERATION_NAME: name,
    }
    if collection:
        attributes[attr.DB_COLLECTION_NAME] = collection
    if isinstance(address, tuple) and len(address) == 2:
        attributes[attr.SERVER_ADDRESS] = str(address[0])
        attributes[attr.SERVER_PORT] = int(address[1])
    return attributes


_WRITES = frozenset({"insert", "update", "delete"})
# Codes whose writeErrors entries often come without a codeName (mongod's error_codes.yml).
_WRITE_ERROR_NAMES = {
    11000: "DuplicateKey",
    121: "DocumentValidationFailure",
    112: "WriteConflict",
    50: "MaxTimeMSExpired",
}


def _first_write_error(reply: Any) -> Any:
    """The first writeErrors entry of a write reply, else its writeConcernError."""
    if not isinstance(reply, Mapping):
        return None
    errors = reply.get("writeErrors")
    return errors[0] if isinstance(errors, list) and errors else reply.get("writeConcernError")


def _status_code(failure: Any) -> str | None:
    """The server's error code as text (``db.response.status_code``); None without one."""
    code = failure.get("code") if isinstance(failure, Mapping) else None
    return str(code) if isinstance(code, int) and not isinstance(code, bool) else None


def _write_error(reply: Any) -> str | None:
    """The error type of a write reply with writeErrors or a writeConcernError, else None."""
    found = _first_write_error(reply)
    if not isinstance(found, Mapping):
        return None
    name = found.get("codeName")
    if isinstance(name, str) and name:
        return name
    code = found.get("code")
    return _WRITE_ERROR_NAMES.get(code, str(code)) if isinstance(code, int) else "_OTHER"


def _error_type(failure: Any) -> str:
    """Server errors carry a codeName; network errors the driver's exception class."""
    if isinstance(failure, Mapping):
        for key in ("codeName", "errtype"):
            value = failure.get(key)
            if isinstance(value, str) and value:
                return value
        code = failure.get("code")
        if code is not None:
            return str(code)
    return "_OTHER"


# --- pool ---------------------------------------------------------------------------------


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
        """Apply one change to a pool's counts; None while obs is off."""
        active = state.current
        if active is None or not _pool_enabled:
            return None
        try:
            pool = self._pools.get(address)
            if pool is None:  # setdefault is atomic: a racing creator's pool is dropped
                pool = self._pools.setdefault(address, _Pool(_pool_name(address)))
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
        self._count(event.address, idle=1, used=-1)

    # -- observed at export time ---------------------------------------------------------

    def _snapshot(self) -> list[_Pool]:
        with self._lock:
            return list(self._pools.values())

    def observe_count(self, options: CallbackOptions) -> Iterable[Observation]:
        for pool in self._snapshot():
            name = pool.attributes[attr.POOL_NAME]
            yield Observation(
                max(pool.idle, 0), {attr.POOL_NAME: name, attr.CONNECTION_STATE: "idle"}
            )
            yield Observation(
                max(pool.used, 0), {attr.POOL_NAME: name, attr.CONNECTION_STATE: "used"}
            )

    def observe_pending(self, options: CallbackOptions) -> Iterable[Observation]:
        for pool in self._snapshot():
            yield Observation(pool.pending, pool.attributes)

    def observe_limit(self, options: CallbackOptions) -> Iterable[Observation]:
        for pool in self._snapshot():
            yield Observation(sum(pool.limits), pool.attributes)


def _pool_name(address: Any) -> str:
    if isinstance(address, tuple) and len(address) == 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


COMMANDS = _CommandListener()
POOLS = _PoolListener()
POOL_OBSERVERS = {
    catalog.DB_CLIENT_CONNECTION_COUNT: POOLS.observe_count,
    catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS: POOLS.observe_pending,
    catalog.DB_CLIENT_CONNECTION_MAX: POOLS.observe_limit,
}

_registered: list[Any] = []  # the listeners registered with pymongo in this process
_enabled = False
_pool_enabled = False


def install(pool: bool = True) -> None:
    """Register the listeners (once per process) and switch them on; ``pool`` False leaves
    the pool listener out (pymongo then builds no pool events: +20 to +34 us instead of +46
    to +52 us per command in two runs of ``make bench BENCH=pymongo_overhead``).

    Only clients created after this call see the listeners: pymongo copies the global
    listener list when a client is made.
    """
    global _enabled, _pool_enabled
    if not _registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork)
    for listener in (COMMANDS, POOLS) if pool else (COMMANDS,):
        if listener not in _registered:
            monitoring.register(listener)
            _registered.append(listener)
    _enabled = True
    _pool_enabled = pool


def uninstall() -> None:
    """Switch the listeners off (pymongo has no way to unregister a global listener)."""
    global _enabled, _pool_enabled
    _enabled = _pool_enabled = False
    COMMANDS.reset()
    POOLS.reset()


def _after_fork() -> None:
    # A forked child shares no connections with its parent: the parent's in-flight
    # commands and pool counts mean nothing there.
    COMMANDS.reset()
    POOLS.reset()
