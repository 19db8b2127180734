"""Every private name obs uses (obs.internals), exercised against the installed libraries:
an upgrade that moves one fails here, loudly, instead of in a service."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from obs.internals import InternalsChanged, otel_sdk, pymongo_driver, redis_py
from support.otlp_receiver import GrpcReceiver, HttpReceiver
from support.servers import MongoServer, RedisServer
from support.unreachable import black_hole

# --- OpenTelemetry ---------------------------------------------------------------------


@pytest.fixture
def clean_globals() -> Iterator[None]:
    otel_sdk.reset_global_providers()
    yield
    otel_sdk.reset_global_providers()


def test_the_placeholder_meter_provider_is_recognised(clean_globals: None) -> None:
    placeholders = otel_sdk.meter_provider_placeholders()
    assert isinstance(metrics.get_meter_provider(), placeholders)
    provider = MeterProvider()
    metrics.set_meter_provider(provider)
    assert not isinstance(metrics.get_meter_provider(), placeholders)
    provider.shutdown()


def test_global_providers_can_be_set_again_after_a_reset(clean_globals: None) -> None:
    first, second = TracerProvider(), TracerProvider()
    trace.set_tracer_provider(first)
    otel_sdk.reset_global_providers()
    trace.set_tracer_provider(second)
    assert trace.get_tracer_provider() is second


def test_a_readers_temporality_preferences_are_read() -> None:
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    preferences = otel_sdk.temporality_preferences(reader)
    counters = [t for cls, t in preferences.items() if issubclass(cls, Counter)]
    assert counters == [AggregationTemporality.DELTA]
    assert len(preferences) >= 6  # every instrument kind has one


class _Keep(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kw: Any) -> Any:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _names(data: MetricsData) -> set[str]:
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def test_collections_pass_through_the_readers_hook() -> None:
    seen: list[MetricsData] = []

    class Periodic(otel_sdk.PeriodicReader):
        def received(self, data: MetricsData) -> MetricsData:
            seen.append(data)
            return MetricsData([])

    class Pull(otel_sdk.PullReader):
        def received(self, data: MetricsData) -> MetricsData:
            seen.append(data)
            return data

    exporter = _Keep()
    periodic = Periodic(exporter, export_interval_millis=float("inf"))
    pull = Pull()
    provider = MeterProvider(metric_readers=[periodic, pull], shutdown_on_exit=False)
    provider.get_meter("t").create_counter("hooked").add(1)
    periodic.collect()
    pull.collect()
    assert [_names(d) for d in seen] == [{"hooked"}, {"hooked"}]
    assert [d.resource_metrics for d in exporter.exported] == [[]]  # what the hook returned
    assert _names(pull.latest) == {"hooked"}
    provider.shutdown()


def test_a_providers_resource_is_updated() -> None:
    tracer_provider = TracerProvider(resource=Resource({"process.pid": 1}), shutdown_on_exit=False)
    otel_sdk.update_resource(tracer_provider, Resource({"process.pid": os.getpid()}))
    assert tracer_provider.resource.attributes["process.pid"] == os.getpid()

    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(
        resource=Resource({"process.pid": 1}), metric_readers=[reader], shutdown_on_exit=False
    )
    otel_sdk.update_resource(meter_provider, Resource({"process.pid": os.getpid()}))
    meter_provider.get_meter("t").create_counter("c").add(1)
    data = reader.get_metrics_data()
    assert data is not None
    assert data.resource_metrics[0].resource.attributes["process.pid"] == os.getpid()
    meter_provider.shutdown()


def test_a_meter_providers_measurements_are_forgotten() -> None:
    reader = InMemoryMetricReader()  # cumulative: a total keeps growing unless forgotten
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    counter = provider.get_meter("t").create_counter("c")
    counter.add(5, {"k": "v"})
    reader.get_metrics_data()
    otel_sdk.forget_measurements(provider)
    counter.add(1, {"k": "v"})
    data = reader.get_metrics_data()
    assert data is not None
    points = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert [p.value for p in points] == [1]  # type: ignore[attr-defined]
    provider.shutdown()


def test_a_moved_name_raises_internals_changed_naming_it() -> None:
    with pytest.raises(InternalsChanged, match="opentelemetry-sdk no longer has"):
        otel_sdk.update_resource(object(), Resource({}))
    with pytest.raises(InternalsChanged, match="_timeout"):
        otel_sdk.export_timeout(object())


def _span() -> ReadableSpan:
    span = TracerProvider(shutdown_on_exit=False).get_tracer("t").start_span("s")
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def _metrics() -> MetricsData:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("t").create_counter("c").add(1)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


def _grpc_spans(endpoint: str) -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10)


def _grpc_metrics(endpoint: str) -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=10)


def _http_spans(endpoint: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=10)


def _http_metrics(endpoint: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=10)


@pytest.mark.parametrize("make", [_grpc_spans, _grpc_metrics, _http_spans, _http_metrics])
def test_an_exporters_timeout_is_read_and_bounds_its_next_export(
    make: Callable[[str], Any],
) -> None:
    with black_hole() as endpoint:
        exporter = make(endpoint)
        assert otel_sdk.export_timeout(exporter) == 10
        otel_sdk.set_export_timeout(exporter, 0.5)
        assert otel_sdk.export_timeout(exporter) == 0.5
        data: Any = [_span()] if "Span" in type(exporter).__name__ else _metrics()
        started = time.monotonic()
        result = exporter.export(data)
        took = time.monotonic() - started
        exporter.shutdown()
    assert result in (SpanExportResult.FAILURE, MetricExportResult.FAILURE)
    assert took < 3.0, f"the export took {took:.1f} s: the SDK no longer reads the timeout set"


def test_a_metric_exporters_preferences_are_read() -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    exporter = OTLPMetricExporter(
        preferred_temporality={Counter: AggregationTemporality.DELTA},
    )
    temporality, aggregation = otel_sdk.metric_preferences(exporter)
    assert temporality[Counter] is AggregationTemporality.DELTA
    assert isinstance(aggregation, dict)
    exporter.shutdown()


def _request() -> Any:
    return encode_metrics(_metrics())


def test_an_encoded_request_goes_through_the_grpc_exporter(otlp: GrpcReceiver) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    class Exporter(otel_sdk.RequestsOverGrpc, OTLPMetricExporter):
        pass

    exporter = Exporter(endpoint=otlp.endpoint, insecure=True)
    assert exporter.send_request(_request(), 1) is MetricExportResult.SUCCESS
    assert exporter.export(_metrics()) is MetricExportResult.SUCCESS  # its own data still
    exporter.shutdown()
    assert [p.value for p in otlp.points("c")] == [1, 1]


def test_an_encoded_request_goes_through_the_http_exporter(otlp_http: HttpReceiver) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    class Exporter(otel_sdk.RequestsOverHttp, OTLPMetricExporter):
        pass

    exporter = Exporter(endpoint=f"{otlp_http.endpoint}/v1/metrics")
    request = _request()
    serialised = request.SerializeToString()
    assert exporter.send_request(serialised, 1) is MetricExportResult.SUCCESS
    assert otlp_http.metric_requests == [request]
    exporter._max_request_size = len(serialised) - 1
    assert exporter.send_request(serialised, 1) is MetricExportResult.FAILURE  # too large
    exporter._max_request_size = len(serialised)
    exporter.shutdown()
    assert exporter.send_request(serialised, 1) is MetricExportResult.FAILURE
    assert [p.value for p in otlp_http.points("c")] == [1]


def _encoded(spans: Any) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    encoded: bytes = encode_spans(spans).SerializeToString()
    return encoded


def test_encoded_spans_go_through_the_grpc_exporter(otlp: GrpcReceiver) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    class Exporter(otel_sdk.EncodedSpansOverGrpc, OTLPSpanExporter):
        def encode_request(self, spans: Any) -> bytes:
            return _encoded([*spans, ReadableSpan("added", _span().context)])

    exporter = Exporter(endpoint=otlp.endpoint, insecure=True)
    otel_sdk.check_encoded_span_exporter(exporter)
    assert exporter.export([_span()]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert sorted(s.name for s in otlp.spans()) == ["added", "s"]


def test_encoded_spans_go_through_the_http_exporter(otlp_http: HttpReceiver) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    class Exporter(otel_sdk.EncodedSpansOverHttp, OTLPSpanExporter):
        def encode_request(self, spans: Any) -> bytes:
            return _encoded([*spans, ReadableSpan("added", _span().context)])

    exporter = Exporter(endpoint=f"{otlp_http.endpoint}/v1/traces")
    otel_sdk.check_encoded_span_exporter(exporter)
    assert exporter.export([_span()]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert exporter.export([_span()]) is SpanExportResult.FAILURE
    assert sorted(s.name for s in otlp_http.spans()) == ["added", "s"]


def test_an_exporter_without_the_names_is_reported() -> None:
    class Moved(otel_sdk.EncodedSpansOverHttp):
        pass

    with pytest.raises(InternalsChanged):
        otel_sdk.check_encoded_span_exporter(Moved())
    with pytest.raises(InternalsChanged):
        otel_sdk.check_encoded_span_exporter(otel_sdk.EncodedSpansOverGrpc())


def test_a_tracer_providers_processors_and_limits_are_read() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    limits = SpanLimits(max_span_attribute_length=9)
    provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
    assert otel_sdk.span_limits(provider) is limits
    first = BatchSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(first)
    processors = otel_sdk.span_processors(provider)
    assert processors == (first,)
    assert otel_sdk.span_processors(provider) is processors  # the same while none is added
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    assert otel_sdk.span_processors(provider) is not processors
    assert len(otel_sdk.span_processors(provider)) == 2
    provider.shutdown()
    with pytest.raises(InternalsChanged):
        otel_sdk.span_processors(object())
    with pytest.raises(InternalsChanged):
        otel_sdk.span_limits(object())


# Headers the exporter itself sets; the rest (Accept, Connection...) are each transport's.
_EXPORTER_HEADERS = ("content-type", "user-agent", "x-tenant", "content-length")


def test_the_urllib3_transport_sends_what_the_default_one_sends(
    otlp_http: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    monkeypatch.setenv("HOME", "/nonexistent")  # no .netrc
    kwargs = otel_sdk.urllib3_metric_transport({})
    assert isinstance(kwargs["_transport"], Urllib3HTTPTransport)
    endpoint = f"{otlp_http.endpoint}/v1/metrics"
    data = _metrics()
    for extra in ({}, kwargs):  # the default transport (requests), then urllib3
        exporter = OTLPMetricExporter(endpoint=endpoint, headers={"x-tenant": "t1"}, **extra)
        assert exporter.export(data) is MetricExportResult.SUCCESS
        exporter.shutdown()
    default, lean = otlp_http.metric_requests
    assert lean == default
    headers = [{k: v for k, v in h.items() if k in _EXPORTER_HEADERS} for h in otlp_http.headers]
    assert headers[0] == headers[1]
    assert headers[0]["x-tenant"] == "t1"


def test_the_urllib3_transport_fails_and_times_out_as_the_default_one(
    otlp_http: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    monkeypatch.setenv("HOME", "/nonexistent")
    otlp_http.fail_with = 400  # not retryable: one attempt, a failure
    exporter = OTLPMetricExporter(
        endpoint=f"{otlp_http.endpoint}/v1/metrics", **otel_sdk.urllib3_metric_transport({})
    )
    assert exporter.export(_metrics()) is MetricExportResult.FAILURE
    exporter.shutdown()
    with black_hole() as endpoint:
        exporter = OTLPMetricExporter(
            endpoint=f"{endpoint}/v1/metrics", timeout=10, **otel_sdk.urllib3_metric_transport({})
        )
        otel_sdk.set_export_timeout(exporter, 0.5)
        started = time.monotonic()
        assert exporter.export(_metrics()) is MetricExportResult.FAILURE
        assert time.monotonic() - started < 3.0
        exporter.shutdown()


@pytest.mark.parametrize(
    "variable",
    [
        "HTTPS_PROXY",
        "http_proxy",
        "NETRC",
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    ],
)
def test_what_only_requests_reads_keeps_the_default_transport(variable: str) -> None:
    assert otel_sdk.urllib3_metric_transport({variable: "x"}) == {}


_CA_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
)


@given(st.sets(st.sampled_from(_CA_VARIABLES)))
def test_the_urllib3_transport_verifies_with_the_ca_file_requests_would(names: set[str]) -> None:
    """The reference: the CA file the SDK's requests transport verifies with, once requests
    has merged the environment into its session's settings."""
    import requests.utils
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    env = {k: v for k, v in os.environ.items() if k not in _CA_VARIABLES}
    env |= {name: f"/{name.lower()}.pem" for name in names}
    with (
        mock.patch.dict(os.environ, env, clear=True),
        mock.patch("pathlib.Path.home", return_value=Path("/nonexistent")),
    ):
        session = OTLPMetricExporter()._client._transport._session
        merged = session.merge_environment_settings("https://x/v1/metrics", {}, None, None, None)
        expected = session.verify if merged["verify"] is None else merged["verify"]
        if expected is True:  # requests' adapter then verifies with its default bundle
            expected = requests.utils.DEFAULT_CA_BUNDLE_PATH
        pool = otel_sdk.urllib3_metric_transport()["_transport"]._pool
    assert pool.connection_pool_kw["ca_certs"] == expected
    assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"


