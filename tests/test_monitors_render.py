"""Monitors render to Datadog's monitor query syntax with consistent thresholds and options."""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.dashboards import Tag
from obs.monitors import Monitor, Thresholds, count, maximum, p95
from obs.provision.render_monitor import render_monitor

SLOW = Monitor(
    key="t.slow",
    name="Slow {{db.collection.name.name}}",
    query=p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,)),
    comparator=">",
    thresholds=Thresholds(critical=0.5, warning=0.25, critical_recovery=0.4),
    env_thresholds={"prod": Thresholds(critical=0.3)},
    window="last_10m",
    message="Slow.",
    notify_no_data=True,
    no_data_timeframe=30,
    renotify_interval=60,
    priority=2,
    tags=("team:core", "component:mongo"),
)


def test_query_options_and_tags() -> None:
    body = render_monitor(SLOW, env=None)
    assert body["type"] == "query alert"
    assert body["query"] == (
        "percentile(last_10m):p95:db.client.operation.duration{*} by {db.collection.name} > 0.5"
    )
    assert body["options"] == {
        "thresholds": {"critical": 0.5, "warning": 0.25, "critical_recovery": 0.4},
        "notify_no_data": True,
        "no_data_timeframe": 30,
        "renotify_interval": 60,
    }
    assert body["priority"] == 2
    assert body["tags"] == ["component:mongo", "managed-by:obs", "obs-id:t.slow", "team:core"]


def test_env_scopes_queries_tags_and_picks_thresholds() -> None:
    body = render_monitor(SLOW, env="prod")
    assert body["query"] == (
        "percentile(last_10m):p95:db.client.operation.duration{env:prod} by "
        "{db.collection.name} > 0.3"
    )
    assert body["options"]["thresholds"] == {"critical": 0.3}
    assert {"env:prod", "obs-env:prod"} <= set(body["tags"])
    staging = render_monitor(SLOW, env="staging")
    assert staging["options"]["thresholds"]["critical"] == 0.5


def test_an_explicit_env_filter_is_kept_and_arithmetic_is_inline() -> None:
    pinned = maximum(catalog.BULLMQ_QUEUE_PAUSED, by=(attr.QUEUE_NAME,)).scoped(Tag("env", "eu"))
    failed = count(catalog.BULLMQ_JOBS_FAILED, by=(attr.QUEUE_NAME,))
    monitor = Monitor(
        key="t.mix",
        name="Mix",
        query=failed / (pinned + 1),
        comparator=">=",
        thresholds=Thresholds(critical=2),
        time_aggregation="sum",
        message="Mix.",
    )
    assert render_monitor(monitor, env="prod")["query"] == (
        "sum(last_5m):sum:obs.bullmq.jobs.failed{env:prod} by {bullmq.queue.name}.as_count() / "
        "(max:obs.bullmq.queue.paused{env:eu} by {bullmq.queue.name} + 1) >= 2"
    )
