"""obs provision and SLOs, against the stateful Datadog stand-in (every request and reply
checked against Datadog's OpenAPI spec, plus what the real API does: an ``slo alert``
monitor must name an existing SLO, an SLO such a monitor names cannot be deleted), and
against SLO bodies recorded from the real API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obs import catalog
from obs.catalog import attr
from obs.metric_query.tree import count, p95
from obs.provision.client import DatadogClient, DatadogError, Endpoint
from obs.provision.normalize import normalize_slo
from obs.provision.validate import validate_slo
from obs.slos import PAGE, SLO, BurnRate, Ratio, TimeSlice
from obs.slos.shipped import JOB_SUCCESS
from support.datadog_standin import API_KEY, APP_KEY, DatadogStandIn
from support.provision_run import provision, write_definitions

RECORDED = Path(__file__).parent / "fixtures" / "datadog"

TEAM = """
from obs import catalog
from obs.catalog import attr
from obs.slos import SLO, PAGE, Ratio, TimeSlice, count, p95

_JOBS = catalog.MESSAGING_PROCESS_DURATION
EXPORTS = SLO(
    key="team.exports",
    name="Exports succeed",
    sli=Ratio(
        good=count(_JOBS, where={attr.JOB_OUTCOME: "completed"}),
        total=count(_JOBS),
    ),
    targets={"30d": 99.5, "7d": 99.0},
    warnings={"30d": 99.8},
    env_targets={"staging": {"30d": 98.0}},
    tags=("team:orders",),
)
FAST = SLO(
    key="team.fast",
    name="Orders queries are fast",
    sli=TimeSlice(
        p95(catalog.DB_CLIENT_OPERATION_DURATION, where={attr.DB_COLLECTION_NAME: "orders"}),
        "<",
        0.1,
    ),
    targets={"7d": 99.0},
    alerts=(PAGE,),
)
"""


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn(validate_responses=True).start()
    yield server
    server.stop()
    assert server.violations == [], "obs sent a request Datadog's spec or rules refuse"


@pytest.fixture
def team(tmp_path: Path) -> Path:
    return write_definitions(tmp_path, TEAM)


def client(standin: DatadogStandIn) -> DatadogClient:
    return DatadogClient(Endpoint(standin.url, API_KEY, APP_KEY))


def recorded(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return found


def slo_ids(standin: DatadogStandIn) -> dict[str, str]:
    """Each SLO's obs key and its id."""
    return {
        next(t for t in s["tags"] if t.startswith("obs-id:")).removeprefix("obs-id:"): ident
        for ident, s in standin.state.slos.items()
    }


def alerts(standin: DatadogStandIn) -> dict[str, dict[str, Any]]:
    return {
        next(t for t in m["tags"] if t.startswith("obs-id:")).removeprefix("obs-id:"): m
        for m in standin.state.monitors.values()
        if m["type"] == "slo alert"
    }


def test_slos_apply_before_the_alerts_naming_them_and_plan_after_is_empty(
    standin: DatadogStandIn, team: Path
) -> None:
    applied = provision(standin, "apply", "--yes", "--no-defaults", "--from", team)
    assert applied.rc == 0, applied.text
    assert "Applied 5 of 5 changes" in applied.out  # 2 SLOs, 2 + 1 burn-rate alerts
    ids = slo_ids(standin)
    assert sorted(ids) == ["team.exports", "team.fast"]
    # Each alert names its SLO's id, resolved in the same apply, over its primary window.
    by_key = alerts(standin)
    assert by_key["team.exports.burn.page"]["query"] == (
        f'burn_rate("{ids["team.exports"]}").over("30d").long_window("1h")'
        '.short_window("5m") > 14.4'
    )
    assert by_key["team.exports.burn.ticket"]["query"].endswith('.short_window("30m") > 6')
    # 2 % of a 7-day budget within 1 h: 3.36x
    assert by_key["team.fast.burn.page"]["query"] == (
        f'burn_rate("{ids["team.fast"]}").over("7d").long_window("1h").short_window("5m") > 3.36'
    )
    message = by_key["team.exports.burn.page"]["message"]
    assert "{{long_window_burn_rate}}x" in message
    assert "At 14.4x a whole budget lasts 2.1 days" in message
    # Every SLO create came before the first alert's.
    creates = [e.path for e in standin.log if e.method == "POST" and "validate" not in e.path]
    assert creates.index("/api/v1/monitor") > max(
        i for i, path in enumerate(creates) if path == "/api/v1/slo"
    )
    exports = standin.state.slos[ids["team.exports"]]
    assert exports["type"] == "metric"
    assert exports["query"] == {
        "numerator": "count:messaging.process.duration{obs.job.outcome:completed}",
        "denominator": "count:messaging.process.duration{*}",
    }
    assert [(t["timeframe"], t["target"], t.get("warning")) for t in exports["thresholds"]] == [
        ("30d", 99.5, 99.8),
        ("7d", 99.0, None),
    ]
    fast = standin.state.slos[ids["team.fast"]]["sli_specification"]["time_slice"]
    assert fast["query"]["queries"][0]["query"] == (
        "p95:db.client.operation.duration{db.collection.name:orders}"
    )
    assert (fast["comparator"], fast["threshold"], fast["query_interval_seconds"]) == ("<", 0.1, 60)
    standin.clear_log()
    again = provision(standin, "plan", "--no-defaults", "--from", team)
    assert again.rc == 0, again.text
    assert "0 to create, 0 to update, 0 to delete, 5 unchanged" in again.out
    assert standin.writes() == []


