"""Exceptions on spans without values: what OpenTelemetry's ``record_exception`` would
export, scrubbed.

The SDK's ``Span.record_exception`` exports ``str(exc)`` and the formatted traceback: a job
that hits a duplicate key would export the key, a ``BulkWriteError`` the document. obs
records the exceptions of its own spans (``obs.job``, the ``bullmq`` Worker) with
:func:`record_exception`, and the span exporter obs makes is wrapped in
:class:`ScrubbedSpanExporter`, so exceptions and status descriptions recorded by any other
instrumentation are scrubbed the same way before they leave the process.

``detail`` (setting ``exception_detail``): ``"scrubbed"`` keeps the type, the message and
the stack trace with :mod:`obs.privacy.scrub`'s rules applied; ``"type"`` keeps the type
only.

Example:
    >>> from pymongo.errors import DuplicateKeyError
    >>> error = DuplicateKeyError('E11000 duplicate key error dup key: { email: "a@b" }', 11000)
    >>> exception_attributes(error)["exception.message"]
    'E11000 duplicate key error dup key…'
    >>> exception_attributes(error, "type")
    {'exception.type': 'pymongo.errors.DuplicateKeyError'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Span, Status

from obs.privacy.scrub import (
    exception_message,
    exception_stacktrace,
    is_server_error,
    scrub_text,
    server_message,
)

Detail = Literal["scrubbed", "type"]
TYPE = "exception.type"
MESSAGE = "exception.message"
STACKTRACE = "exception.stacktrace"


def exception_type(exc: BaseException) -> str:
    """The exception's class as the SDK names it (``module.Qualname``, builtins bare)."""
    module = type(exc).__module__
    name = type(exc).__qualname__
    return f"{module}.{name}" if module and module != "builtins" else name


def exception_attributes(exc: BaseException, detail: Detail = "scrubbed") -> dict[str, str]:
    """The attributes of an ``exception`` span event for ``exc`` (see the module docstring)."""
    attributes = {TYPE: exception_type(exc)}
    if detail == "scrubbed":
        attributes[MESSAGE] = exception_message(exc)
        attributes[STACKTRACE] = exception_stacktrace(exc)
    return attributes


def record_exception(span: Span, exc: BaseException, detail: Detail = "scrubbed") -> None:
    """``span.record_exception(exc)``, scrubbed."""
    span.add_event("exception", exception_attributes(exc, detail))


def _server_error(attributes: Mapping[str, Any]) -> bool:
    module, _, name = str(attributes.get(TYPE, "")).rpartition(".")
    return is_server_error(module, name)


def _event_attributes(attributes: Mapping[str, Any], detail: Detail) -> dict[str, Any]:
    mongo = _server_error(attributes)
    out = dict(attributes)
    for key in (MESSAGE, STACKTRACE):
        value = out.get(key)
        if key not in out:
            continue
        if detail == "type" or not isinstance(value, str):
            del out[key]
        else:
            out[key] = server_message(value) if mongo and key == MESSAGE else scrub_text(value)
    return out


def _description(description: str | None, mongo: bool) -> str | None:
    """A status description, ``Type: message`` as instrumentations write it for errors."""
    if not description:
        return None
    name, separator, message = description.partition(": ")
    if mongo and separator:
        return f"{name}: {server_message(message)}"
    return server_message(description) if mongo else scrub_text(description)


def scrubbed_span(span: ReadableSpan, detail: Detail = "scrubbed") -> ReadableSpan:
    """``span`` with its exception events and status description scrubbed (the span
    itself when it has neither)."""
    events = span.events
    description = span.status.description
    if not description and (not events or not any(e.name == "exception" for e in events)):
        return span  # most spans: nothing to scrub, and no generator made to find that out
    scrubbed_events = [
        Event(e.name, _event_attributes(e.attributes or {}, detail), e.timestamp)
        if e.name == "exception"
        else e
        for e in events
    ]
    mongo = any(_server_error(e.attributes or {}) for e in events if e.name == "exception")
    status = Status(span.status.status_code, _description(description, mongo))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=scrubbed_events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbedSpanExporter(SpanExporter):
    """Exports through ``exporter`` every span passed through :func:`scrubbed_span`."""

    def __init__(self, exporter: SpanExporter, detail: Detail = "scrubbed") -> None:
        self.exporter = exporter
        self.detail: Detail = detail

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([scrubbed_span(s, self.detail) for s in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
