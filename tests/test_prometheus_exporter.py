"""OTEL_METRICS_EXPORTER=prometheus: the service's own /metrics endpoint."""

from __future__ import annotations

import re
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator

import pytest

import obs
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]


def scrape(status: Status) -> str:
    found = re.search(r"http://[^ ]+/metrics", status["metrics"].detail)
    assert found, status["metrics"].detail
    url = found.group(0).replace("localhost", "127.0.0.1")
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return str(response.read().decode())


def test_the_standard_variables_start_a_metrics_endpoint(
    start_obs: StartObs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "prometheus")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
    status = start_obs()
    obs.cache.hit("kpi")
    obs.cache.miss("kpi")
    with obs.job("exports"):
        pass
    text = scrape(status)
    assert 'obs_cache_requests_total{cache_name="kpi",cache_result="hit"} 1' in text
    assert "# TYPE messaging_process_duration_seconds histogram" in text
    assert re.search(r'messaging_process_duration_seconds_bucket\{.*le="\+Inf"\} 1', text)
    assert 'obs_instrumentation_errors_total{obs_feature="pymongo"} 0' in text


def test_otlp_delta_and_prometheus_cumulative_side_by_side(
    start_obs: StartObs, otlp: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    status = start_obs(metrics_exporter="otlp,prometheus", prometheus_port=0)
    assert "OTLP and Prometheus" in status["metrics"].detail
    obs.cache.hit("kpi")
    assert obs.flush()
    obs.cache.hit("kpi")
    assert obs.flush()
    # the OTLP reader resets its own cells each export; the endpoint keeps the total
    assert [p.value for p in otlp.points("obs.cache.requests")] == [1, 1]
    assert 'obs_cache_requests_total{cache_name="kpi",cache_result="hit"} 2' in scrape(status)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port of 127.0.0.1 that something else listens on for the test's duration."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_a_taken_port_turns_metrics_off_not_the_service(
    start_obs: StartObs, taken_port: int
) -> None:
    status = start_obs(
        metrics_exporter="prometheus", prometheus_host="127.0.0.1", prometheus_port=taken_port
    )
    assert not status["metrics"].on
    assert "Address already in use" in status["metrics"].detail
    obs.cache.hit("kpi")  # still harmless


def test_a_taken_port_leaves_otlp_metrics_running(
    start_obs: StartObs, otlp: GrpcReceiver, caplog: pytest.LogCaptureFixture, taken_port: int
) -> None:
    status = start_obs(
        metrics_exporter="otlp,prometheus", prometheus_host="127.0.0.1", prometheus_port=taken_port
    )
    # a second pre-fork worker finds the port taken: it still exports over OTLP
    assert status["metrics"].on
    assert "Prometheus" not in status["metrics"].detail
    assert "metrics go over OTLP only" in caplog.text
    obs.cache.hit("kpi")
    assert obs.flush()
    assert otlp.points("obs.cache.requests")
    readers = [t for t in threading.enumerate() if t.name == "OtelPeriodicExportingMetricReader"]
    assert len(readers) == 1


def test_prometheus_only_with_a_taken_port_starts_no_export_thread(
    start_obs: StartObs, taken_port: int
) -> None:
    before = {t.ident for t in threading.enumerate()}
    status = start_obs(
        metrics_exporter="prometheus", prometheus_host="127.0.0.1", prometheus_port=taken_port
    )
    assert not status["metrics"].on
    started = [t.name for t in threading.enumerate() if t.ident not in before]
    assert "OtelPeriodicExportingMetricReader" not in started