def test_an_slo_alert_naming_no_slo_is_refused_as_by_datadog(standin: DatadogStandIn) -> None:
    with pytest.raises(DatadogError) as refused:
        client(standin).post(
            "/api/v1/monitor",
            {
                "type": "slo alert",
                "name": "burn",
                "query": 'burn_rate("0123456789abcdef0123456789abcdef").over("30d")'
                '.long_window("1h").short_window("5m") > 14.4',
                "options": {"thresholds": {"critical": 14.4}},
            },
        )
    assert refused.value.status == 400
    assert "SLO not found" in refused.value.reason
    standin.violations.clear()


def test_prune_deletes_the_alerts_before_their_slo(standin: DatadogStandIn, team: Path) -> None:
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    exports = slo_ids(standin)["team.exports"]
    burning = {alerts(standin)[f"team.exports.burn.{n}"]["id"] for n in ("page", "ticket")}
    # Datadog keeps an SLO an alert names: deleting it first fails.
    with pytest.raises(DatadogError) as kept:
        client(standin).delete(f"/api/v1/slo/{exports}")
    assert kept.value.status == 409
    standin.clear_log()
    only_fast = write_definitions(team.parent, TEAM.replace("EXPORTS = ", "_EXPORTS = "), "b.py")
    pruned = provision(standin, "apply", "--yes", "--prune", "--no-defaults", "--from", only_fast)
    assert pruned.rc == 0, pruned.text
    deletes = [e.path for e in standin.log if e.method == "DELETE"]
    assert {*deletes[:2]} == {f"/api/v1/monitor/{i}" for i in burning}
    assert deletes[2:] == [f"/api/v1/slo/{exports}"]
    assert list(slo_ids(standin)) == ["team.fast"]
    assert list(alerts(standin)) == ["team.fast.burn.page"]


def test_drift_in_an_slo_shows_in_plan_and_apply_restores_it(
    standin: DatadogStandIn, team: Path
) -> None:
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    live = standin.state.slos[slo_ids(standin)["team.exports"]]
    live["thresholds"][0]["target"] = 90.0
    live["query"]["denominator"] = "count:messaging.process.duration{*}  "  # spacing only
    plan = provision(standin, "plan", "--no-defaults", "--from", team)
    assert plan.rc == 2, plan.text
    assert "~ update slo team.exports" in plan.out
    assert '-      "target": 90.0,' in plan.out
    assert "denominator" not in plan.out
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    assert live["thresholds"][0]["target"] == 99.5 or (
        standin.state.slos[slo_ids(standin)["team.exports"]]["thresholds"][0]["target"] == 99.5
    )
    assert provision(standin, "plan", "--no-defaults", "--from", team).rc == 0


def test_an_environment_takes_its_targets_and_scopes_queries_and_tags(
    standin: DatadogStandIn, team: Path
) -> None:
    run = provision(standin, "apply", "--yes", "--no-defaults", "--from", team, "--env", "staging")
    assert run.rc == 0, run.text
    exports = standin.state.slos[slo_ids(standin)["team.exports"]]
    assert [(t["timeframe"], t["target"]) for t in exports["thresholds"]] == [("30d", 98.0)]
    assert exports["query"]["denominator"] == "count:messaging.process.duration{env:staging}"
    assert {"env:staging", "obs-env:staging"} <= set(exports["tags"])
    page = alerts(standin)["team.exports.burn.page"]
    assert "env:staging" in page["tags"]
    # The plan without an environment sees none of staging's objects.
    other = provision(standin, "plan", "--no-defaults", "--from", team)
    assert "5 to create" in other.out


