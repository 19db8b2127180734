"""The agent's snapshot: counters as monotonic cumulative sums, histograms with buckets,
Prometheus names and escaping, and the same numbers over OTLP (the agent's own encoding
and any SDK exporter's)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.resources import Resource

from obs import catalog
from obs.agent import otlp
from obs.agent.collectors.bullmq import STATES
from obs.agent.export import Exporter, OtlpLoop
from obs.agent.otlp import RequestEncoder, otlp_exporter
from obs.agent.otlp_settings import OtlpSettings, load_otlp
from obs.agent.points import Point
from obs.agent.rows import rows_of
from obs.agent.store import Store
from obs.catalog import attr
from obs.export import prometheus_text as prometheus
from obs.export.otel_env import exporter_kwargs
from obs.export.prometheus_text import render
from support.otlp_receiver import GrpcReceiver, HttpReceiver, Receiver

pytestmark = pytest.mark.servers  # starts servers, processes or a browser


# The agent's exporter (requests it encodes itself) and the SDK's (encodes a snapshot).
def sdk_exporter(settings: OtlpSettings) -> Any:
    kwargs = exporter_kwargs(settings.endpoint, settings.protocol, {}, "metrics")
    if settings.protocol == "http/protobuf":
        return HttpMetricExporter(**kwargs)
    return GrpcMetricExporter(**kwargs)


EXPORTERS = pytest.mark.parametrize("make_exporter", [otlp_exporter, sdk_exporter])


def exporter_with_data() -> Exporter:
    store = Store()
    queue = {attr.QUEUE_PREFIX: "bull", attr.QUEUE_NAME: 'mail:"eu"\\x'}
    store.replace(
        "bullmq",
        [
            Point.of(catalog.BULLMQ_QUEUE_JOBS, 7, {**queue, attr.QUEUE_STATE: "wait"}),
            Point.of(catalog.BULLMQ_JOBS_FAILED, 3, queue),
            Point.of(catalog.REDIS_MEMORY_USED, 1024, {}),
        ],
    )
    exporter = Exporter(store, Resource.create({"service.name": "obs-agent"}))
    labels = {attr.COLLECTOR: "bullmq", attr.TARGET: "redis://q:6379"}
    exporter.observe(
        [Point.of(catalog.AGENT_COLLECTION_DURATION, v, labels) for v in (0.003, 0.2, 7.0)]
    )
    return exporter


def test_prometheus_text() -> None:
    text = render(exporter_with_data().snapshot()).decode()
    assert "# TYPE bullmq_queue_jobs gauge" in text
    assert 'bullmq_queue_name="mail:\\"eu\\"\\\\x"' in text  # escaped label value
    assert "# TYPE obs_bullmq_jobs_failed_total counter" in text
    assert "redis_memory_used_bytes 1024" in text
    duration = "obs_agent_collection_duration_seconds"
    assert f"# TYPE {duration} histogram" in text
    buckets = [line for line in text.splitlines() if line.startswith(f"{duration}_bucket")]
    counts = [int(line.rsplit(" ", 1)[1]) for line in buckets]
    assert counts == sorted(counts)  # cumulative
    assert counts[-1] == 3
    assert 'le="+Inf"' in buckets[-1]
    assert 'le="0.005"} 1' in text
    assert f"{duration}_count" in text


def test_prometheus_text_from_the_store_is_the_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """/metrics renders the store with each label kept as text, in pieces: together the
    same text as the snapshot's, also after series come and go."""
    monkeypatch.setattr(prometheus, "LINES", 2)
    exporter = exporter_with_data()
    for points in (
        [Point.of(catalog.REDIS_DB_KEYS, 5, {"db": "0", attr.SERVER_PORT: 6379})],
        [
            Point.of(catalog.REDIS_DB_KEYS, 6, {"db": "0", attr.SERVER_PORT: 6379}),
            Point.of(catalog.REDIS_DB_KEYS, 0.25, {"db": "1", attr.SERVER_PORT: 6379}),
            Point.of(catalog.REDIS_KEYSPACE_HITS, 12, {attr.SERVER_PORT: 6379}),
        ],
        [],
    ):
        exporter.store.replace("redis", points)
        assert b"".join(exporter.prometheus_text()) == render(exporter.snapshot())
    assert b"redis_db_keys" not in b"".join(exporter.prometheus_text())


