"""pymongo: the command listener, registered once per process, for sync and async
clients alike (pymongo's global listeners reach ``MongoClient`` and ``AsyncMongoClient``
created after ``obs.init()``); the pools are :mod:`obs.instrumentation.pymongo_pool`'s.

Per command: ``db.client.operation.duration`` with the semantic-convention attributes (plus
``error.type`` on failure), query-smell counters, and a span ``{operation} {collection}``
whose masked ``db.query.text`` is built only when the span is recording.

The hot path reads the command in place: no copy, no serialisation unless a sampled span
asks for its text. Attribute dicts are built once per (database, collection, operation,
server) and reused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Status, StatusCode
from pymongo import monitoring

from obs.catalog import attr
from obs.instrumentation import pymongo_pool, query_smells
from obs.internals import InternalsChanged, pymongo_driver, warn_once
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


class _Bound:
    """What every command of one (database, collection, operation, server) shares, worked
    out at its first command."""

    __slots__ = (
        "alone",
        "attributes",
        "duration",
        "key",
        "skip_threshold",
        "span_name",
        "statement",
        "write",
    )

    def __init__(self, active: state.Active, key: tuple[Any, ...]) -> None:
        _, collection, name, _ = key
        self.key = key
        self.attributes = _attributes(*key)
        instruments = active.instruments
        self.duration = (
            None
            if instruments is None
            else instruments.db_operation_duration.cell(self.attributes, key)
        )
        self.span_name = f"{name} {collection}" if collection else name
        self.statement = active.settings.mongo_statement == "masked"
        # None: no query smells to look for (no metrics, or a command without a filter)
        self.skip_threshold = (
            active.settings.mongo_skip_threshold
            if instruments is not None and name in query_smells.FILTERED
            else None
        )
        self.write = name in _WRITES
        # what a command without a span is pending as: made once, not per command
        self.alone = (self, None)


class _CommandListener(monitoring.CommandListener):
    def __init__(self) -> None:
        # request id -> (its _Bound, its span or None), until it ends
        self._pending: dict[int, tuple[_Bound, Any]] = {}
        # (database, collection, operation, server) -> its _Bound
        self._bound: dict[tuple[Any, ...], _Bound] = {}
        self.read_events(pymongo_driver.public_event_readers())

    def read_events(self, readers: pymongo_driver.EventReaders) -> None:
        """Read the events' fields with ``readers`` (obs.internals.pymongo_driver)."""
        self._read_started, self._read_succeeded, self._read_failed = readers

    def reset(self) -> None:
        """Forget in-flight commands and bound cells (after shutdown or fork)."""
        self._pending = {}
        self._bound = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        # Every line here runs per command: lookups are kept to what is needed, in the order
        # that leaves earliest (the benchmark counts each microsecond).
        if not _enabled:
            return
        active = state.current
        if active is None:
            return
        try:
            name, command, database, address, request_id = self._read_started(event)
            if name in _IGNORED:
                return
            key = (database, collection_of(name, command), name, address)
            bound = self._bound.get(key)
            if bound is None:
                bound = _Bound(active, key)
                if len(self._bound) < _MAX_ATTRIBUTE_SETS:
                    self._bound[key] = bound
            pending = self._pending
            if len(pending) >= _MAX_PENDING:
                pending.clear()
            tracer = active.tracer
            if tracer is None:
                pending[request_id] = bound.alone
            else:
                span = tracer.leaf(bound.span_name, bound.attributes)
                # Pending before anything else can fail, so the span always gets its end.
                pending[request_id] = bound.alone if span is None else (bound, span)
                if span is not None and bound.statement and span.is_recording():
                    span.set_attribute("db.query.text", masked_text(command))
            threshold = bound.skip_threshold
            if threshold is not None:
                found = query_smells.smells(name, command, threshold)
                if found:
                    self._count_smells(active, bound, found)
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def _count_smells(self, active: state.Active, bound: _Bound, found: tuple[str, ...]) -> None:
        if active.instruments is not None:
            for smell in found:
                active.instruments.query_smells.bound(
                    (*bound.key, smell), _smell_attributes, bound.attributes, smell
                ).add(1)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        request_id, micros, reply = self._read_succeeded(event)
        entry = self._pending.pop(request_id, None)
        active = state.current
        if entry is None or active is None:
            return
        bound, span = entry
        try:
            # A write that failed per document still "succeeds" (ok: 1, writeErrors): the
            # application gets an exception (DuplicateKeyError, ...), so it is an error here.
            if bound.write:
                error = _write_error(reply)
                if error is not None:
                    code = _status_code(_first_write_error(reply))
                    self._end_failed(active, bound, span, error, micros=micros, code=code)
                    return
            duration = bound.duration
            if duration is not None:
                duration.record(micros / 1e6)
            if span is not None:
                span.end()
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        request_id, micros, failure = self._read_failed(event)
        entry = self._pending.pop(request_id, None)
        active = state.current
        if entry is None or active is None:
            return
        bound, span = entry
        try:
            self._end_failed(
                active,
                bound,
                span,
                _error_type(failure),
                micros=micros,
                code=_status_code(failure),
            )
        except Exception as exc:
            active.failures.record(FEATURE, exc)

    def _end_failed(
        self,
        active: state.Active,
        bound: _Bound,
        span: Any,
        error: str,
        *,
        micros: int,
        code: str | None,
    ) -> None:
        failed = {attr.ERROR_TYPE: error}
        if code is not None:
            failed[attr.DB_RESPONSE_STATUS_CODE] = code
        if active.instruments is not None:
            active.instruments.db_operation_duration.cell(
                {**bound.attributes, **failed}, (*bound.key, error, code)
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


COMMANDS = _CommandListener()

_registered = False  # the command listener is registered with pymongo in this process
_enabled = False


def install(pool: bool = True, pool_timings: bool = False) -> str:
    """Register the command listener (once per process) and switch it on, with the pool
    gauges when ``pool`` and pool timings when ``pool_timings`` too
    (:mod:`obs.instrumentation.pymongo_pool`); what runs, in words.

    Only clients created after this call are seen: pymongo copies the global listener
    list when a client is made.
    """
    global _enabled, _registered
    if not _registered:
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork)
        try:
            COMMANDS.read_events(pymongo_driver.event_readers())
        except InternalsChanged as exc:
            warn_once(exc, "the command listener reads events by their (slower) properties")
        monitoring.register(COMMANDS)
        _registered = True
    _enabled = True
    if not pool:
        return "command listener"
    return f"command listener, {pymongo_pool.install(timings=pool_timings)}"


def uninstall() -> None:
    """Switch the listeners off (pymongo has no way to unregister a global listener)."""
    global _enabled
    _enabled = False
    COMMANDS.reset()
    pymongo_pool.uninstall()


def _after_fork() -> None:
    # A forked child shares no connections with its parent: the parent's in-flight
    # commands and pool counts mean nothing there.
    COMMANDS.reset()
    pymongo_pool.after_fork()
