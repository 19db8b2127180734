"""Leaf spans are the spans the SDK's own path records: same ids, flags, parent, trace
state, attributes, status, resource and scope; and the SDK's path whenever another
processor or a span limit is in play."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from obs import internals
from obs.internals import InternalsChanged, otel_sdk
from obs.runtime.leaf_spans import LeafSpan, LeafTracer, sampling_rule


class Counting(IdGenerator):
    """Ids in sequence, so two providers given the same calls give the same ids."""

    def __init__(self, random: bool) -> None:
        self._ids = itertools.count(0x1000_0000_0000_0001)
        self._random = random

    def generate_span_id(self) -> int:
        return next(self._ids)

    def generate_trace_id(self) -> int:
        # low halves spread over the range, so a ratio sampler takes some and not others
        return next(self._ids) << 64 | (next(self._ids) * 0x9E37_79B9_7F4A_7C15) % 2**64

    def is_trace_id_random(self) -> bool:
        return self._random


RESOURCE = Resource({"service.name": "shop"})


def _provider(
    sampler: Sampler, random: bool, batch: bool = False, **kwargs: Any
) -> tuple[Any, Any, Any]:
    exporter = InMemorySpanExporter()
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider = TracerProvider(
        resource=RESOURCE, sampler=sampler, id_generator=Counting(random), **kwargs
    )
    provider.add_span_processor(processor)
    return provider, processor, exporter


@contextmanager
def _parent(context: SpanContext | None) -> Iterator[None]:
    if context is None:
        yield
        return
    with trace.use_span(NonRecordingSpan(context), end_on_exit=False):
        yield


samplers = st.sampled_from(
    [
        ALWAYS_ON,
        ALWAYS_OFF,
        TraceIdRatioBased(0.5),
        ParentBased(ALWAYS_ON),
        ParentBased(ALWAYS_OFF),
        ParentBased(TraceIdRatioBased(0.5)),
    ]
)
parents = st.none() | st.builds(
    lambda trace_id, span_id, remote, flags, state: SpanContext(
        trace_id, span_id, remote, TraceFlags(flags), TraceState(state)
    ),
    st.integers(min_value=1, max_value=2**128 - 1),
    st.integers(min_value=1, max_value=2**64 - 1),
    st.booleans(),
    st.sampled_from([0, 1, 2, 3]),
    st.sampled_from([[], [("vendor", "v1")]]),
)
failures = st.none() | st.tuples(st.sampled_from(["DuplicateKey", "_OTHER"]), st.booleans())


def _contents(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.start_time <= span.end_time
    return {
        "name": span.name,
        "context": (
            context.trace_id,
            context.span_id,
            context.is_remote,
            int(context.trace_flags),
            context.trace_state.to_header(),
        ),
        "parent": span.parent,
        "kind": span.kind,
        "attributes": dict(span.attributes or {}),
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
        "status": (span.status.status_code, span.status.description),
        "events": span.events,
        "links": span.links,
        "resource": span.resource,
        "scope": span.instrumentation_scope,
    }


@settings(max_examples=300)
@given(
    samplers,
    parents,
    st.booleans(),
    failures,
    st.integers(min_value=1, max_value=4),
    st.booleans(),
)
def test_a_leaf_span_is_the_span_the_sdk_would_record(
    sampler: Sampler,
    parent: SpanContext | None,
    random: bool,
    failure: tuple[str, bool] | None,
    spans: int,
    batch: bool,
) -> None:
    # batch: obs's batch processor, whose queue takes the leaf span itself
    leaf_provider, processor, leaf_exporter = _provider(sampler, random, batch)
    sdk_provider, _, sdk_exporter = _provider(sampler, random)
    leaves = LeafTracer(leaf_provider, "obs", "1.2.3", processor)
    sdk = sdk_provider.get_tracer("obs", "1.2.3")
    attributes = {"db.system.name": "mongodb", "db.namespace": "shop", "server.port": 27017}
    with _parent(parent):
        for _ in range(spans):
            leaf = leaves.leaf("find users", attributes)
            reference = sdk.start_span("find users", kind=SpanKind.CLIENT, attributes=attributes)
            assert (leaf is not None) == reference.is_recording()
            for span in (leaf, reference) if leaf is not None else ():
                assert isinstance(span, LeafSpan if span is leaf else SdkSpan)
                span.set_attribute("db.query.text", '{"find":"users"}')
                if failure is not None:
                    error, coded = failure
                    span.set_attributes({"error.type": error, **({"c": "11000"} if coded else {})})
                    span.set_status(Status(StatusCode.ERROR, error))
                span.end()
            reference.end()
    assert attributes == {"db.system.name": "mongodb", "db.namespace": "shop", "server.port": 27017}
    processor.force_flush()
    exported = leaf_exporter.get_finished_spans()
    assert all(isinstance(s, LeafSpan if batch else ReadableSpan) for s in exported)
    got = [_contents(s) for s in exported]
    processor.shutdown()
    assert got == [_contents(s) for s in sdk_exporter.get_finished_spans()]


def test_another_processor_takes_every_span_through_the_sdk() -> None:
    provider, processor, ours = _provider(ALWAYS_ON, True)
    leaves = LeafTracer(provider, "obs", "1", processor)
    assert isinstance(leaves.leaf("find a", {}), LeafSpan)
    theirs = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    span = leaves.leaf("find b", {"k": "v"})
    assert isinstance(span, SdkSpan)
    span.end()
    assert [s.name for s in theirs.get_finished_spans()] == ["find b"]
    assert [s.name for s in ours.get_finished_spans()] == ["find b"]


def test_span_limits_take_every_span_through_the_sdk() -> None:
    limits = SpanLimits(max_span_attribute_length=3)
    provider, processor, exporter = _provider(ALWAYS_ON, True, span_limits=limits)
    span = LeafTracer(provider, "obs", "1", processor).leaf("find a", {"db.namespace": "shop"})
    assert isinstance(span, SdkSpan)
    span.end()
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes == {"db.namespace": "sho"}


def test_the_applications_provider_takes_the_sdk_path() -> None:
    provider, _, exporter = _provider(ALWAYS_ON, True)
    tracer = LeafTracer(provider, "obs", "1")  # no processor of obs's
    span = tracer.leaf("find a", {})
    assert isinstance(span, SdkSpan)
    span.end()
    with tracer.start_as_current_span("job") as job:
        tracer.start_span("inner").end()
        assert trace.get_current_span() is job
    assert [s.name for s in exporter.get_finished_spans()] == ["find a", "inner", "job"]


def test_moved_internals_take_every_span_through_the_sdk(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def moved(provider: Any) -> Any:
        raise InternalsChanged("opentelemetry-sdk", "TracerProvider._span_limits", AttributeError())

    monkeypatch.setattr(otel_sdk, "span_limits", moved)
    monkeypatch.setattr(internals, "_warned", set())
    provider, processor, exporter = _provider(ALWAYS_ON, True)
    span = LeafTracer(provider, "obs", "1", processor).leaf("find a", {})
    assert isinstance(span, SdkSpan)
    span.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["find a"]
    assert "obs's spans take the SDK's (slower) path" in caplog.text


def test_the_standard_samplers_are_decided_without_asking_them() -> None:
    bound = TraceIdRatioBased.get_bound_for_rate(0.25)
    assert sampling_rule(ALWAYS_ON) == (False, 2**64)
    assert sampling_rule(ALWAYS_OFF) == (False, 0)
    assert sampling_rule(TraceIdRatioBased(0.25)) == (False, bound)
    assert sampling_rule(ParentBased(ALWAYS_ON)) == (True, 2**64)
    assert sampling_rule(ParentBased(TraceIdRatioBased(0.25))) == (True, bound)


class _Custom(TraceIdRatioBased):
    def should_sample(self, *args: Any, **kwargs: Any) -> Any:
        return ALWAYS_OFF.should_sample(*args, **kwargs)


@pytest.mark.parametrize(
    ("sampler", "dropped"),
    [
        (_Custom(1.0), True),
        (ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON), False),
        (ParentBased(_Custom(1.0)), True),
    ],
    ids=["subclass", "other delegates", "custom root"],
)
def test_any_other_sampler_is_asked_for_every_decision(sampler: Sampler, dropped: bool) -> None:
    assert sampling_rule(sampler) is None
    provider, processor, _ = _provider(sampler, True)
    span = LeafTracer(provider, "obs", "1", processor).leaf("find a", {})
    assert (span is None) == dropped


def test_the_default_id_generator_gives_random_non_zero_ids() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    leaves = LeafTracer(provider, "obs", "1", otel_sdk.span_processors(provider)[0])
    for _ in range(50):
        leaves.leaf("find a", {}).end()
    spans = exporter.get_finished_spans()
    contexts = [s.get_span_context() for s in spans]
    assert len(spans) == 50
    assert all(c is not None and c.is_valid for c in contexts)
    assert len({c.trace_id for c in contexts if c}) == 50
    assert len({c.span_id for c in contexts if c}) == 50
    reference = provider.get_tracer("sdk").start_span("find b")
    flags = {int(c.trace_flags) for c in contexts if c}
    assert flags == {int(reference.get_span_context().trace_flags)}


@pytest.mark.parametrize(
    "sampler",
    [ALWAYS_OFF, ParentBased(ALWAYS_OFF), ParentBased(ALWAYS_ON), TraceIdRatioBased(0.5)],
    ids=["always_off", "parentbased_always_off", "parentbased_always_on", "ratio"],
)
@pytest.mark.parametrize("parent_sampled", [None, True, False], ids=["root", "sampled", "not"])
def test_with_random_ids_a_leaf_span_is_decided_as_the_sdk_decides(
    sampler: Sampler, parent_sampled: bool | None
) -> None:
    """With the SDK's default (random) id generator, which ids are drawn for a dropped
    span is nobody's business, but the decision still is the SDK's."""
    provider = TracerProvider(resource=RESOURCE, sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    leaves = LeafTracer(provider, "obs", "1", otel_sdk.span_processors(provider)[0])
    sdk = provider.get_tracer("sdk")
    parent = None
    if parent_sampled is not None:
        flags = TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT)
        parent = SpanContext(0x1234 << 64 | 0x8000_0000_0000_0000, 0x99, True, flags)
    with _parent(parent):
        for _ in range(40):
            leaf = leaves.leaf("find a", {})
            reference = sdk.start_span("find a", kind=SpanKind.CLIENT)
            if parent is not None or not isinstance(sampler, TraceIdRatioBased):
                # the same trace id for both (the parent's) or a decision that needs none
                assert (leaf is not None) == reference.is_recording()
            if leaf is not None:
                context = leaf.context
                assert context.is_valid
                if parent is not None:
                    assert context.trace_id == parent.trace_id
                assert context.trace_flags.sampled
                leaf.end()
            reference.end()
