"""Invalid definitions stop obs provision before any request, naming definition and field."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from obs import catalog
from obs.catalog import Emitter, Kind, Metric, attr
from obs.dashboards import Dashboard, Note, QueryValue, Timeseries, avg, call, count, p95, rate
from obs.monitors import Monitor, Thresholds, forecast, maximum
from obs.provision.problems import DefinitionError
from obs.provision.render_dashboard import render_dashboard
from obs.provision.validate import validate_all, validate_dashboard, validate_monitor
from support.datadog_standin import DatadogStandIn
from support.provision_run import provision, write_definitions

HEADER = """
from obs import catalog
from obs.catalog import attr, Metric, Kind, Emitter
from obs.dashboards import ENV, Dashboard, Note, Timeseries, avg, p95, rate
from obs.monitors import Monitor, Thresholds
"""


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn().start()
    yield server
    server.stop()


def _monitor(**changes: object) -> Monitor:
    fields: dict[str, object] = {
        "key": "t.latency",
        "name": "Latency on {{db.collection.name.name}}",
        "query": p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,)),
        "comparator": ">",
        "thresholds": Thresholds(critical=0.5, warning=0.25),
        "message": "Slow {{db.collection.name.name}}.",
    }
    fields.update(changes)
    return Monitor(**fields)  # type: ignore[arg-type]


def messages(problems: list) -> list[str]:
    return [str(p) for p in problems]


def test_a_valid_monitor_has_no_problems() -> None:
    assert validate_monitor(_monitor()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"thresholds": Thresholds(critical=0.5, warning=0.7)},
            "monitor t.latency: thresholds.warning: 0.7 must be below critical (0.5) for a > alert",
        ),
        (
            {"comparator": "<", "thresholds": Thresholds(critical=0.5, warning=0.25)},
            "monitor t.latency: thresholds.warning: 0.25 must be above critical (0.5)",
        ),
        (
            {"thresholds": Thresholds(critical=0.5, critical_recovery=0.6)},
            "monitor t.latency: thresholds.critical_recovery: 0.6 must be below critical",
        ),
        (
            {"env_thresholds": {"prod": Thresholds(critical=0.1, warning=0.2)}},
            "monitor t.latency: env_thresholds['prod'].warning: 0.2 must be below critical",
        ),
        (
            {"message": "Slow {{db.operation.name.name}}."},
            "monitor t.latency: message: {{db.operation.name.name}} needs the query grouped by",
        ),
        ({"priority": 9}, "monitor t.latency: priority: must be 1 (highest) to 5"),
        ({"window": "5m"}, "monitor t.latency: window: '5m' is not last_<N>m|h|d|w"),
        (
            {"window": "next_1w"},
            "monitor t.latency: window: 'next_1w': only a forecast() monitor looks ahead",
        ),
        (
            {"query": forecast(maximum(catalog.MONGO_COLLECTION_SIZE)), "window": "last_1w"},
            "monitor t.latency: window: 'last_1w': a forecast monitor looks ahead: next_",
        ),
        ({"tags": ("managed-by:obs",)}, "monitor t.latency: tags: 'managed-by:obs' is not"),
        ({"key": "Has Spaces"}, "monitor Has Spaces: key: use lowercase letters"),
        (
            {"time_aggregation": "avg"},
            "monitor t.latency: query: a percentile is monitored alone, with time_aggregation",
        ),
        (
            {"query": p95(catalog.CACHE_REQUESTS)},
            "monitor t.latency: query: p95 needs a histogram; obs.cache.requests is a counter",
        ),
        (
            {"query": p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.CACHE_NAME,))},
            "monitor t.latency: query: db.client.operation.duration has no attribute 'cache.name'",
        ),
        (
            {"query": avg(catalog.REDIS_MEMORY_USED, variables=("env",))},
            "monitor t.latency: query: $env: monitors have no template variables",
        ),
        (
            {"query": call("timeshift", avg(catalog.REDIS_MEMORY_USED)), "time_aggregation": "avg"},
            "monitor t.latency: query: timeshift(expression, number) takes other arguments",
        ),
        (
            {"thresholds": Thresholds(critical=math.inf)},
            "monitor t.latency: thresholds.critical: inf is not a finite number",
        ),
        (
            {"query": avg(Metric("my.own.metric", Kind.GAUGE, "1", "x", (), Emitter.AGENT))},
            "monitor t.latency: query: 'my.own.metric' is not a metric in obs's catalog",
        ),
        (
            # Same name as a catalog entry, but not the catalog's object: still refused.
            {
                "query": avg(
                    Metric("redis.memory.used", Kind.GAUGE, "By", "x", ("bogus",), Emitter.AGENT)
                )
            },
            "monitor t.latency: query: 'redis.memory.used' is not a metric in obs's catalog",
        ),
    ],
)
def test_monitor_rules(changes: dict[str, object], expected: str) -> None:
    found = messages(validate_monitor(_monitor(**changes)))
    assert any(m.startswith(expected) for m in found), found


def test_dashboard_rules() -> None:
    duration = catalog.DB_CLIENT_OPERATION_DURATION
    bad = Dashboard(
        key="t.board",
        title="Board",
        widgets=(
            Timeseries("undefined variable", (p95(duration, variables=("service",)),)),
            Timeseries("rate of a gauge", (rate(catalog.REDIS_MEMORY_USED),)),
            Timeseries("typo", (call("per_secnd", count(duration, where={"error.type": "a b"})),)),
            QueryValue("two series", (avg(catalog.REDIS_MEMORY_USED), count(duration))),
            Note("  "),
        ),
        teams=("a", "b", "c", "d", "e", "f"),
    )
    found = messages(validate_dashboard(bad))
    assert found == [
        "dashboard t.board: teams: Datadog takes at most 5 teams",
        "dashboard t.board: widgets[0].series[0]: uses $service, which the dashboard does not "
        "define",
        "dashboard t.board: widgets[1].series[0]: as_count/as_rate need a counter; "
        "redis.memory.used is a gauge",
        "dashboard t.board: widgets[2].series[0]: function 'per_secnd' is unknown",
        "dashboard t.board: widgets[2].series[0]: tag value 'a b' is not valid",
        "dashboard t.board: widgets[3].series: a query value shows one series",
        "dashboard t.board: widgets[4].content: is empty",
    ]


def test_duplicate_keys_are_refused() -> None:
    one = _monitor()
    found = messages(validate_all([], [one, _monitor(name="Other")]))
    assert found == ["monitor t.latency: key: two monitors use the key 't.latency'"]


def test_datadog_models_refuse_what_the_api_would() -> None:
    bad_align = Dashboard("t.align", "Align", (Note("x", text_align="middle"),))  # type: ignore[arg-type]
    with pytest.raises(DefinitionError) as caught:
        render_dashboard(bad_align, env=None)
    assert str(caught.value) == (
        "dashboard t.align: widgets[0].definition.text_align: value not allowed by Datadog's API"
    )


def test_invalid_definitions_make_no_request(standin: DatadogStandIn, tmp_path: Path) -> None:
    source = write_definitions(
        tmp_path,
        HEADER
        + """
