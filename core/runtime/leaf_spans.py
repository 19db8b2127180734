"""Leaf spans: spans that never become the current span and have no children (a Mongo
command's), recorded without the SDK's span object when nothing needs it.

The SDK's ``Tracer.start_span`` and ``Span.end`` validate and copy the attributes into a
locked bounded mapping, take the span's lock to start, set, end it, and fan out to every
processor twice: about 40 us of a sampled Mongo command's request-thread CPU on the
reference machine (``make bench BENCH=pymongo_overhead``). A leaf span needs none of it
while obs's own provider has obs's batch processor as its only processor and no span
limit applies: the span is sampled exactly as the SDK samples it (same sampler, id
generator, parent, flags and trace state; the standard samplers' decisions are worked out
without building the SDK's sampling result, :func:`sampling_rule`), its attributes are the
caller's (never copied: it must not change them) plus a dict of what is set on the span,
and its end puts the span itself in the batch processor's queue, where obs's
exporter reads what it would read of a :class:`~opentelemetry.sdk.trace.ReadableSpan`
(any other processor of obs's is handed a ReadableSpan through ``on_end``). Whenever
another processor is registered (the application added one to obs's provider) or the
provider is the application's, :meth:`LeafTracer.leaf` starts an ordinary SDK span, so
every processor sees every span.

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
from collections.abc import Callable, Mapping
from random import getrandbits
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    TraceIdRatioBased,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from obs.internals import InternalsChanged, otel_sdk, warn_once

# Leaf spans set at most these attributes: the semantic-convention ones of a command, its
# statement, its error type and status code.
_MOST_ATTRIBUTES = 16
_RANDOM_TRACE_ID = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)  # W3C trace context level 2
_UNSET = Status(StatusCode.UNSET)
_TRACE_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT
_EVERY_TRACE = _TRACE_ID_LIMIT + 1  # a bound no trace id reaches: ALWAYS_ON as a ratio


class LeafSpan:
    """A recording leaf span: the few methods instrumentation hooks call on a span, and,
    once ended, what an exporter reads of a
    :class:`~opentelemetry.sdk.trace.ReadableSpan` (obs's own exporter is given it as it
    is; its span context is built only if something asks for it)."""

    __slots__ = (
        "_context",
        "_owner",
        "end_time",
        "extra_attributes",
        "flags",
        "name",
        "parent",
        "shared_attributes",
        "span_id",
        "start_time",
        "status",
        "trace_id",
        "trace_state",
    )
    kind = SpanKind.CLIENT
    # obs's span encoder reads the ids and the two parts of the attributes directly
    # (obs.export.otlp_spans.SpanEncoder)
    otlp_parts = True
    events: tuple[Any, ...] = ()
    links: tuple[Any, ...] = ()
    dropped_attributes = dropped_events = dropped_links = 0

    def __init__(  # noqa: PLR0917 (made once per sampled command: keywords cost more)
        self,
        owner: LeafTracer,
        name: str,
        trace_id: int,
        span_id: int,
        flags: int,
        trace_state: TraceState | None,
        parent: SpanContext | None,
        attributes: Mapping[str, Any],
    ) -> None:
        self._owner = owner
        self.name = name
        # what its span context will hold
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.trace_state = trace_state
        self._context: SpanContext | None = None
        self.parent = parent
        # The attributes the span started with are shared by every span of the command's
        # kind and never changed (the listener's bound attributes): what is set on the span
        # goes to extra_attributes, so nothing is copied per span and the encoder can keep
        # the shared part's encoding.
        self.shared_attributes = attributes
        self.extra_attributes: dict[str, Any] = {}
        self.status = _UNSET
        self.start_time = time.time_ns()
        self.end_time: int | None = None

    def is_recording(self) -> bool:
        return True

    def set_attribute(self, key: str, value: Any) -> None:
        self.extra_attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.extra_attributes.update(attributes)

    @property
    def attributes(self) -> dict[str, Any]:
        """Every attribute, as the SDK would hold them (a later value of a key keeps the
        key's first place)."""
        return {**self.shared_attributes, **self.extra_attributes}

    def set_status(self, status: Status) -> None:
        self.status = status

    def end(self) -> None:
        """Hand the finished span to obs's processor."""
        self.end_time = time.time_ns()
        self._owner.hand_over(self)

    # -- what exporters read of an ended span -----------------------------------------------

    @property
    def context(self) -> SpanContext:
        if self._context is None:
            self._context = SpanContext(
                self.trace_id,
                self.span_id,
                is_remote=False,
                trace_flags=TraceFlags(self.flags),
                trace_state=self.trace_state,
            )
        return self._context

    def get_span_context(self) -> SpanContext:
        return self.context

    @property
    def resource(self) -> Any:
        return self._owner.provider.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self._owner.scope

    def readable(self) -> ReadableSpan:
        """The SDK's span object for this span."""
        return ReadableSpan(
            name=self.name,
            context=self.context,
            parent=self.parent,
            resource=self.resource,
            attributes=self.attributes,
            kind=SpanKind.CLIENT,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            instrumentation_scope=self.instrumentation_scope,
        )


def _sampling_bound(sampler: Any) -> int | None:
    """The trace-id bound under which ``sampler`` samples a root span, for the SDK's
    ALWAYS_ON, ALWAYS_OFF and TraceIdRatioBased exactly; None for any other sampler."""
    if sampler is ALWAYS_ON:
        return _EVERY_TRACE
    if sampler is ALWAYS_OFF:
        return 0
    if type(sampler) is TraceIdRatioBased:
        return int(sampler.bound)
    return None


def sampling_rule(sampler: Any) -> tuple[bool, int] | None:
    """(parent-based, root bound) when ``sampler`` decides as the SDK's standard samplers
    do (``OTEL_TRACES_SAMPLER``'s six), so a leaf span can be decided without building the
    SDK's sampling result; None otherwise (the sampler's own ``should_sample`` is asked).

    A parent-based rule follows a valid parent's sampled flag, remote or local, as
    ``ParentBased``'s default delegates do; otherwise the trace id is compared with the
    bound (``TraceIdRatioBased``'s test; ALWAYS_ON and ALWAYS_OFF as the bounds that always
    and never pass). Equality with the SDK's decisions is a property test.

    Example:
        >>> from opentelemetry.sdk.trace.sampling import DEFAULT_ON
        >>> sampling_rule(DEFAULT_ON)
        (True, 18446744073709551616)
    """
    bound = _sampling_bound(sampler)
    if bound is not None:
        return False, bound
    if type(sampler) is not ParentBased:
        return None
    try:
        root, *delegates = otel_sdk.parent_based_delegates(sampler)
    except InternalsChanged as exc:
        warn_once(exc, "obs's spans ask the sampler for every decision (slower)")
        return None
    bound = _sampling_bound(root)
    if bound is None or delegates != [ALWAYS_ON, ALWAYS_OFF, ALWAYS_ON, ALWAYS_OFF]:
        return None
    return True, bound


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
        self._sampler = provider.sampler
        self._rule = sampling_rule(self._sampler)
        # ALWAYS_OFF: no span is sampled, whatever its parent or processors
        self._never = self._rule == (False, 0)
        self.hand_over = self._on_end
        try:
            self._current_span: Callable[[], Any] = otel_sdk.current_span_reader()
        except InternalsChanged as exc:
            warn_once(exc, "obs's spans find their parent the API's (slower) way")
            self._current_span = trace.get_current_span
        if processor is not None:
            try:
                limits = otel_sdk.span_limits(provider)
                processors = otel_sdk.span_processors(provider)
                self._processors_now = otel_sdk.span_processors_reader(provider)
            except InternalsChanged as exc:
                warn_once(exc, "obs's spans take the SDK's (slower) path")
                return
            unlimited = limits.max_span_attribute_length is None and (
                limits.max_span_attributes is None or limits.max_span_attributes >= _MOST_ATTRIBUTES
            )
            if unlimited and processors == (processor,):
                self._alone = processors
                self.hand_over = self._queue_of(processor)

    def _queue_of(self, processor: Any) -> Any:
        """How an ended leaf span reaches ``processor``: a batch processor's queue takes the
        span as it is (its exporter is obs's, which reads what a ReadableSpan offers);
        any other processor gets a ReadableSpan through ``on_end``."""
        if type(processor) is not BatchSpanProcessor:
            return self._on_end
        try:
            return otel_sdk.batch_emit(processor)
        except InternalsChanged as exc:
            warn_once(exc, "obs's spans are copied once more on their way out")
            return self._on_end

    def _on_end(self, span: LeafSpan) -> None:
        if span.flags & TraceFlags.SAMPLED:
            self.processor.on_end(span.readable())

    def leaf(self, name: str, attributes: Mapping[str, Any]) -> Any:
        """Start a client span that will have no children and never be current; None when
        it is not sampled. The result has ``is_recording``, ``set_attribute(s)``,
        ``set_status`` and ``end``."""
        provider = self.provider
        if self._never and provider.sampler is self._sampler:
            return None  # what the SDK's start_span would make is a non-recording span
        # A processor added since (a new tuple) sends every span through the SDK's path.
        if self._alone is None or self._processors_now() is not self._alone:
            return self.sdk.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        # What the SDK's Tracer.start_span decides, in the same order.
        current = self._current_span()
        try:
            parent: SpanContext | None = None if current is None else current.get_span_context()
        except AttributeError:  # not a span: the API would take it for no span at all
            parent = None
        ids = provider.id_generator
        rule = self._rule if provider.sampler is self._sampler else None
        # The SDK's default generator, inlined: its methods are getrandbits until non-zero.
        # Its ids are random, so an id it would have drawn for a span that is dropped
        # (the SDK draws them first) need not be drawn; any other generator is asked as the
        # SDK asks it, in the same order.
        fast_ids = type(ids) is RandomIdGenerator
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            random = parent.trace_flags & _RANDOM_TRACE_ID
        elif fast_ids:
            parent = None
            if rule is not None and rule[1] == 0:
                return None  # dropped at the root whatever its trace id
            trace_id = getrandbits(128) or ids.generate_trace_id()
            random = _RANDOM_TRACE_ID
        else:
            parent = None
            trace_id = ids.generate_trace_id()
            random = _RANDOM_TRACE_ID and ids.is_trace_id_random()
        if rule is not None:
            parent_based, bound = rule
            if parent_based and parent is not None:
                sampled = parent.trace_flags & TraceFlags.SAMPLED
            else:
                sampled = (trace_id & _TRACE_ID_LIMIT) < bound
            if not sampled:
                if not fast_ids:
                    ids.generate_span_id()  # the SDK takes one for a dropped span too
                return None
            span_id = (fast_ids and getrandbits(64)) or ids.generate_span_id()
            flags = TraceFlags.SAMPLED
            trace_state = None if parent is None else parent.trace_state
            recorded = attributes
        else:
            result = provider.sampler.should_sample(
                None, trace_id, name, SpanKind.CLIENT, attributes, ()
            )
            span_id = ids.generate_span_id()
            if not result.decision.is_recording():
                return None
            flags = TraceFlags.SAMPLED if result.decision.is_sampled() else TraceFlags.DEFAULT
            trace_state = result.trace_state
            recorded = dict(result.attributes or {})
        if random:
            flags |= _RANDOM_TRACE_ID
        return LeafSpan(self, name, trace_id, span_id, flags, trace_state, parent, recorded)

    # -- the Tracer API, by the SDK's tracer ------------------------------------------------

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        span: trace.Span = self.sdk.start_span(*args, **kwargs)
        return span

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self.sdk.start_as_current_span(*args, **kwargs)