def test_the_urllib3_transport_presents_the_client_certificate() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE": "/client.pem",
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/client.key",
    }
    pool = otel_sdk.urllib3_metric_transport(env)["_transport"]._pool
    assert pool.connection_pool_kw["cert_file"] == "/client.pem"
    assert pool.connection_pool_kw["key_file"] == "/client.key"


def test_the_batch_processors_logger_is_the_one_it_warns_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = otel_sdk.batch_processor_logger()
    processor = BatchSpanProcessor(
        InMemorySpanExporter(), max_queue_size=1, max_export_batch_size=1, schedule_delay_millis=1e6
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    with caplog.at_level(logging.WARNING, logger=name):
        for _ in range(3):
            provider.get_tracer("t").start_span("s").end()
    assert [r.name for r in caplog.records if "Queue full" in r.getMessage()][:1] == [name]
    provider.shutdown()


def test_the_current_span_is_read_as_the_api_reads_it() -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    tracer = provider.get_tracer("t")
    current = otel_sdk.current_span_reader()
    assert current() is None
    with tracer.start_as_current_span("outer") as outer:
        assert current() is outer is trace.get_current_span()
        with tracer.start_as_current_span("inner") as inner:
            assert current() is inner
        assert current() is outer
    assert current() is None


def test_a_providers_processors_are_read_as_they_change() -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    now = otel_sdk.span_processors_reader(provider)
    assert now() == otel_sdk.span_processors(provider) == ()
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(processor)
    assert now() is otel_sdk.span_processors(provider)
    assert now() == (processor,)


def test_a_batch_processors_queue_takes_a_span() -> None:
    exporter = InMemorySpanExporter()
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider(shutdown_on_exit=False)
    span = provider.get_tracer("t").start_span("s")
    span.end()
    otel_sdk.batch_emit(processor)(span)
    processor.force_flush()
    assert [s.name for s in exporter.get_finished_spans()] == ["s"]
    processor.shutdown()


def test_a_parent_based_samplers_delegates_are_read() -> None:
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        TraceIdRatioBased,
    )

    root = TraceIdRatioBased(0.5)
    sampler = ParentBased(root, local_parent_not_sampled=ALWAYS_ON)
    assert otel_sdk.parent_based_delegates(sampler) == (
        root,
        ALWAYS_ON,
        ALWAYS_OFF,
        ALWAYS_ON,
        ALWAYS_ON,
    )