def assert_exported(receiver: Receiver) -> None:
    (failed,) = receiver.points("obs.bullmq.jobs.failed")
    assert (failed.kind, failed.monotonic, failed.value) == ("sum", True, 3)
    (jobs,) = receiver.points("bullmq.queue.jobs")
    assert (jobs.kind, jobs.value, jobs.unit) == ("gauge", 7, "{job}")
    assert jobs.attributes[attr.QUEUE_NAME] == 'mail:"eu"\\x'
    (duration,) = receiver.points("obs.agent.collection.duration")
    assert (duration.count, duration.bounds) == (3, catalog.AGENT_COLLECTION_DURATION.buckets)
    assert failed.resource["service.name"] == "obs-agent"


@EXPORTERS
def test_rows_and_otlp_carry_the_same_numbers(
    otlp: GrpcReceiver, make_exporter: Callable[[OtlpSettings], Any]
) -> None:
    exporter = exporter_with_data()
    rows = {r["name"]: r for r in rows_of(exporter.snapshot())}
    assert rows["bullmq.queue.jobs"]["value"] == 7
    assert rows["obs.agent.collection.duration"]["count"] == 3
    assert rows["obs.agent.collection.duration"]["value"] == 7.203
    loop = OtlpLoop(
        exporter, make_exporter(OtlpSettings(endpoint=otlp.endpoint, protocol="grpc")), 60
    )
    assert loop.export_once()
    assert_exported(otlp)
    loop.otlp.shutdown()


@EXPORTERS
def test_otlp_over_http(
    otlp_http: HttpReceiver, make_exporter: Callable[[OtlpSettings], Any]
) -> None:
    settings = OtlpSettings(endpoint=otlp_http.endpoint, protocol="http/protobuf")
    loop = OtlpLoop(exporter_with_data(), make_exporter(settings), 60)
    assert loop.export_once()
    assert_exported(otlp_http)
    loop.otlp.shutdown()


def test_the_agents_encoding_is_the_sdks() -> None:
    """Requests encoded from kept per-series bytes equal the SDK's encoding of the same
    snapshot, also after series come and go (the kept bytes follow the store)."""
    exporter = exporter_with_data()
    for points in (
        [Point.of(catalog.REDIS_DB_KEYS, 5, {"db": "0", attr.SERVER_PORT: 6379})],
        [
            Point.of(catalog.REDIS_DB_KEYS, 6, {"db": "0", attr.SERVER_PORT: 6379}),
            Point.of(catalog.REDIS_DB_KEYS, 0.25, {"db": "1", attr.SERVER_PORT: 6379}),
            Point.of(catalog.AGENT_CPU_UTILIZATION, 0.015, {}),
        ],
        [],
    ):
        exporter.store.replace("redis", points)
        now = time.time_ns()
        snapshot = exporter.snapshot(now)
        expected = encode_metrics(snapshot)
        (encoded,) = exporter.encoded(now)  # a few points: one request
        sent = ExportMetricsServiceRequest.FromString(encoded.request)
        # Histograms are collected afresh by each call, at a later time.
        for request in (expected, sent):
            for metric in request.resource_metrics[0].scope_metrics[0].metrics:
                for point in metric.histogram.data_points:
                    point.time_unix_nano = 0
        assert sent == expected
        assert encoded.points == sum(
            len(m.data.data_points) for m in snapshot.resource_metrics[0].scope_metrics[0].metrics
        )


