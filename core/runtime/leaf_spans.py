"""Leaf spans: spans that never become the current span and have no children (a Mongo
command's), recorded without the SDK's span object when nothing needs it.

The SDK's ``Tracer.start_span`` and ``Span.end`` validate and copy the attributes into a
locked bounded mapping, take the span's lock to start, set, end it, and fan out to every
processor twice: about 40 us of a sampled Mongo command's request-thread CPU on the
reference machine (``make bench BENCH=pymongo_overhead``). A leaf span needs none of it
while obs's own provider has obs's batch processor as its only processor and no span
limit applies: the span is sampled exactly as the SDK samples it (same sampler, id
generator, parent, flags and trace state), its attributes are a plain dict, and its end
hands one :class:`~opentelemetry.sdk.trace.ReadableSpan` to that processor, which is what
the SDK would hand it. Whenever another processor is registered (the application added
one to obs's provider) or the provider is the application's, :meth:`LeafTracer.leaf`
starts an ordinary SDK span, so every processor sees every span.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> tracer = LeafTracer(TracerProvider(), "obs", "0.1.0")
    >>> span = tracer.leaf("find users", {"db.namespace": "app"})
    >>> span.is_recording()
    True
    >>> span.end()
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from obs.internals import InternalsChanged, otel_sdk, warn_once

# Leaf spans set at most these attributes: the semantic-convention ones of a command, its
# statement, its error type and status code.
_MOST_ATTRIBUTES = 16
_RANDOM_TRACE_ID = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)  # W3C trace context level 2
_UNSET = Status(StatusCode.UNSET)


class LeafSpan:
    """A recording leaf span: the few methods instrumentation hooks call on a span."""

    __slots__ = ("_owner", "attributes", "context", "name", "parent", "start", "status")

    def __init__(
        self,
        owner: LeafTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
    ) -> None:
        self._owner = owner
        self.name = name
        self.context = context
        self.parent = parent
        self.attributes = attributes
        self.status = _UNSET
        self.start = time.time_ns()

    def is_recording(self) -> bool:
        return True

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_status(self, status: Status) -> None:
        self.status = status

    def end(self) -> None:
        """Hand the finished span to obs's processor."""
        owner = self._owner
        owner.processor.on_end(
            ReadableSpan(
                name=self.name,
                context=self.context,
                parent=self.parent,
                resource=owner.provider.resource,
                attributes=self.attributes,
                kind=SpanKind.CLIENT,
                status=self.status,
                start_time=self.start,
                end_time=time.time_ns(),
                instrumentation_scope=owner.scope,
            )
        )


class LeafTracer(trace.Tracer):
    """The tracer obs's hooks record through: an SDK tracer of ``provider``, plus
    :meth:`leaf` for client spans without children.

    ``processor`` is obs's own (its provider's only processor); None when the provider is
    the application's, which keeps every span on the SDK's path.
    """

    def __init__(
        self, provider: Any, name: str, version: str, processor: Any | None = None
    ) -> None:
        self.provider = provider
        self.processor: Any = processor  # set whenever a LeafSpan exists
        self.scope = InstrumentationScope(name, version)
        self.sdk = provider.get_tracer(name, version)
        self._alone: tuple[Any, ...] | None = None
        if processor is not None:
            try:
                limits = otel_sdk.span_limits(provider)
                processors = otel_sdk.span_processors(provider)
            except InternalsChanged as exc:
                warn_once(exc, "obs's spans take the SDK's (slower) path")
                return
            unlimited = limits.max_span_attribute_length is None and (
                limits.max_span_attributes is None or limits.max_span_attributes >= _MOST_ATTRIBUTES
            )
            if unlimited and processors == (processor,):
                self._alone = processors

    def leaf(self, name: str, attributes: Mapping[str, Any]) -> Any:
        """Start a client span that will have no children and never be current; None when
        it is not sampled. The result has ``is_recording``, ``set_attribute(s)``,
        ``set_status`` and ``end``."""
        provider = self.provider
        # A processor added since (a new tuple) sends every span through the SDK's path.
        if self._alone is None or otel_sdk.span_processors(provider) is not self._alone:
            return self.sdk.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        # What the SDK's Tracer.start_span decides, in the same order.
        parent: SpanContext | None = trace.get_current_span().get_span_context()
        ids = provider.id_generator
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            random = parent.trace_flags & _RANDOM_TRACE_ID
        else:
            parent = None
            trace_id = ids.generate_trace_id()
            random = _RANDOM_TRACE_ID and ids.is_trace_id_random()
        result = provider.sampler.should_sample(
            None, trace_id, name, SpanKind.CLIENT, attributes, ()
        )
        if not result.decision.is_recording():
            return None
        flags = TraceFlags.SAMPLED if result.decision.is_sampled() else TraceFlags.DEFAULT
        if random:
            flags |= _RANDOM_TRACE_ID
        context = SpanContext(
            trace_id,
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(flags),
            trace_state=result.trace_state,
        )
        return LeafSpan(self, name, context, parent, dict(result.attributes))

    # -- the Tracer API, by the SDK's tracer ------------------------------------------------

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        span: trace.Span = self.sdk.start_span(*args, **kwargs)
        return span

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self.sdk.start_as_current_span(*args, **kwargs)
