"""Hot-path metric cells: exact aggregation, both temporalities, bounded series, and the
fallback to the application's own MeterProvider."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

import obs
from obs import catalog
from obs.runtime import hot_metrics
from obs.runtime.hot_metrics import Family, HotMetrics
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver

StartObs = Callable[..., Status]
CUMULATIVE = {
    SdkHistogram: AggregationTemporality.CUMULATIVE,
    Counter: AggregationTemporality.CUMULATIVE,
}
DELTA = {SdkHistogram: AggregationTemporality.DELTA, Counter: AggregationTemporality.DELTA}


def test_histogram_buckets_have_inclusive_upper_bounds() -> None:
    family = Family(catalog.DB_CLIENT_OPERATION_DURATION)
    cell = family.cell({"db.namespace": "a"})
    for value in (0.0005, 0.001, 0.0011, 0.05, 20.0):
        cell.record(value)
    (metric,) = HotMetrics([family]).collect(CUMULATIVE)
    (point,) = metric.data.data_points
    assert list(point.explicit_bounds) == [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]
    assert list(point.bucket_counts) == [2, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    assert (point.count, point.min, point.max) == (5, 0.0005, 20.0)
    assert point.sum == pytest.approx(20.0526)


def test_concurrent_recording_loses_nothing() -> None:
    family = Family(catalog.CACHE_REQUESTS)
    cell = family.cell({"cache.name": "kpi", "cache.result": "hit"})

    def work() -> None:
        for _ in range(20_000):
            cell.add(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (metric,) = HotMetrics([family]).collect(CUMULATIVE)
    assert metric.data.data_points[0].value == 80_000


def test_delta_reports_each_interval_once_cumulative_keeps_totals() -> None:
    family = Family(catalog.CACHE_REQUESTS)
    cell = family.bound(("kpi", True), dict, {"cache.name": "kpi", "cache.result": "hit"})
    cell.add(3)
    first = HotMetrics([family]).collect(DELTA)[0].data.data_points[0]
    cell.add(2)
    second = HotMetrics([family]).collect(DELTA)[0].data.data_points[0]
    assert (first.value, second.value) == (3, 2)
    assert second.start_time_unix_nano == first.time_unix_nano
    assert HotMetrics([family]).collect(DELTA) == []  # nothing new: nothing reported
    cell.add(1)
    totals = Family(catalog.CACHE_REQUESTS)
    totals.cell({"x": "y"}).add(5)
    totals.cell({"x": "y"}).add(5)
    assert HotMetrics([totals]).collect(CUMULATIVE)[0].data.data_points[0].value == 10


def test_series_are_capped_into_an_overflow_series(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hot_metrics, "MAX_CELLS", 3)
    family = Family(catalog.CACHE_REQUESTS)
    for n in range(10):
        family.cell({"cache.name": f"c{n}", "cache.result": "hit"}).add(1)
    (metric,) = HotMetrics([family]).collect(CUMULATIVE)
    values = {tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points}
    assert len(values) == 4
    assert values[(("otel.metric.overflow", True),)] == 7


def test_only_histograms_and_counters_are_hot() -> None:
    with pytest.raises(TypeError, match="only histograms and counters"):
        Family(catalog.REDIS_MEMORY_USED)


def test_delta_temporality_preference_reaches_the_receiver(
    start_obs: StartObs, otlp: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    start_obs()
    obs.cache.hit("kpi")
    assert obs.flush()
    obs.cache.hit("kpi")
    obs.cache.hit("kpi")
    assert obs.flush()
    values = [p.value for p in otlp.points("obs.cache.requests")]
    assert values == [1, 2]
    request = otlp.metric_requests[-1]
    metric = request.resource_metrics[0].scope_metrics[0].metrics[0]
    assert metric.sum.aggregation_temporality == 1  # DELTA


def test_an_application_meter_provider_gets_the_same_metrics(start_obs: StartObs) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(provider)
    status = start_obs()
    assert status["metrics"].detail == "the application's provider"
    obs.cache.miss("kpi")
    with obs.job("exports"):
        pass
    data = reader.get_metrics_data()
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"obs.cache.requests", "messaging.process.duration"} <= names
    provider.shutdown()
