"""obs preview's reading side: every catalog metric survives obs's own Prometheus exposition
and comes back with its attribute keys, foreign series are ignored, and the store stays
bounded (ring buffers, a series cap, stale series dropped)."""

from __future__ import annotations

import math

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from obs import catalog
from obs.catalog import Kind
from obs.export.prometheus_text import render
from obs.preview.mapping import SampleNames
from obs.preview.scrape import Histogram, Reading, Scrape, ScrapeError, parse, read
from obs.preview.store import Store

NAMES = SampleNames(catalog.CATALOG.values())


def _exposition_of_every_metric() -> str:
    """obs's exposition of one point of every catalog metric, attributes set to "v-<key>"."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    for metric in catalog.CATALOG.values():
        attributes = {key: f"v-{key}" for key in metric.attributes}
        if metric.kind is Kind.HISTOGRAM:
            metric.create_histogram(meter).record(0.02, attributes)
        elif metric.kind is Kind.COUNTER:
            metric.create_counter(meter).add(3, attributes)
        elif metric.kind is Kind.UP_DOWN_COUNTER:
            metric.create_up_down_counter(meter).add(-2, attributes)
        else:
            metric.create_gauge(meter).set(7.5, attributes)
    return render(reader.get_metrics_data()).decode()


def test_every_catalog_metric_comes_back_from_obs_exposition_with_its_attributes() -> None:
    scrape = parse(_exposition_of_every_metric(), NAMES)
    assert scrape.ignored == 0
    found = {r.metric.name: r for r in scrape.readings}
    assert sorted(found) == sorted(catalog.CATALOG)
    for name, reading in found.items():
        metric = catalog.CATALOG[name]
        assert dict(reading.tags) == {k: f"v-{k}" for k in metric.attributes}, name
        if metric.kind is Kind.HISTOGRAM:
            assert isinstance(reading.value, Histogram)
            assert reading.value.count == 1
            assert reading.value.bounds == (*(metric.buckets or ()), math.inf)
        else:
            expected = {Kind.COUNTER: 3.0, Kind.UP_DOWN_COUNTER: -2.0, Kind.GAUGE: 7.5}
            assert reading.value == expected[metric.kind], name


def test_foreign_series_are_ignored_and_resource_attributes_become_tags() -> None:
    text = """# TYPE target_info gauge
