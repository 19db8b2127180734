"""obs provision import: live objects to Python source that plans with no changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.datadog_standin import DatadogStandIn
from support.provision_run import provision

# A dashboard as someone would build it in Datadog's editor: its own query names, the editor's
# style defaults, a legacy `q` widget, and no obs marker.
HAND_MADE = {
    "title": "Checkout: Mongo and cache",
    "description": "Built by hand.",
    "layout_type": "ordered",
    "template_variables": [{"name": "env", "prefix": "env", "default": "prod"}],
    "widgets": [
        {
            "definition": {
                "type": "timeseries",
                "title": "Hit ratio",
                "title_size": "16",
                "title_align": "left",
                "show_legend": True,
                "requests": [
                    {
                        "response_format": "timeseries",
                        "display_type": "line",
                        "style": {"palette": "dog_classic", "line_type": "solid"},
                        "queries": [
                            {
                                "data_source": "metrics",
                                "name": "total",
                                "query": "sum:obs.cache.requests{$env} by {cache.name}.as_count()",
                            },
                            {
                                "data_source": "metrics",
                                "name": "hits",
                                "query": "sum:obs.cache.requests{$env, cache.result:hit} "
                                "by {cache.name}.as_count()",
                            },
                        ],
                        "formulas": [{"formula": "100 * (hits) / total", "alias": "hit %"}],
                    }
                ],
            }
        },
        {
            "definition": {
                "type": "group",
                "title": "Latency",
                "layout_type": "ordered",
                "widgets": [
                    {
                        "definition": {
                            "type": "toplist",
                            "title": "Slowest collections",
                            "requests": [
                                {
                                    "response_format": "scalar",
                                    "queries": [
                                        {
                                            "data_source": "metrics",
                                            "name": "query1",
                                            "aggregator": "max",
                                            "query": "p99:db.client.operation.duration{$env} "
                                            "by {db.collection.name}",
                                        }
                                    ],
                                    "formulas": [
                                        {
                                            "formula": "query1",
                                            "limit": {"count": 5, "order": "desc"},
                                        }
                                    ],
                                }
                            ],
                        }
                    },
                    {
                        "definition": {
                            "type": "note",
                            "content": "Ask #checkout.",
                            "font_size": "16",
                        }
                    },
                ],
            }
        },
    ],
}


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn().start()
    yield server
    server.stop()
    assert server.violations == []


def test_importing_what_obs_applied_plans_with_no_changes(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    assert provision(standin, "apply", "--yes", "--env", "prod", "--project", "team").rc == 0
    # SLO alerts are generated from their SLO; SLOs are imported without them.
    monitors = [i for i, m in standin.state.monitors.items() if m["type"] != "slo alert"]
    ids = [*standin.state.dashboards, *map(str, monitors), *standin.state.slos]
    source = tmp_path / "imported.py"
    run = provision(standin, "import", *ids, "--output", source)
    assert run.rc == 0, run.text
    text = source.read_text()
    assert "catalog.DB_CLIENT_OPERATION_DURATION" in text
    assert "attr.DB_COLLECTION_NAME" in text
    assert "Plan them with --env prod" in text
    assert "Plan them with --project team" in text
    assert "adopt_id" not in text  # obs owns them already
    compile(text, str(source), "exec")
    standin.clear_log()
    plan = provision(
        standin, "plan", "--no-defaults", "--from", source, "--env", "prod", "--project", "team"
    )
    assert plan.rc == 0, plan.text
    assert f"0 to create, 0 to update, 0 to delete, {len(ids)} unchanged" in plan.out
    assert "not in code: monitor obs.jobs.success.burn.page" in plan.out
    assert standin.writes() == []


def test_importing_a_hand_made_dashboard_adopts_it_by_id(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    dashboard_id = standin.put_dashboard(HAND_MADE)
    monitor_id = standin.put_monitor(
        {
            "type": "metric alert",
            "name": "Cache misses",
            "query": "sum(last_10m):sum:obs.cache.requests{cache.result:miss}.as_count() > 1000",
            "message": "Many misses.",
            "tags": ["team:checkout"],
            "options": {"thresholds": {"critical": 1000, "warning": 500}, "notify_no_data": False},
        }
    )
    source = tmp_path / "checkout.py"
    run = provision(standin, "import", dashboard_id, str(monitor_id), "-o", source)
    assert run.rc == 0, run.text
    text = source.read_text()
    assert f'adopt_id="{dashboard_id}"' in text
    assert f"adopt_id={monitor_id}" in text
    plan = provision(standin, "plan", "--no-defaults", "--from", source)
    assert plan.rc == 0, plan.text
    assert "2 unchanged" in plan.out
    # Once adopted, a change in code updates that very dashboard and marks it as obs's.
    source.write_text(text.replace('"Slowest collections"', '"Slowest five collections"'))
    applied = provision(standin, "apply", "--yes", "--no-defaults", "--from", source)
    assert applied.rc == 0, applied.text
    assert f"update dashboard imported.checkout-mongo-and-cache (id {dashboard_id})" in applied.out
    assert (
        "obs-id:imported.checkout-mongo-and-cache"
        in standin.state.dashboards[dashboard_id]["description"]
    )
    assert len(standin.state.dashboards) == 1
    assert provision(standin, "plan", "--no-defaults", "--from", source).rc == 0


def test_objects_with_the_same_title_get_distinct_keys(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    first = standin.put_dashboard(HAND_MADE)
    second = standin.put_dashboard({**HAND_MADE, "description": "A copy."})
    source = tmp_path / "two.py"
    assert provision(standin, "import", first, second, "-o", source).rc == 0
    text = source.read_text()
    assert 'key="imported.checkout-mongo-and-cache",' in text
    assert f'key="imported.checkout-mongo-and-cache-{second}",' in text
    assert provision(standin, "plan", "--no-defaults", "--from", source).rc == 0


def test_import_refuses_what_it_cannot_represent_exactly(standin: DatadogStandIn) -> None:
    slo = standin.put_dashboard(
        {
            "title": "SLOs",
            "layout_type": "ordered",
            "widgets": [{"definition": {"type": "free_text", "text": "hello"}}],
        }
    )
    run = provision(standin, "import", slo)
    assert run.rc == 1
    assert f"dashboard {slo}: widgets[0]: 'free_text' widgets are not supported" in run.err
    foreign_metric = standin.put_monitor(
        {
            "type": "query alert",
            "query": "avg(last_5m):avg:system.cpu.user{*} > 90",
            "options": {"thresholds": {"critical": 90}},
        }
    )
    run = provision(standin, "import", str(foreign_metric))
    assert run.rc == 1
    assert "'system.cpu.user' is not in the obs metric catalog" in run.err
    styled = standin.put_dashboard(
        {
            "title": "Styled",
            "layout_type": "ordered",
            "widgets": [
                {
                    "definition": {
                        "type": "query_value",
                        "requests": [
                            {
                                "response_format": "scalar",
                                "queries": [
                                    {
                                        "data_source": "metrics",
                                        "name": "a",
                                        "query": "avg:redis.memory.used{*}",
                                        "aggregator": "avg",
                                    }
                                ],
                                "formulas": [{"formula": "a"}],
                                "conditional_formats": [
                                    {"comparator": ">", "value": 1, "palette": "white_on_red"}
                                ],
                            }
                        ],
                    }
                }
            ],
        }
    )
    run = provision(standin, "import", styled)
    assert run.rc == 1
    assert "widgets[0].definition.requests[0].conditional_formats" in run.err