def test_a_lost_slo_create_is_found_not_repeated(standin: DatadogStandIn, team: Path) -> None:
    standin.inject("drop", "POST", "/api/v1/slo")
    run = provision(standin, "apply", "--yes", "--no-defaults", "--from", team)
    assert run.rc == 0, run.text
    assert len(standin.state.slos) == 2
    ids = set(slo_ids(standin).values())
    assert {m["query"].split('"')[1] for m in alerts(standin).values()} == ids
    assert provision(standin, "plan", "--no-defaults", "--from", team).rc == 0


def test_two_projects_with_one_key_get_two_slos(standin: DatadogStandIn, team: Path) -> None:
    for project in ("orders", "billing"):
        run = provision(
            standin, "apply", "--yes", "--no-defaults", "--from", team, "--project", project
        )
        assert run.rc == 0, run.text
    assert len(standin.state.slos) == 4
    pruned = provision(standin, "apply", "--yes", "--prune", "--no-defaults", "--project", "orders")
    assert pruned.rc == 0, pruned.text
    left = [s for s in standin.state.slos.values() if "obs-project:billing" in s["tags"]]
    assert len(left) == len(standin.state.slos) == 2


def test_export_writes_slos_and_alerts_waiting_for_their_ids(tmp_path: Path, team: Path) -> None:
    out = tmp_path / "export"
    run = provision(None, "export", out, "--no-defaults", "--from", team)
    assert run.rc == 0, run.text
    slo = json.loads((out / "slos" / "team.fast.json").read_text())
    assert slo["type"] == "time_slice"
    alert = json.loads((out / "monitors" / "team.fast.burn.page.json").read_text())
    assert alert["query"].startswith('burn_rate("obs-slo:team.fast")')