def many_queues(count: int) -> Exporter:
    """An exporter whose store holds ``count`` queues of one server (10 series each)."""
    store = Store()
    server = {attr.SERVER_ADDRESS: "redis", attr.SERVER_PORT: 6379, attr.QUEUE_PREFIX: "bull"}
    points = []
    for index in range(count):
        queue = {**server, attr.QUEUE_NAME: f"q{index}"}
        points += [
            Point.of(catalog.BULLMQ_QUEUE_JOBS, n, {**queue, attr.QUEUE_STATE: state})
            for n, state in enumerate(STATES)
        ]
        points += [
            Point.of(catalog.BULLMQ_QUEUE_PAUSED, 0, queue),
            Point.of(catalog.BULLMQ_OLDEST_WAITING_AGE, 1.5, queue),
        ]
    store.replace("bullmq", points)
    return Exporter(store, Resource.create({}))


def distinct_pairs(exporter: Exporter) -> int:
    return len({pair for _, readings in exporter.families() for a, _ in readings for pair in a})


def test_each_attribute_is_encoded_once_not_once_per_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first export encodes each (key, value) pair once however many series share it
    (a server's pairs are in every series of its queues); the next reuses them all."""
    encodings: list[Any] = []
    attribute = otlp._attribute
    monkeypatch.setattr(otlp, "_attribute", lambda pair: encodings.append(pair) or attribute(pair))
    exporter = many_queues(30)
    first = [r.request for r in exporter.encoded(now=1)]
    assert len(encodings) == len(set(encodings)) == distinct_pairs(exporter)
    encodings.clear()
    assert [r.request for r in exporter.encoded(now=1)] == first
    assert encodings == []


def test_each_label_is_escaped_once_not_once_per_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """As for OTLP: the first /metrics page writes each label once, the next reuses them."""
    labels: list[Any] = []
    label = prometheus._label
    monkeypatch.setattr(prometheus, "_label", lambda pair: labels.append(pair) or label(pair))
    exporter = many_queues(30)
    exporter.histograms.clear()  # the histograms' labels are the SDK snapshot's: not kept
    first = b"".join(exporter.prometheus_text())
    assert len(labels) == len(set(labels)) == distinct_pairs(exporter)
    labels.clear()
    assert b"".join(exporter.prometheus_text()) == first
    assert labels == []
    assert first == render(exporter.snapshot())


def test_large_exports_are_split_into_requests_of_at_most_max_points() -> None:
    store = Store()
    queue = {attr.QUEUE_PREFIX: "bull", attr.QUEUE_NAME: "mail"}
    store.replace(
        "bullmq",
        [
            *(
                Point.of(catalog.BULLMQ_QUEUE_JOBS, n, {**queue, attr.QUEUE_STATE: state})
                for n, state in enumerate(STATES)
            ),
            Point.of(catalog.BULLMQ_QUEUE_PAUSED, 1, queue),
        ],
    )
    exporter = Exporter(store, Resource.create({}))
    encoder = RequestEncoder(exporter.resource, exporter.scope, max_points=3)
    now = time.time_ns()
    requests = list(encoder.encode(exporter.families(), [], exporter.started, now))
    assert [r.points for r in requests] == [3, 3, 3]  # 8 job counts, then the paused flag
    sent = [
        (metric.name, point)
        for r in requests
        for metric in ExportMetricsServiceRequest.FromString(r.request)
        .resource_metrics[0]
        .scope_metrics[0]
        .metrics
        for point in metric.gauge.data_points
    ]
    whole = [
        (metric.name, point)
        for metric in encode_metrics(exporter.snapshot(now))
        .resource_metrics[0]
        .scope_metrics[0]
        .metrics
        for point in metric.gauge.data_points
    ]
    assert sent == whole


@EXPORTERS
def test_a_failing_receiver_is_logged_once(
    otlp: GrpcReceiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    make_exporter: Callable[[OtlpSettings], Any],
) -> None:
    caplog.set_level(logging.INFO, logger="obs.agent")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # the exporter's own retries
    otlp.fail_with = 14
    exporter = exporter_with_data()
    loop = OtlpLoop(
        exporter, make_exporter(OtlpSettings(endpoint=otlp.endpoint, protocol="grpc")), 60
    )
    assert not loop.export_once()
    assert not loop.export_once()
    otlp.fail_with = None
    assert loop.export_once()
    messages = [r.getMessage() for r in caplog.records if r.name == "obs.agent"]
    assert messages == ["OTLP export failed; retrying every 60 s", "OTLP export recovered"]
    loop.otlp.shutdown()


def _delta_export(otlp_http: HttpReceiver, preference: str) -> tuple[Store, Exporter, OtlpLoop]:
    settings = load_otlp(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_http.endpoint,
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": preference,
        }
    )
    store = Store()
    exporter = Exporter(
        store,
        Resource.create({"service.name": "obs-agent"}),
        delta_counters=settings.delta_counters,
        delta_histograms=settings.delta_histograms,
    )
    return store, exporter, OtlpLoop(exporter, otlp_exporter(settings), 60)