# --- redis-py --------------------------------------------------------------------------


def test_packed_commands_and_their_replies_go_through_a_pooled_connection(
    redis_client: Any,
) -> None:
    from redis.exceptions import ResponseError

    commands = [("SET", "k", "v"), ("GET", "k"), ("LPUSH", "k", "x")]
    with redis_py.connection_of(redis_client) as connection:
        packed = redis_py.pack_commands(connection, commands)
        assert all(isinstance(part, bytes) for part in packed)

        def round_trip() -> list[Any]:
            redis_py.send_packed(connection, packed)
            replies = []
            for _ in commands:
                try:
                    replies.append(redis_py.read_reply(connection))
                except ResponseError as exc:
                    replies.append(exc)
            return replies

        replies = redis_py.with_retry(connection, round_trip)
    assert replies[:2] == [b"OK", b"v"]
    assert isinstance(replies[2], ResponseError)


def test_the_agents_connections_read_replies_with_hiredis(redis_server: RedisServer) -> None:
    """hiredis is in the agent's extra, so redis-py reads the agent's replies with its C
    parser; redis-py's own parser is still there to compare with (test_agent_bullmq.py)."""
    from obs.agent.app import redis_client

    agent = redis_client(redis_server.url, timeout=5)
    python = redis_server.client(parser_class=redis_py.python_parser())
    for client, parser in ((agent, "hiredis"), (python, "python")):
        with redis_py.connection_of(client) as connection:
            assert redis_py.reply_parser(connection) == parser
            redis_py.send_packed(connection, redis_py.pack_commands(connection, [("PING",)]))
            assert redis_py.read_reply(connection) in ("PONG", b"PONG")
        client.close()