BOARD = Dashboard("t.board", "Board", (
    Timeseries("p95", (p95(catalog.DB_CLIENT_OPERATION_DURATION, variables=("env",)),)),))
SLOW = Monitor("t.slow", "Slow", p95(catalog.DB_CLIENT_OPERATION_DURATION), ">",
               Thresholds(critical=0.5, warning=0.9), "Slow.")
OWN = Monitor("t.own", "Own", avg(Metric("my.metric", Kind.GAUGE, "1", "", (), Emitter.AGENT)),
              ">", Thresholds(critical=1), "Own.")
""",
    )
    for action in ("plan", "apply"):
        run = (
            provision(standin, action, "--yes", "--from", source)
            if action == "apply"
            else (provision(standin, action, "--from", source))
        )
        assert run.rc == 1
        assert "invalid: dashboard t.board: widgets[0].series[0]: uses $env" in run.err
        assert "invalid: monitor t.slow: thresholds.warning: 0.9 must be below critical" in run.err
        assert "invalid: monitor t.own: query: 'my.metric' is not a metric in obs's catalog" in (
            run.err
        )
        assert "nothing was sent to Datadog" in run.err
    assert standin.log == []


def test_broken_sources_are_named(standin: DatadogStandIn, tmp_path: Path) -> None:
    broken = write_definitions(tmp_path, "raise RuntimeError('boom')\n", "broken.py")
    run = provision(standin, "plan", "--from", broken)
    assert run.rc == 1
    assert f"--from {broken}: running it failed: RuntimeError('boom')" in run.err
    missing = provision(standin, "plan", "--from", "no_such_module_here")
    assert missing.rc == 1
    assert "--from no_such_module_here: neither a file, a folder nor an importable module" in (
        missing.err
    )
    twice = write_definitions(
        tmp_path, HEADER + "A = Dashboard('obs.mongo', 'Mine', (Note('x'),))\n", "twice.py"
    )
    clash = provision(standin, "plan", "--from", twice)
    assert clash.rc == 1
    assert "dashboard obs.mongo is defined twice: in obs.dashboards.shipped and in" in clash.err
    assert standin.log == []


def test_datadog_monitor_validation_runs_in_plan(standin: DatadogStandIn) -> None:
    standin.reject_validation("obs.bullmq.queue.paused", "Metric not found for this org")
    run = provision(standin, "plan")
    assert run.rc == 1
    assert (
        "invalid: monitor obs.queues.paused: query: Datadog: Metric not found for this org"
        in run.err
    )
    validations = [e for e in standin.log if e.path == "/api/v1/monitor/validate"]
    # every metric monitor; the SLOs' burn-rate alerts wait for their SLOs to be created
    assert len(validations) == 15
    assert [e for e in standin.writes() if e.path != "/api/v1/monitor/validate"] == []
