"""obs's span encoder writes the bytes the SDK's reference encoder writes, for any span."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceState

from obs.export import otlp_spans
from obs.export.otlp_spans import SpanEncoder, encode_spans_bytes
from obs.runtime.leaf_spans import LeafSpan, LeafTracer


def reference(spans: list[ReadableSpan]) -> bytes:
    encoded: bytes = encode_spans(spans).SerializeToString()
    return encoded


text = st.text(max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    text,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.binary(max_size=6),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
attributes = st.dictionaries(text, values, max_size=5)
ids = st.integers(min_value=1, max_value=2**64 - 1)
trace_states = st.none() | st.builds(
    TraceState,
    st.lists(
        st.tuples(st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), st.just("v1")),
        max_size=2,
        unique_by=lambda pair: pair[0],
    ),
)
contexts = st.builds(
    SpanContext,
    trace_id=st.integers(min_value=1, max_value=2**128 - 1),
    span_id=ids,
    is_remote=st.booleans(),
    trace_state=trace_states,
)
resources = st.sampled_from(
    [
        Resource({"service.name": "shop", "process.pid": 12}),
        Resource({"service.name": "shop", "process.pid": 12}),  # equal, another object
        Resource({}, schema_url="https://opentelemetry.io/schemas/1.21.0"),
    ]
)
scopes = st.sampled_from(
    [
        None,
        InstrumentationScope("obs", "0.1.0"),
        InstrumentationScope("obs", "0.1.0"),
        InstrumentationScope("app", None, "https://example.com/s", {"team": "a"}),
        InstrumentationScope(""),
    ]
)
statuses = st.one_of(
    st.just(Status(StatusCode.UNSET)),
    st.just(Status(StatusCode.OK)),
    st.builds(lambda d: Status(StatusCode.ERROR, d), st.none() | text),
)
events = st.builds(
    Event,
    name=text,
    attributes=st.none() | attributes,
    timestamp=st.integers(min_value=0, max_value=2**63),
)
links = st.builds(Link, context=contexts, attributes=st.none() | attributes)
spans = st.builds(
    ReadableSpan,
    name=text,
    context=contexts,
    parent=st.none() | contexts,
    resource=resources,
    attributes=st.none() | attributes,
    events=st.lists(events, max_size=2),
    links=st.lists(links, max_size=2),
    kind=st.sampled_from(list(SpanKind)),
    status=statuses,
    start_time=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    end_time=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    instrumentation_scope=scopes,
)


@settings(max_examples=300)
@given(st.lists(spans, max_size=6))
def test_any_spans_encode_as_the_reference_does(batch: list[ReadableSpan]) -> None:
    assert encode_spans_bytes(batch) == reference(batch)


def _no_reference(spans: Any) -> Any:
    raise AssertionError("the reference encoder was used")


@settings(max_examples=200)
@given(st.lists(spans, max_size=6))
def test_spans_in_range_are_written_without_the_reference(batch: list[ReadableSpan]) -> None:
    expected = reference(batch)
    in_range = all(
        _writable(span.attributes)
        and all(_writable(e.attributes) for e in span.events)
        and all(_writable(link.attributes) for link in span.links)
        for span in batch
    )
    original = otlp_spans.encode_spans
    otlp_spans.encode_spans = _no_reference  # type: ignore[assignment]
    try:
        if in_range:
            assert encode_spans_bytes(batch) == expected
    finally:
        otlp_spans.encode_spans = original


def _writable(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    if isinstance(value, dict) or hasattr(value, "items"):
        return all(_writable(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_writable(v) for v in value)
    return True


@given(st.lists(spans, min_size=1, max_size=3), st.lists(spans, min_size=1, max_size=3))
def test_kept_attributes_do_not_leak_between_batches(
    first: list[ReadableSpan], second: list[ReadableSpan]
) -> None:
    encoder = SpanEncoder()
    assert encoder.encode(first) == reference(first)
    assert encoder.encode(second) == reference(second)
    assert encoder.encode(first) == reference(first)


def test_values_the_wire_format_cannot_carry_take_the_reference_path() -> None:
    odd: Any = {"surrogate": "\ud800", "huge": 2**64, "object": object(), "ok": "yes"}
    span = ReadableSpan("x", SpanContext(1, 2, False), attributes=odd)
    assert encode_spans_bytes([span]) == reference([span])


def test_spans_of_the_sdk_encode_as_the_reference_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans as the SDK ends them: bounded attributes, dropped counts, events, links."""
    exporter = InMemorySpanExporter()
    limits = SpanLimits(max_span_attributes=3, max_events=1, max_links=1)
    provider = TracerProvider(resource=Resource({"service.name": "shop"}), span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("obs", "0.1.0")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        span = tracer.start_span("find users", kind=SpanKind.CLIENT, attributes={"a": 1})
        span.set_attributes({"b": "x", "c": [1, 2], "d": True, "e": 1.5})
        span.add_event("one", {"k": "v"})
        span.add_event("two")
        span.set_status(Status(StatusCode.ERROR, "DuplicateKey"))
        span.end()
        parent.add_link(SpanContext(5, 6, True), {"why": "batch"})
        parent.add_link(SpanContext(7, 8, False))
    provider.shutdown()
    finished = list(exporter.get_finished_spans())
    assert finished[0].dropped_attributes == 2
    expected = reference(finished)
    monkeypatch.setattr(otlp_spans, "encode_spans", _no_reference)
    assert encode_spans_bytes(finished) == expected


_BOUND = [
    {"db.system.name": "mongodb", "db.namespace": "shop", "server.port": 27017},
    {"db.system.name": "mongodb", "db.namespace": "shop", "db.collection.name": "users"},
]


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(range(len(_BOUND))),
            st.dictionaries(
                st.sampled_from(["db.query.text", "error.type", "db.namespace", "n"]),
                st.one_of(text, st.integers(min_value=-5, max_value=5), st.booleans()),
                max_size=3,
            ),
            contexts,
            st.one_of(st.none(), contexts),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_leaf_spans_encode_as_their_readable_spans_do(
    made: list[tuple[int, dict[str, Any], SpanContext, SpanContext | None, bool]],
) -> None:
    """obs's leaf spans (ids as ints, attributes shared plus their own) write the bytes the
    reference writes for the ReadableSpan each stands for; a key set again on the span
    keeps its first place; a kept encoding of a shared part never serves another mapping."""
    owner = LeafTracer(TracerProvider(resource=Resource({"service.name": "shop"})), "obs", "1")
    encoder = SpanEncoder()
    for round in range(2):  # the second time round, the shared parts' bytes are kept ones
        leaves = []
        for bound, extra, context, parent, failed in made:
            # now and then a fresh mapping, whose id may be one a freed mapping had
            shared = {**_BOUND[bound], "n": len(leaves) + round} if failed else _BOUND[bound]
            span = LeafSpan(
                owner, "find users", context.trace_id, context.span_id, 1, context.trace_state,
                parent, shared,
            )  # fmt: skip
            span.set_attributes(extra)
            if failed:
                span.set_status(Status(StatusCode.ERROR, "DuplicateKey"))
            span.end_time = span.start_time + 1
            leaves.append(span)
        assert encoder.encode(leaves) == reference([span.readable() for span in leaves])