def test_a_connection_error_is_retried_under_the_clients_policy(
    redis_server: RedisServer,
) -> None:
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    client = redis_server.client(retry=Retry(NoBackoff(), 1))
    tries: list[int] = []

    def attempt() -> str:
        tries.append(1)
        if len(tries) == 1:
            raise RedisConnectionError("dropped")
        return "ok"

    with redis_py.connection_of(client) as connection:
        assert redis_py.with_retry(connection, attempt) == "ok"
    client.close()
    assert len(tries) == 2


# --- pymongo ---------------------------------------------------------------------------


@pytest.fixture
def tracked_pools() -> Iterator[list[Any]]:
    found: list[Any] = []
    pymongo_driver.track_pools(found.append)
    yield found
    pymongo_driver.untrack_pools()


def test_application_pools_are_found_and_their_counts_read(
    tracked_pools: list[Any], mongo: MongoServer
) -> None:
    import pymongo

    client: Any = pymongo.MongoClient(mongo.uri, maxPoolSize=3)
    client.admin.command("ping")
    # one application pool per server; the monitors' own pools are left out
    assert [pool.address for pool in tracked_pools] == [("127.0.0.1", mongo.port)]
    (pool,) = tracked_pools
    idle = pymongo_driver.pool_counts(pool)
    assert idle is not None
    assert (idle.used, idle.pending, idle.limit) == (0, 0, 3)
    assert idle.idle >= 1
    client.close()
    assert pymongo_driver.pool_counts(pool) is None  # closed


