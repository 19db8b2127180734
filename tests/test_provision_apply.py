"""obs provision plan/apply against the stateful Datadog stand-in (every request checked
against Datadog's OpenAPI spec): idempotence, drift, ownership, lost replies, rate limits."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from obs import catalog
from obs.monitors import Monitor
from obs.provision.client import DatadogClient, Endpoint, OutcomeUnknown
from obs.provision.identity import MANAGED_TAG
from support.datadog_standin import API_KEY, APP_KEY, DatadogStandIn, RateLimit
from support.provision_run import provision, write_definitions

TEAM = """
from obs import catalog
from obs.catalog import attr
from obs.dashboards import ENV, Axis, Dashboard, Marker, Note, Timeseries, p95
from obs.monitors import Monitor, Thresholds, count

LATENCY = Dashboard(
    key="team.latency",
    title="Team latency",
    template_variables=(ENV,),
    widgets=(
        Note("Mongo latency for the team."),
        Timeseries("p95 by collection", (
            p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,),
                variables=("env",)),
        ), yaxis=Axis(label="seconds", min="0"), markers=(Marker("y = 0.5", "error dashed"),)),
    ),
)
SLOW = Monitor(
    key="team.slow",
    name="Slow Mongo on {{db.collection.name.name}}",
    query=p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,)),
    comparator=">",
    thresholds=Thresholds(critical=0.5, warning=0.2),
    env_thresholds={"prod": Thresholds(critical=0.3, warning=0.1)},
    message="p95 is {{value}} s on {{db.collection.name.name}}.",
)
EVICTIONS = Monitor(
    key="team.evictions",
    name="Redis evicting",
    query=count(catalog.REDIS_KEYS_EVICTED),
    comparator=">",
    thresholds=Thresholds(critical=100),
    time_aggregation="sum",
    message="Evictions: {{value}}.",
)
"""


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn().start()
    yield server
    server.stop()
    assert server.violations == [], "obs sent a request Datadog's spec or rules refuse"


@pytest.fixture
def team(tmp_path: Path) -> Path:
    return write_definitions(tmp_path, TEAM)


def owned_monitors(standin: DatadogStandIn) -> list[dict]:
    return [m for m in standin.state.monitors.values() if MANAGED_TAG in m["tags"]]


def test_apply_then_plan_is_empty_for_shipped_definitions() -> None:
    standin = DatadogStandIn(validate_responses=True).start()
    try:
        first = provision(standin, "plan")
        assert first.rc == 2, first.text
        # 5 dashboards, 13 monitors, 4 SLOs and their 8 burn-rate alerts
        assert "Plan: 32 to create, 0 to update, 0 to delete, 0 unchanged." in first.out
        applied = provision(standin, "apply", "--yes")
        assert applied.rc == 0, applied.text
        assert "Applied 32 of 32 changes; 0 failed, 0 not attempted." in applied.out
        assert len(standin.state.dashboards) == 5
        assert len(standin.state.monitors) == 23
        assert len(standin.state.slos) == 4
        standin.clear_log()
        again = provision(standin, "plan")
        assert again.rc == 0, again.text
        assert "0 to create, 0 to update, 0 to delete, 32 unchanged" in again.out
        # A plan with nothing to do only reads.
        assert standin.writes() == []
        assert standin.count("GET") > 0
    finally:
        standin.stop()
    assert standin.violations == []


def test_env_sets_tags_thresholds_and_defaults_and_keeps_environments_apart(
    standin: DatadogStandIn, team: Path
) -> None:
    for env in ("prod", "staging"):
        run = provision(standin, "apply", "--yes", "--no-defaults", "--from", team, "--env", env)
        assert run.rc == 0, run.text
    monitors = {
        (m["name"], next(t for t in m["tags"] if t.startswith("env:"))): m
        for m in standin.state.monitors.values()
    }
    prod = monitors[("Slow Mongo on {{db.collection.name.name}}", "env:prod")]
    staging = monitors[("Slow Mongo on {{db.collection.name.name}}", "env:staging")]
    assert prod["query"] == (
        "percentile(last_5m):p95:db.client.operation.duration{env:prod} "
        "by {db.collection.name} > 0.3"
    )
    assert prod["options"]["thresholds"] == {"critical": 0.3, "warning": 0.1}
    assert staging["options"]["thresholds"] == {"critical": 0.5, "warning": 0.2}
    defaults = sorted(
        d["template_variables"][0]["defaults"][0] for d in standin.state.dashboards.values()
    )
    assert defaults == ["prod", "staging"]
    for env in ("prod", "staging"):
        plan = provision(standin, "plan", "--no-defaults", "--from", team, "--env", env, "--prune")
        assert plan.rc == 0, plan.text
    # Pruning one environment with no definitions leaves the other alone.
    empty = write_definitions(team.parent, "", "empty.py")
    pruned = provision(
        standin, "apply", "--yes", "--no-defaults", "--from", empty, "--env", "staging", "--prune"
    )
    assert pruned.rc == 0, pruned.text
    assert {
        t for m in standin.state.monitors.values() for t in m["tags"] if t.startswith("env:")
    } == {"env:prod"}
    assert len(standin.state.dashboards) == 1


def test_out_of_band_edit_shows_in_plan_and_apply_restores_it(
    standin: DatadogStandIn, team: Path
) -> None:
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    monitor = next(m for m in standin.state.monitors.values() if m["name"].startswith("Slow"))
    monitor["query"] = monitor["query"].replace("> 0.5", "> 0.9")
    monitor["options"]["thresholds"]["critical"] = 0.9
    dashboard = next(iter(standin.state.dashboards.values()))
    dashboard["widgets"][1]["definition"]["title"] = "renamed in the UI"
    plan = provision(standin, "plan", "--no-defaults", "--from", team)
    assert plan.rc == 2
    assert f"~ update monitor team.slow (id {monitor['id']})" in plan.out
    assert '-      "critical": 0.9,' in plan.out
    assert '+      "critical": 0.5,' in plan.out
    assert '-        "title": "renamed in the UI",' in plan.out
    assert "1 unchanged" in plan.out
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    assert monitor["id"] in standin.state.monitors
    assert standin.state.monitors[monitor["id"]]["options"]["thresholds"]["critical"] == 0.5
    assert provision(standin, "plan", "--no-defaults", "--from", team).rc == 0


def test_values_datadog_fills_or_its_editor_adds_are_not_drift(
    standin: DatadogStandIn, team: Path
) -> None:
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    dashboard = next(iter(standin.state.dashboards.values()))
    timeseries = dashboard["widgets"][1]["definition"]
    # What saving the dashboard in Datadog's editor adds, all meaning the same as before.
    timeseries.update(title_size="16", title_align="left", legend_layout="auto")
    request = timeseries["requests"][0]
    request["style"] = {"palette": "dog_classic", "line_type": "solid", "line_width": "normal"}
    request["formulas"][0]["formula"] = "(query1)"
    request["queries"][0]["query"] = request["queries"][0]["query"].replace(" by {", "by{")
    dashboard["tags"] = []
    monitor = owned_monitors(standin)[0]
    monitor["tags"] = list(reversed(monitor["tags"]))
    monitor["options"]["renotify_interval"] = None
    plan = provision(standin, "plan", "--no-defaults", "--from", team)
    assert plan.rc == 0, plan.text


def test_prune_deletes_only_what_obs_owns(standin: DatadogStandIn, team: Path) -> None:
    foreign_dashboard = standin.put_dashboard(
        {"title": "Team latency", "layout_type": "ordered", "widgets": [], "description": "mine"}
    )
    foreign_monitor = standin.put_monitor(
        {
            "type": "query alert",
            "name": "Someone's monitor",
            "query": "avg(last_5m):avg:redis.memory.used{*} > 10",
            "options": {"thresholds": {"critical": 10}},
            # Looks like ours, but without managed-by:obs it is not.
            "tags": ["obs-id:team.slow"],
        }
    )
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    assert len(standin.state.dashboards) == 2
    assert len(standin.state.monitors) == 3
    only_note = write_definitions(team.parent, TEAM.split("SLOW = ", maxsplit=1)[0], "smaller.py")
    kept = provision(standin, "plan", "--no-defaults", "--from", only_note)
    assert kept.rc == 0, kept.text
    assert "not in code: monitor team.slow" in kept.out
    assert "--prune deletes it" in kept.out
    pruned = provision(standin, "apply", "--yes", "--prune", "--no-defaults", "--from", only_note)
    assert pruned.rc == 0, pruned.text
    assert "- delete monitor team.slow" in pruned.out
    assert "- delete monitor team.evictions" in pruned.out
    assert foreign_dashboard in standin.state.dashboards
    assert foreign_monitor in standin.state.monitors
    assert len(standin.state.monitors) == 1
    assert len(standin.state.dashboards) == 2
    deleted = {e.path for e in standin.log if e.method == "DELETE"}
    assert all(str(foreign_monitor) not in p and foreign_dashboard not in p for p in deleted)


def test_lost_create_replies_do_not_duplicate_within_a_run(
    standin: DatadogStandIn, team: Path
) -> None:
    standin.inject("drop", "POST", "/api/v1/dashboard")
    standin.inject("drop", "POST", "/api/v1/monitor")
    run = provision(standin, "apply", "--yes", "--no-defaults", "--from", team)
    assert run.rc == 0, run.text
    assert len(standin.state.dashboards) == 1
    assert sorted(m["name"] for m in standin.state.monitors.values()) == [
        "Redis evicting",
        "Slow Mongo on {{db.collection.name.name}}",
    ]
    assert [e.status for e in standin.log].count(0) == 2
    assert provision(standin, "plan", "--no-defaults", "--from", team).rc == 0


def test_a_create_lost_in_an_earlier_run_is_found_not_repeated(
    standin: DatadogStandIn, team: Path
) -> None:
    # An earlier run sent the create; the server made the monitor, the reply never came back
    # and that run died. The next apply must find it by its tags.
    export = team.parent / "export"
    assert provision(None, "export", export, "--no-defaults", "--from", team).rc == 0
    body = json.loads((export / "monitors" / "team.slow.json").read_text())
    client = DatadogClient(Endpoint(standin.url, API_KEY, APP_KEY))
    standin.inject("drop", "POST", "/api/v1/monitor")
    with pytest.raises(OutcomeUnknown):
        client.post("/api/v1/monitor", body)
    assert len(standin.state.monitors) == 1
    run = provision(standin, "apply", "--yes", "--no-defaults", "--from", team)
    assert run.rc == 0, run.text
    assert "create monitor team.slow" not in run.text
    slow = [m for m in standin.state.monitors.values() if "obs-id:team.slow" in m["tags"]]
    assert len(slow) == 1


@pytest.mark.parametrize("lowercase", [False, True], ids=["X-RateLimit-*", "x-ratelimit-*"])
def test_rate_limits_are_paced_before_the_limit_and_429_is_waited_out(
    team: Path, lowercase: bool
) -> None:
    standin = DatadogStandIn(rate_limit=RateLimit(3, 1, lowercase_names=lowercase)).start()
    try:
        run = provision(standin, "apply", "--yes", "--no-defaults", "--from", team)
        assert run.rc == 0, run.text
        # Paced: a 429 only where obs had no headers for the route yet (its first request).
        seen: set[tuple[str, str]] = set()
        for entry in standin.log:
            route = (entry.method, re.sub(r"/\d+$", "/{id}", entry.path))
            assert entry.status != 429 or route not in seen, entry
            seen.add(route)
        standin.clear_log()
        standin.inject("429", "GET", "/api/v1/dashboard")
        standin.inject("500", "GET", "/api/v1/monitor", times=2)
        again = provision(standin, "plan", "--no-defaults", "--from", team)
        assert again.rc == 0, again.text
        statuses = [(e.method, e.path, e.status) for e in standin.log]
        assert ("GET", "/api/v1/dashboard", 429) in statuses
        assert statuses.count(("GET", "/api/v1/monitor", 500)) == 2
    finally:
        standin.stop()
    assert standin.violations == []


def test_failure_part_way_reports_what_was_and_was_not_applied(
    standin: DatadogStandIn, team: Path
) -> None:
    standin.inject("500", "POST", "/api/v1/monitor", times=100)
    run = provision(standin, "apply", "--yes", "--no-defaults", "--from", team)
    assert run.rc == 1
    assert "Applied 1 of 3 changes; 1 failed, 1 not attempted." in run.out
    assert "done         create dashboard team.latency" in run.out
    assert "failed       create monitor team.slow" in run.out
    assert "not attempted create monitor team.evictions" in run.out
    assert owned_monitors(standin) == []


def test_apply_outside_a_terminal_needs_yes(standin: DatadogStandIn, team: Path) -> None:
    run = provision(standin, "apply", "--no-defaults", "--from", team)
    assert run.rc == 1
    assert "pass --yes" in run.err
    assert standin.writes() == [e for e in standin.log if e.path.endswith("/validate")]


def test_wrong_keys_fail_clearly_without_printing_them(standin: DatadogStandIn, team: Path) -> None:
    run = provision(standin, "plan", "--from", team, DD_APP_KEY="wrong-app-key-31337")
    assert run.rc == 1
    assert "403" in run.err
    assert "Forbidden" in run.err
    assert "wrong-app-key-31337" not in run.text
    missing = provision(standin, "plan", DD_API_KEY="")
    assert missing.rc == 1
    assert "DD_API_KEY not set" in missing.err


def test_export_writes_the_rendered_json_without_calling_datadog(tmp_path: Path) -> None:
    run = provision(None, "export", tmp_path / "out", "--env", "prod", "--project", "team")
    assert run.rc == 0, run.text
    dashboards = sorted(p.name for p in (tmp_path / "out" / "dashboards").iterdir())
    assert dashboards == [
        "obs.agent.json",
        "obs.cache.json",
        "obs.mongo.json",
        "obs.queues.json",
        "obs.service.json",
    ]
    mongo = json.loads((tmp_path / "out" / "dashboards" / "obs.mongo.json").read_text())
    assert mongo["description"].endswith(
        "\n\nManaged by obs provision (obs-project:team obs-id:obs.mongo obs-env:prod). "
        "Edits made here are overwritten."
    )
    assert "id" not in mongo
    assert mongo["layout_type"] == "ordered"
    backlog = json.loads((tmp_path / "out" / "monitors" / "obs.queues.backlog.json").read_text())
    assert "env:prod" in backlog["tags"]
    assert "managed-by:obs" in backlog["tags"]
    assert "obs-project:team" in backlog["tags"]


@pytest.mark.parametrize("monitor_type", typing.get_args(typing.get_type_hints(Monitor)["type"]))
def test_plan_after_apply_is_empty_for_every_monitor_type(
    standin: DatadogStandIn, tmp_path: Path, monitor_type: str
) -> None:
    source = write_definitions(
        tmp_path,
        TEAM.split("SLOW = ", maxsplit=1)[0]
        + f"""
from obs.monitors import avg

TYPED = Monitor(
    key="team.typed",
    name="Redis memory",
    query=avg(catalog.REDIS_MEMORY_USED),
    comparator=">",
    thresholds=Thresholds(critical=100),
    message="Memory.",
    type={monitor_type!r},
)
""",
    )
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", source).rc == 0
    plan = provision(standin, "plan", "--no-defaults", "--from", source)
    assert plan.rc == 0, plan.text


def test_shipped_queries_name_what_datadog_stores_for_what_obs_sends(
    standin: DatadogStandIn,
) -> None:
    # Everything in the catalog is sent over OTLP, by obs.init() or the agent.
    standin.receive_otlp(catalog.CATALOG)
    assert provision(standin, "apply", "--yes").rc == 0
    assert standin.unknown_metrics() == {}
    # The rule, over the whole catalog: Datadog prefixes system.* and process.* with otel.
    renamed = {m.name for m in catalog.CATALOG.values() if catalog.datadog_name(m) != m.name}
    assert renamed == {n for n in catalog.CATALOG if n.startswith(("system.", "process."))}
    assert all(
        catalog.by_datadog_name(catalog.datadog_name(m)) is m for m in catalog.CATALOG.values()
    )