def test_a_hand_made_slo_imports_and_plans_with_no_changes(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    metric = standin.put_slo(
        {
            "type": "metric",
            "name": "Checkout commands succeed",
            "description": "made in the UI",
            "query": {
                "numerator": "count:db.client.operation.duration{db.namespace:shop}"
                " - count:db.client.operation.duration{db.namespace:shop,error.type:*}",
                "denominator": "count:db.client.operation.duration{db.namespace:shop}",
            },
            "thresholds": [
                {"timeframe": "7d", "target": 99.0},
                {"timeframe": "30d", "target": 99.5, "warning": 99.9},
            ],
            "timeframe": "30d",
            "target_threshold": 99.5,
            "warning_threshold": 99.9,
            "tags": ["team:shop"],
        }
    )
    sliced = standin.put_slo(
        {
            "type": "time_slice",
            "name": "Cache answers",
            "sli_specification": {
                "time_slice": {
                    "comparator": ">=",
                    "threshold": 0.8,
                    "query": {
                        "formulas": [{"formula": "query2 / query1"}],
                        "queries": [
                            {
                                "data_source": "metrics",
                                "name": "query1",
                                "query": "sum:obs.cache.requests{*}.as_count()",
                            },
                            {
                                "data_source": "metrics",
                                "name": "query2",
                                "query": "sum:obs.cache.requests{cache.result:hit}.as_count()",
                            },
                        ],
                    },
                }
            },
            "thresholds": [{"timeframe": "90d", "target": 95.0}],
        }
    )
    source = tmp_path / "imported.py"
    run = provision(standin, "import", metric, sliced, "-o", source)
    assert run.rc == 0, run.text
    text = source.read_text()
    assert "from obs.slos import Ratio, SLO, TimeSlice" in text
    assert f'adopt_id="{metric}"' in text
    assert "alerts=()" in text
    plan = provision(standin, "plan", "--no-defaults", "--from", source, "--project", "p")
    assert plan.rc == 0, plan.text
    assert "0 to create, 0 to update, 0 to delete, 2 unchanged" in plan.out


def test_import_refuses_an_slo_alert_and_a_monitor_slo(standin: DatadogStandIn, team: Path) -> None:
    assert provision(standin, "apply", "--yes", "--no-defaults", "--from", team).rc == 0
    alert = next(i for i, m in standin.state.monitors.items() if m["type"] == "slo alert")
    refused = provision(standin, "import", str(alert))
    assert refused.rc == 1
    assert "an SLO alert; obs generates burn-rate alerts from their SLO's definition" in refused.err
    by_monitors = standin.put_slo(
        {
            "type": "monitor",
            "name": "m",
            "monitor_ids": [alert],
            "thresholds": [{"timeframe": "7d", "target": 99.0}],
        }
    )
    refused = provision(standin, "import", by_monitors)
    assert refused.rc == 1
    assert "not a 'monitor' SLO" in refused.err


# --- what the real API returns -------------------------------------------------------------


@pytest.mark.parametrize("name", ["slo_metric_create.json", "slo_time_slice_create.json"])
def test_the_standin_answers_an_slo_create_as_datadog_did(
    standin: DatadogStandIn, name: str
) -> None:
    cassette = recorded(name)
    reply = client(standin).post("/api/v1/slo", cassette["request"])
    (created,) = reply["data"]
    (real,) = cassette["response"]["data"]
    # The same fields, filled the same way (ids, times and the creator aside).
    assert set(created) == set(real)
    assert normalize_slo(created) == normalize_slo(real)
    assert created["thresholds"] == real["thresholds"]  # "97." for 97, as displayed
    assert len(created["id"]) == len(real["id"]) == 32


def test_obs_sees_no_drift_in_what_datadog_returns_for_what_it_was_sent() -> None:
    for name in ("slo_metric_create.json", "slo_time_slice_create.json"):
        cassette = recorded(name)
        (real,) = cassette["response"]["data"]
        assert normalize_slo(real) == normalize_slo(cassette["request"]), name
    # Sent without the primary window at the top, Datadog fills it in; obs always sends it.
    get = recorded("slo_get.json")
    primary = {"timeframe": "7d", "target_threshold": 95, "warning_threshold": 98}
    assert normalize_slo(get["response"]["data"]) == normalize_slo({**get["request"], **primary})


def test_a_recorded_list_page_and_a_missing_slo_read_as_datadog_sends_them(
    standin: DatadogStandIn,
) -> None:
    page = recorded("slo_list_page.json")["response"]
    for slo in page["data"]:
        standin.load_recorded("slo", slo)
    listed = client(standin).get("/api/v1/slo", {"limit": 2})
    assert set(listed) == set(page)
    assert listed["data"] == page["data"]
    gone = recorded("slo_delete_not_found.json")
    with pytest.raises(DatadogError) as missing:
        client(standin).delete(gone["request"]["uri"])
    assert missing.value.status == gone["status"] == 404
    assert missing.value.reason == gone["response"]["errors"][0]


# --- obs's rules ---------------------------------------------------------------------------


def _slo(**changes: object) -> SLO:
    fields: dict[str, object] = {
        "key": "t.jobs",
        "name": "Jobs",
        "sli": JOB_SUCCESS.sli,
        "targets": {"30d": 99.0},
    }
    fields.update(changes)
    return SLO(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"targets": {}}, "slo t.jobs: targets: needs a target for at least one window"),
        ({"targets": {"30d": 100.0}}, "slo t.jobs: targets['30d']: 100 is not a percentage"),
        ({"targets": {"1d": 99.0}}, "slo t.jobs: targets['1d']: expected"),
        ({"warnings": {"30d": 98.0}}, "slo t.jobs: warnings['30d']: 98 must be above the target"),
        ({"warnings": {"7d": 99.5}}, "slo t.jobs: warnings['7d']: has no target to warn before"),
        (
            {"env_targets": {"prod": {"30d": 92.0}}},
            "slo t.jobs: alerts[0]: a burn rate of 14.4 can never be seen in prod: at 92 % the "
            "highest is 12.5",
        ),
        (
            {"targets": {"90d": 96.0}},
            "slo t.jobs: alerts[0]: a burn rate of 43.2 can never be seen: at 96 % the highest "
            "is 25",
        ),
        (
            {"alerts": (BurnRate("page", 0.02, "1h", "2h"),)},
            "slo t.jobs: alerts[0]: the short window must be shorter than the long one",
        ),
        (
            {"alerts": (BurnRate("page", 0.02, "3d", "1h"),)},
            "slo t.jobs: alerts[0]: the short window must be shorter than the long one, at "
            "most 48h",
        ),
        (
            {"alerts": (BurnRate("page", 0.02, "1 hour", "5m"),)},
            "slo t.jobs: alerts[0]: '1 hour' is not a window",
        ),
        ({"alerts": (PAGE, PAGE)}, "slo t.jobs: alerts[1].name: 'page' is invalid or repeated"),
        (
            {"sli": Ratio(p95(catalog.MESSAGING_PROCESS_DURATION), count(catalog.CACHE_REQUESTS))},
            "slo t.jobs: sli.good: p95:messaging.process.duration{*} does not count events",
        ),
        (
            {"sli": TimeSlice(p95(catalog.CACHE_REQUESTS), "<", 1)},
            "slo t.jobs: sli.expr: p95 needs a histogram",
        ),
        (
            {
                "sli": TimeSlice(
                    p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,)),
                    "<",
                    1,
                )
            },
            "slo t.jobs: sli.expr: an SLO measures one series",
        ),
        (
            {"sli": TimeSlice(p95(catalog.DB_CLIENT_OPERATION_DURATION), "<", 1, 120)},
            "slo t.jobs: sli.slice_seconds: expected 60 or 300",
        ),
        ({"tags": ("managed-by:obs",)}, "slo t.jobs: tags: 'managed-by:obs' is not"),
    ],
)
def test_slo_rules(changes: dict[str, object], expected: str) -> None:
    found = [str(p) for p in validate_slo(_slo(**changes))]
    assert any(m.startswith(expected) for m in found), found