def test_a_checked_out_connection_is_counted_as_used(
    tracked_pools: list[Any], mongo: MongoServer
) -> None:
    import pymongo

    client: Any = pymongo.MongoClient(mongo.uri, maxPoolSize=2)
    client.admin.command("ping")
    (pool,) = tracked_pools
    with pool.checkout():
        counts = pymongo_driver.pool_counts(pool)
        assert counts is not None
        assert counts.used == 1
    counts = pymongo_driver.pool_counts(pool)
    assert counts is not None
    assert counts.used == 0
    client.close()


def test_async_pools_are_found_too(tracked_pools: list[Any], mongo: MongoServer) -> None:
    import asyncio

    import pymongo

    async def work() -> None:
        client: Any = pymongo.AsyncMongoClient(mongo.uri)
        await client.admin.command("ping")
        await client.close()

    asyncio.run(work())
    assert [pool.address for pool in tracked_pools] == [("127.0.0.1", mongo.port)]


def test_untracking_gives_the_pool_classes_their_own_constructor_back() -> None:
    from pymongo.asynchronous.pool import Pool as AsyncPool
    from pymongo.synchronous.pool import Pool

    originals = (Pool.__init__, AsyncPool.__init__)
    pymongo_driver.track_pools(lambda pool: None)
    assert (Pool.__init__, AsyncPool.__init__) != originals
    pymongo_driver.track_pools(lambda pool: None)  # a second call wraps once, not twice
    assert Pool.__init__.__wrapped__ is originals[0]  # type: ignore[attr-defined]
    pymongo_driver.untrack_pools()
    assert (Pool.__init__, AsyncPool.__init__) == originals


