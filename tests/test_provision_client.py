"""The Datadog HTTP client: where it calls, pacing from rate-limit headers, what it retries,
and that keys never show."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obs.provision.client import (
    DatadogClient,
    DatadogError,
    Endpoint,
    OutcomeUnknown,
    endpoint_from_env,
)
from obs.provision.pacing import Pacer
from obs.provision.problems import ProvisionError
from support.datadog_standin import API_KEY, APP_KEY, DatadogStandIn

KEYS = {"DD_API_KEY": "api-secret-1", "DD_APP_KEY": "app-secret-2"}


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def client(standin: DatadogStandIn) -> DatadogClient:
    return DatadogClient(Endpoint(standin.url, API_KEY, APP_KEY), backoff=0.01)


def test_endpoint_from_site_url_or_flag() -> None:
    assert endpoint_from_env(None, KEYS).base_url == "https://api.datadoghq.com"
    assert endpoint_from_env(None, {**KEYS, "DD_SITE": "us5.datadoghq.com"}).base_url == (
        "https://api.us5.datadoghq.com"
    )
    proxied = {**KEYS, "OBS_DATADOG_API_URL": "http://proxy:8080/dd/"}
    assert endpoint_from_env(None, proxied).base_url == "http://proxy:8080/dd"
    assert endpoint_from_env("http://flag:1", proxied).base_url == "http://flag:1"
    endpoint = endpoint_from_env(None, KEYS)
    assert "secret" not in repr(endpoint)
    assert "secret" not in str(endpoint)


def test_endpoint_problems_are_named() -> None:
    with pytest.raises(ProvisionError, match="DD_APP_KEY not set"):
        endpoint_from_env(None, {"DD_API_KEY": "x"})
    with pytest.raises(ProvisionError, match="--api-url: 'ftp://x' is not an http"):
        endpoint_from_env("ftp://x", KEYS)


def test_pacer_spreads_the_last_requests_over_the_time_left() -> None:
    now = [100.0]
    slept: list[float] = []
    pacer = Pacer(clock=lambda: now[0], sleep=slept.append, headroom=0.2)
    route = "POST /api/v1/monitor"
    headers = {
        "X-RateLimit-Name": "monitors",
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Period": "10",
        "X-RateLimit-Reset": "10",
    }
    pacer.observe(route, {**headers, "X-RateLimit-Remaining": "50"})
    pacer.before(route)
    assert slept == []  # plenty left: no waiting
    pacer.observe(route, {**headers, "X-RateLimit-Remaining": "4"})
    pacer.before(route)
    assert slept == [2.0]  # 10 s left for 4 requests: one every 2 s
    pacer.observe(route, {**headers, "X-RateLimit-Remaining": "0"})
    pacer.before(route)
    assert slept[-1] == 10.0  # nothing left: wait for the reset
    now[0] += 11
    pacer.before(route)
    assert len(slept) == 2  # the window has reset
    pacer.before("GET /api/v1/dashboard")  # a route it knows nothing about
    assert len(slept) == 2


def test_reads_retry_5xx_and_connection_drops(
    standin: DatadogStandIn, client: DatadogClient
) -> None:
    standin.inject("500", "GET", "/api/v1/dashboard", times=2)
    standin.inject("drop", "GET", "/api/v1/monitor")
    assert client.get("/api/v1/dashboard") == {"dashboards": []}
    assert client.get("/api/v1/monitor") == []
    assert [e.status for e in standin.log] == [500, 500, 200, 0, 200]


def test_creates_are_not_blindly_repeated(standin: DatadogStandIn, client: DatadogClient) -> None:
    body = {
        "type": "query alert",
        "query": "avg(last_5m):avg:redis.memory.used{*} > 1",
        "options": {"thresholds": {"critical": 1}},
    }
    standin.inject("500", "POST", "/api/v1/monitor")
    with pytest.raises(OutcomeUnknown, match="POST /api/v1/monitor: 500"):
        client.post("/api/v1/monitor", body)
    standin.inject("drop", "POST", "/api/v1/monitor")
    with pytest.raises(OutcomeUnknown, match="connection failed"):
        client.post("/api/v1/monitor", body)
    assert len(standin.state.monitors) == 1  # the dropped one was made; nothing was repeated
    assert client.post("/api/v1/monitor/validate", body, idempotent=True) == {}


def test_refusals_carry_datadogs_reason_and_never_the_keys(standin: DatadogStandIn) -> None:
    client = DatadogClient(Endpoint(standin.url, API_KEY, "wrong-app-key-77"))
    with pytest.raises(DatadogError) as caught:
        client.get("/api/v1/dashboard")
    assert str(caught.value) == "GET /api/v1/dashboard: 403: Forbidden"
    right = DatadogClient(Endpoint(standin.url, API_KEY, APP_KEY))
    with pytest.raises(DatadogError) as missing:
        right.get("/api/v1/dashboard/abc-def-ghi")
    assert missing.value.status == 404
    assert "Dashboard abc-def-ghi not found" in str(missing.value)