target_info{service_name="api",deployment_environment_name="prod",host_name="h1"} 1
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12
# a metric named like an obs one but with another unit is not obs's
redis_memory_used 5
redis_memory_used_bytes{server_address="r1",service_name="own"} 1024 1700000000000
# TYPE obs_agent_collection_duration_seconds histogram
obs_agent_collection_duration_seconds_bucket{obs_collector="redis",le="0.1"} 2
obs_agent_collection_duration_seconds_sum{obs_collector="redis"} 0.1
obs_agent_collection_duration_seconds_count{obs_collector="redis"} 2
"""
    scrape = parse(text, NAMES)
    # process_cpu_seconds_total, redis_memory_used, and the histogram without +Inf
    assert scrape.ignored == 3
    [memory] = scrape.readings
    assert memory.metric is catalog.REDIS_MEMORY_USED
    assert memory.time == 1_700_000_000.0
    # undeclared labels keep their Prometheus name; resource tags fill what is missing
    assert dict(memory.tags) == {
        "server.address": "r1",
        "service_name": "own",
        "env": "prod",
        "service": "api",
        "host": "h1",
    }


def test_a_source_that_is_not_prometheus_text_or_not_there_is_named_without_its_password() -> None:
    with pytest.raises(ScrapeError, match=r"not Prometheus text"):
        parse("this is { not metrics", NAMES)
    with pytest.raises(ScrapeError) as failed:
        read("http://user:hunter2@127.0.0.1:9/metrics", NAMES, timeout=1.0)
    assert "hunter2" not in str(failed.value)
    assert "http://user:***@127.0.0.1:9/metrics" in str(failed.value)


def _memory(value: float, address: str = "r1") -> Reading:
    return Reading(catalog.REDIS_MEMORY_USED, (("server.address", address),), value)


def test_the_store_keeps_a_ring_of_rounds_and_refuses_series_beyond_its_cap() -> None:
    store = Store(capacity=3, max_series=2)
    for i in range(5):
        r = store.begin_round(float(i))
        readings = tuple(_memory(float(i), f"r{j}") for j in range(3))
        store.add(r, "src", Scrape(readings), float(i))
    assert [r.index for r in store.rounds()] == [2, 3, 4]
    kept = store.series(catalog.REDIS_MEMORY_USED)
    assert len(kept) == 2
    assert all([e.value for e in s.entries] == [2.0, 3.0, 4.0] for s in kept)
    [status] = store.sources()
    assert status.refused == 1
    assert status.series == 3
    # a series no source serves any more is dropped once it is older than the window
    for i in range(5, 8):
        store.add(store.begin_round(float(i)), "src", Scrape(()), float(i))
    assert store.series_count() == 0
    assert store.series(catalog.REDIS_MEMORY_USED) == []


def test_a_new_counter_series_starts_from_zero_only_if_its_source_answered_just_before() -> None:
    errors = catalog.AGENT_COLLECTION_ERRORS
    store = Store()
    store.add(store.begin_round(0.0), "src", Scrape(()), 0.0)
    r = store.begin_round(10.0)
    store.add(r, "src", Scrape((Reading(errors, (), 4.0),)), 10.0)
    [fresh] = store.series(errors)
    assert [(e.round, e.value) for e in fresh.entries] == [(0, 0.0), (1, 4.0)]
    # a source read for the first time: its counters' history is unknown, no zero
    store.add(r, "other", Scrape((Reading(errors, (("obs.target", "x"),), 9.0),)), 10.0)
    first = next(s for s in store.series(errors) if s.tags)
    assert [e.value for e in first.entries] == [9.0]
    # nor after a gap: what the counter held before the missed round is unknown
    store.begin_round(20.0)
    store.failed("src", "timed out")
    store.add(
        store.begin_round(30.0),
        "src",
        Scrape((Reading(errors, (("obs.target", "y"),), 6.0),)),
        30.0,
    )
    after_gap = next(s for s in store.series(errors) if s.tags == (("obs.target", "y"),))
    assert [e.value for e in after_gap.entries] == [6.0]
    # a gauge never gets one: it was not 0 before it appeared
    store.add(store.begin_round(40.0), "src", Scrape((_memory(5.0),)), 40.0)
    assert [e.value for e in store.series(catalog.REDIS_MEMORY_USED)[0].entries] == [5.0]


def test_a_repeated_sample_timestamp_adds_nothing_and_a_failure_is_kept() -> None:
    store = Store()
    stamped = Reading(catalog.REDIS_MEMORY_USED, (), 1.0, time=100.0)
    for i in range(3):
        store.add(store.begin_round(float(i)), "src", Scrape((stamped,)), float(i))
    assert len(store.series(catalog.REDIS_MEMORY_USED)[0].entries) == 1
    store.failed("http://u:pw@h:1/metrics", "h:1: connection refused")
    bad = store.sources()[-1]
    assert bad.url == "http://u:***@h:1/metrics"
    assert bad.error == "h:1: connection refused"


def _text(value: str) -> str:
    queue = 'bullmq_queue_name="q",bullmq_queue_prefix="bull"'
    return f"""redis_memory_used_bytes{{server_address="r1"}} {value}
redis_keyspace_hits_total{{server_address="r1"}} {value}
bullmq_queue_jobs{{{queue},bullmq_queue_jobs_state="wait"}} {value}
obs_bullmq_queue_oldest_waiting_age_seconds{{{queue}}} {value}
db_client_operation_duration_seconds_bucket{{le="0.1"}} {value}
db_client_operation_duration_seconds_bucket{{le="+Inf"}} {value}
db_client_operation_duration_seconds_sum {value}
db_client_operation_duration_seconds_count {value}
"""


def test_values_that_cannot_be_drawn_are_ignored_and_every_page_still_builds() -> None:
    import json

    from obs.dashboards.shipped import DASHBOARDS
    from obs.preview.model import dashboard_model

    for value in ("+Inf", "-Inf", "NaN", "1e308"):
        scrape = parse(_text(value), NAMES)
        assert scrape.readings == ()
        assert scrape.ignored == 5  # four values and one histogram
    store = Store(capacity=10)
    for index, value in enumerate(["1", "+Inf", "2", "-Inf", "1e308", "3", "NaN", "4"]):
        now = 1_700_000_000.0 + 10 * index
        store.add(store.begin_round(now), "src", parse(_text(value), NAMES), now)
    for dashboard in DASHBOARDS:
        json.dumps(dashboard_model(dashboard, store, {}), allow_nan=False)


def test_a_page_that_cannot_be_built_answers_500_instead_of_hanging_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import urllib.error
    import urllib.request

    from obs.dashboards.shipped import DASHBOARDS
    from obs.preview import server as preview_server

    def broken(*args: object) -> object:
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(preview_server, "dashboard_model", broken)
    httpd = preview_server.make_server("127.0.0.1", 0, DASHBOARDS, Store(), 5.0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        url = f"http://127.0.0.1:{port}/api/dashboards/{DASHBOARDS[0].key}"
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(url, timeout=5)
        assert failed.value.code == 500
    finally:
        httpd.shutdown()
        httpd.server_close()