def _collect(store: Store, exporter: Exporter, hits: float, durations: list[float]) -> None:
    store.replace(
        "redis",
        [
            Point.of(catalog.REDIS_KEYSPACE_HITS, hits, {}),
            Point.of(catalog.REDIS_MEMORY_USED, 1024, {}),
            Point.of(catalog.REDIS_CLIENTS_CONNECTED, 3, {}),
        ],
    )
    labels = {attr.COLLECTOR: "redis", attr.TARGET: "redis://r:6379"}
    exporter.observe([Point.of(catalog.AGENT_COLLECTION_DURATION, v, labels) for v in durations])


def test_delta_temporality_sends_per_interval_increments(otlp_http: HttpReceiver) -> None:
    store, exporter, loop = _delta_export(otlp_http, "Delta")  # case-insensitive
    _collect(store, exporter, 100, [0.1, 0.2, 0.3])
    assert loop.export_once()
    first_time = otlp_http.points("redis.memory.used")[0].time
    # A counter's first reading is its baseline: Redis's count since it started is not
    # one interval's hits.
    assert otlp_http.points("redis.keyspace.hits") == []
    [first] = otlp_http.points("obs.agent.collection.duration")
    assert (first.temporality, first.count) == (1, 3)
    otlp_http.clear()
    _collect(store, exporter, 130, [0.4, 0.5])
    assert loop.export_once()
    [hits] = otlp_http.points("redis.keyspace.hits")
    assert (hits.temporality, hits.value, hits.monotonic) == (1, 30.0, True)
    assert hits.start == first_time  # the previous export
    [second] = otlp_http.points("obs.agent.collection.duration")
    assert (second.temporality, second.count, second.sum) == (1, 2, pytest.approx(0.9))
    assert second.start == first.time
    otlp_http.clear()
    _collect(store, exporter, 130, [])
    assert loop.export_once()
    assert [p.value for p in otlp_http.points("redis.keyspace.hits")] == [0.0]
    # /metrics and snapshots stay cumulative.
    text = render(exporter.snapshot()).decode()
    assert "redis_keyspace_hits_total 130" in text
    assert 'obs_agent_collection_duration_seconds_count{obs_collector="redis"' in text
    loop.otlp.shutdown()


def test_lowmemory_keeps_observed_counters_cumulative(otlp_http: HttpReceiver) -> None:
    store, exporter, loop = _delta_export(otlp_http, "lowmemory")
    _collect(store, exporter, 100, [0.1])
    assert loop.export_once()
    _collect(store, exporter, 130, [0.2])
    otlp_http.clear()
    assert loop.export_once()
    [hits] = otlp_http.points("redis.keyspace.hits")
    assert (hits.temporality, hits.value) == (2, 130.0)
    [duration] = otlp_http.points("obs.agent.collection.duration")
    assert (duration.temporality, duration.count) == (1, 1)
    loop.otlp.shutdown()


def test_the_temporality_preference_is_checked() -> None:
    assert load_otlp({}).temporality == "cumulative"
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"):
        load_otlp({"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sometimes"})
