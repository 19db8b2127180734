"""obs's shipped dashboards and monitors name only metrics and attributes the catalog declares,
and pass every obs rule."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from obs import catalog
from obs.dashboards import Dashboard, Query
from obs.dashboards.shipped import DASHBOARDS
from obs.metric_query.grammar import parse_distribution, parse_expression, parse_monitor_query
from obs.metric_query.tree import RESOURCE_TAGS
from obs.monitors.shipped import MONITORS
from obs.provision.render_dashboard import render_dashboard
from obs.provision.render_monitor import render_monitor
from obs.provision.validate import validate_all


def shipped_queries() -> Iterator[tuple[str, Query]]:
    for dashboard in DASHBOARDS:
        for query in dashboard.queries():
            yield f"dashboard {dashboard.key}", query
    for monitor in MONITORS:
        for query in monitor.queries():
            yield f"monitor {monitor.key}", query


def test_every_shipped_query_names_a_catalog_metric_and_its_declared_attributes() -> None:
    seen = 0
    for owner, query in shipped_queries():
        assert catalog.CATALOG.get(query.metric.name) is query.metric, (owner, query.metric.name)
        undeclared = set(query.tag_keys()) - set(query.metric.attributes) - RESOURCE_TAGS
        assert not undeclared, (owner, query.metric.name, undeclared)
        seen += 1
    assert seen > 60


def test_rendered_query_text_names_catalog_metrics_only() -> None:
    # The JSON Datadog receives, read back: every metric name in it is in the catalog.
    texts: list[str] = []
    for dashboard in DASHBOARDS:
        texts.extend(re.findall(r"'query': '([^']+)'", str(render_dashboard(dashboard, None))))
    names = set()
    stored = catalog.by_datadog_name  # the names Datadog stores for what obs sends
    for text in texts:
        parse = parse_distribution if text.startswith("histogram:") else parse_expression
        names.update(q.metric.name for q in parse(text, stored).queries())
    for monitor in MONITORS:
        parsed = parse_monitor_query(render_monitor(monitor, "prod")["query"], stored)
        names.update(q.metric.name for q in parsed.expr.queries())
    assert names <= set(catalog.CATALOG)
    # The shipped set covers the three things users watch, and obs's own agent.
    for prefix in (
        "db.client.",
        "mongodb.",
        "obs.mongo.",
        "redis.",
        "obs.redis.",
        "bullmq.",
        "obs.bullmq.",
        "obs.cache.",
        "obs.agent.",
    ):
        assert any(n.startswith(prefix) for n in names), prefix


def test_shipped_definitions_pass_every_obs_rule() -> None:
    assert validate_all(DASHBOARDS, MONITORS) == []


def test_shipped_monitors_cover_the_alerts_users_need() -> None:
    assert {m.key for m in MONITORS} >= {
        "obs.mongo.p95_latency",
        "obs.mongo.collection_scans",
        "obs.queues.backlog",
        "obs.queues.oldest_job_age",
        "obs.queues.failed_spike",
        "obs.queues.paused",
        "obs.cache.hit_ratio",
        "obs.redis.evictions",
        "obs.agent.not_reporting",
    }
    assert {d.key for d in DASHBOARDS} == {
        "obs.mongo",
        "obs.queues",
        "obs.cache",
        "obs.service",
        "obs.agent",
    }


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.key)
def test_shipped_dashboards_use_only_defined_template_variables(dashboard: Dashboard) -> None:
    used = {v for q in dashboard.queries() for v in q.variables()}
    assert used <= set(dashboard.variable_names())
    assert "env" in used