def test_a_pool_without_the_counters_is_reported() -> None:
    with pytest.raises(InternalsChanged, match=r"pymongo no longer has Pool\.opts"):
        pymongo_driver.pool_counts(mock.Mock(spec=["closed"], closed=False))


def test_a_forked_child_reads_none_of_its_parents_connections(
    tracked_pools: list[Any], mongo: MongoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool copied into a forked child still records its parent's pid until its first
    checkout there resets it (pymongo's own fork check); seen from another pid, it holds
    none of the connections it counts. (The test changes the pid the pool is compared
    with rather than forking: a fork of this multi-threaded test process, with gRPC
    loaded, can hang in the child.)"""
    import pymongo

    client: Any = pymongo.MongoClient(mongo.uri, maxPoolSize=4)
    client.admin.command("ping")
    (pool,) = tracked_pools
    parent = pymongo_driver.pool_counts(pool)
    assert parent is not None
    assert parent.idle >= 1
    monkeypatch.setattr(os, "getpid", lambda: pool.pid + 1)
    assert pymongo_driver.pool_counts(pool) == (0, 0, 0, 4)
    monkeypatch.undo()
    assert pymongo_driver.pool_counts(pool) == parent
    client.close()


def test_untracking_leaves_a_wrapper_made_on_top_of_obss() -> None:
    from pymongo.synchronous.pool import Pool

    original = Pool.__init__
    pymongo_driver.track_pools(lambda pool: None)
    obs_wrapper = Pool.__init__

    def theirs(self: Any, *args: Any, **kwargs: Any) -> None:
        obs_wrapper(self, *args, **kwargs)

    Pool.__init__ = theirs  # type: ignore[method-assign]
    try:
        pymongo_driver.untrack_pools()
        assert Pool.__init__ is theirs
    finally:
        Pool.__init__ = original  # type: ignore[method-assign]


def test_the_event_readers_read_what_the_public_properties_do(mongo: MongoServer) -> None:
    """On the events a real client publishes: a find, a write, a failed command."""
    import pymongo
    from pymongo import monitoring
    from pymongo.errors import OperationFailure

    class Recording(monitoring.CommandListener):
        def __init__(self) -> None:
            self.events: list[Any] = []

        def started(self, event: Any) -> None:
            self.events.append(event)

        succeeded = failed = started

    recording = Recording()
    client: Any = pymongo.MongoClient(mongo.uri, event_listeners=[recording])
    client.shop.users.insert_one({"email": "a@b.c"})
    client.shop.users.find_one({"email": "a@b.c"})
    with pytest.raises(OperationFailure):
        client.shop.command("noSuchCommand")
    client.close()
    readers, public = pymongo_driver.event_readers(), pymongo_driver.public_event_readers()
    kinds = {
        monitoring.CommandStartedEvent: 0,
        monitoring.CommandSucceededEvent: 1,
        monitoring.CommandFailedEvent: 2,
    }
    seen = set()
    for event in recording.events:
        kind = kinds[type(event)]
        seen.add(kind)
        assert readers[kind](event) == public[kind](event)
    assert seen == {0, 1, 2}


def test_events_whose_slots_moved_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from operator import attrgetter

    moved = pymongo_driver._SLOTS._replace(succeeded=attrgetter("_CommandEvent__moved"))
    monkeypatch.setattr(pymongo_driver, "_SLOTS", moved)
    with pytest.raises(InternalsChanged, match=r"pymongo no longer has monitoring\._CommandEvent"):
        pymongo_driver.event_readers()