def test_shipped_slos_are_valid() -> None:
    from obs.slos.shipped import SLOS

    assert [p for slo in SLOS for p in validate_slo(slo)] == []
    assert validate_slo(_slo(alerts=(PAGE,))) == []


# --- any SLO reads back as itself --------------------------------------------------------

_COUNTED = [
    m for m in catalog.CATALOG.values() if m.kind in (catalog.Kind.COUNTER, catalog.Kind.HISTOGRAM)
]
_HISTOGRAMS = [m for m in _COUNTED if m.kind is catalog.Kind.HISTOGRAM]


def _counts() -> st.SearchStrategy[Any]:
    @st.composite
    def one(draw: st.DrawFn) -> Any:
        metric = draw(st.sampled_from(_COUNTED))
        key = draw(st.sampled_from(metric.attributes)) if metric.attributes else None
        where = {key: draw(st.sampled_from(["a", "b-1", "*"]))} if key else {}
        return count(metric, where=where)

    return one()


_targets = st.dictionaries(
    st.sampled_from(["7d", "30d", "90d"]),
    st.integers(9000, 9999).map(lambda n: n / 100),
    min_size=1,
)


@st.composite
def slos(draw: st.DrawFn) -> SLO:
    if draw(st.booleans()):
        good = draw(_counts())
        sli: Ratio | TimeSlice = Ratio(
            good - draw(_counts()) if draw(st.booleans()) else good, draw(_counts())
        )
    else:
        metric = draw(st.sampled_from(_HISTOGRAMS))
        expr: Any = p95(metric)
        if draw(st.booleans()):
            expr = draw(_counts()) / draw(_counts())
        sli = TimeSlice(
            expr,
            draw(st.sampled_from(["<", "<=", ">", ">="])),
            draw(st.floats(0.001, 1000).map(lambda f: round(f, 3))),
            draw(st.sampled_from([60, 300])),
        )
    targets = draw(_targets)
    warn = {w: round((t + 100) / 2, 3) for w, t in targets.items() if draw(st.booleans())}
    return SLO(
        key="gen.slo",
        name=draw(st.text("abc XYZ:-", min_size=1, max_size=20)),
        sli=sli,
        targets=targets,
        warnings=warn,
        description=draw(st.text("abc .", max_size=20)),
        tags=tuple(draw(st.lists(st.sampled_from(["team:a", "tier:1", "x"]), unique=True))),
        alerts=(),
    )


@settings(max_examples=60, deadline=None)
@given(slo=slos(), env=st.sampled_from([None, "prod"]))
def test_any_slo_is_stored_without_drift_and_imports_back_equal(slo: SLO, env: str | None) -> None:
    from obs.provision.importer import check_round_trip, slo_from_json
    from obs.provision.render_slo import render_slo

    standin = DatadogStandIn()  # its store, without serving: what Datadog keeps of a body
    sent = render_slo(slo, env, "p")
    stored = standin._store_slo(json.loads(json.dumps(sent)), None)
    assert normalize_slo(stored) == normalize_slo(sent)  # plan after apply: no change
    imported, owner = slo_from_json(stored)
    assert owner is not None
    assert owner.key == "gen.slo"
    check_round_trip(imported, stored, env)  # raises when it would not render back


# --- the examples in the README and docs/slos.md work as written ---------------------------


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.parametrize("doc", ["README.md", "docs/slos.md"])
def test_the_slo_examples_of_the_docs_plan_as_written(
    standin: DatadogStandIn, tmp_path: Path, doc: str
) -> None:
    text = (Path(__file__).parents[1] / doc).read_text()
    blocks = [b for b in _python_blocks(text) if "obs.slos" in b or "collection_growth" in b]
    assert blocks, f"{doc} shows no SLO example"
    source = write_definitions(tmp_path, "\n".join(blocks))
    plan = provision(standin, "plan", "--no-defaults", "--from", source, "--project", "docs")
    assert plan.rc == 2, plan.text  # valid, and all to create
    assert "invalid" not in plan.text
    assert "+ create slo" in plan.out
