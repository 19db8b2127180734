"""Replay of bodies recorded against the real Datadog API (tests/fixtures/datadog/, from
datadog-api-client-python's cassettes): the stand-in answers as Datadog did, and obs reads
what Datadog really returns."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obs.provision.client import DatadogClient, Endpoint
from obs.provision.normalize import normalize_dashboard, normalize_monitor
from support.datadog_standin import API_KEY, APP_KEY, DatadogStandIn
from support.provision_run import provision

RECORDED = Path(__file__).parent / "fixtures" / "datadog"


def recorded(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return found


def with_query(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The recorded body with one metric name swapped for a catalog metric's."""
    found: dict[str, Any] = json.loads(json.dumps(body).replace(old, new))
    return found


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn(validate_responses=True).start()
    yield server
    server.stop()
    assert server.violations == []


def test_the_standin_stores_a_metric_alert_as_datadog_did(standin: DatadogStandIn) -> None:
    cassette = recorded("metric_monitor_create.json")
    client = DatadogClient(Endpoint(standin.url, API_KEY, APP_KEY))
    created = client.post("/api/v1/monitor", cassette["request"])
    real = cassette["response"]
    assert created["type"] == real["type"] == "query alert"
    # Every field Datadog returned, the stand-in returns (read-only ones included).
    assert set(real) - {"created_at"} <= set(created)
    ignored = {"id", "created", "modified", "creator", "org_id"}
    ours = {k: v for k, v in normalize_monitor(created).items() if k not in ignored}
    theirs = {k: v for k, v in normalize_monitor(real).items() if k not in ignored}
    assert ours == theirs


def test_the_standin_fills_a_dashboard_as_datadog_did(standin: DatadogStandIn) -> None:
    cassette = recorded("query_value_percentile_dashboard.json")
    client = DatadogClient(Endpoint(standin.url, API_KEY, APP_KEY))
    created = client.post("/api/v1/dashboard", cassette["request"])
    assert normalize_dashboard(created) == normalize_dashboard(cassette["response"])
    assert set(cassette["response"]) <= set(created)


def test_a_recorded_dashboard_imports_and_plans_with_no_changes(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    body = with_query(
        recorded("query_value_percentile_dashboard.json")["response"],
        "dist.dd.dogweb.latency",
        "db.client.operation.duration",
    )
    standin.load_recorded("dashboard", body)
    source = tmp_path / "recorded.py"
    run = provision(standin, "import", body["id"], "-o", source)
    assert run.rc == 0, run.text
    plan = provision(standin, "plan", "--no-defaults", "--from", source)
    assert plan.rc == 0, plan.text


def test_import_refuses_what_plan_would_reject(standin: DatadogStandIn) -> None:
    # The recorded p90 widget over a gauge: plan says "p90 needs a histogram".
    gauge = with_query(
        recorded("query_value_percentile_dashboard.json")["response"],
        "dist.dd.dogweb.latency",
        "redis.memory.used",
    )
    standin.load_recorded("dashboard", gauge)
    run = provision(standin, "import", gauge["id"])
    assert run.rc == 1
    lines = run.err.strip().splitlines()
    assert lines == [
        f"obs provision import: dashboard {gauge['id']}: widgets[0].series[0]: p90 needs a "
        "histogram; redis.memory.used is a gauge"
    ]
    # The recorded monitor, grouped by a tag the metric does not carry.
    monitor = copy.deepcopy(recorded("metric_monitor_create.json")["response"])
    monitor["query"] = "avg(last_5m):avg:redis.memory.used{*} by {region} > 0.5"
    standin.load_recorded("monitor", monitor)
    run = provision(standin, "import", str(monitor["id"]))
    assert run.rc == 1
    assert run.err.strip().splitlines() == [
        f"obs provision import: monitor {monitor['id']}: query: redis.memory.used has no "
        "attribute 'region' (it has: server.address, server.port)"
    ]
