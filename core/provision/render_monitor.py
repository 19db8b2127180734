"""Render a :class:`~obs.monitors.Monitor` into the JSON body of Datadog's monitor API, through
datadog-api-client's models.

With an environment, every query that does not filter ``env`` already gets ``env:<env>``,
the monitor is tagged ``env:<env>``, and the environment's thresholds apply.

Example:
    >>> from obs import catalog
    >>> from obs.monitors import Monitor, Thresholds, avg
    >>> m = Monitor("demo.memory", "Redis memory high", avg(catalog.REDIS_MEMORY_USED), ">",
    ...             Thresholds(critical=2e9), "Memory is {{value}}.")
    >>> render_monitor(m, env="prod")["query"]
    'avg(last_5m):avg:redis.memory.used{env:prod} > 2000000000'
"""

from __future__ import annotations

from typing import Any

from datadog_api_client.v1.model.monitor import Monitor as MonitorModel
from datadog_api_client.v1.model.monitor_options import MonitorOptions
from datadog_api_client.v1.model.monitor_thresholds import MonitorThresholds

from obs.metric_query.tree import Expr, Query, Tag
from obs.monitors.monitor import Monitor
from obs.provision.identity import Identity, Mark, monitor_tags
from obs.provision.models import as_json, build


def in_env(expr: Expr, env: str | None) -> Expr:
    """``expr`` with ``env:<env>`` in every query that does not filter ``env`` itself."""

    def change(query: Query) -> Query:
        if any(isinstance(f, Tag) and f.key == "env" for f in query.scope):
            return query
        return query.scoped(Tag("env", env or ""))

    return expr.map(change) if env else expr


def monitor_query(monitor: Monitor, env: str | None) -> str:
    """The Datadog query string of ``monitor`` in ``env``."""
    return monitor.query_text(monitor.thresholds_for(env), in_env(monitor.query, env))


def render_monitor(monitor: Monitor, env: str | None, project: str | None = None) -> dict[str, Any]:
    """The create/update body for ``monitor``, marked as ``project``'s."""
    name = f"monitor {monitor.key}"
    levels = monitor.thresholds_for(env)
    thresholds = build(
        name,
        f"env_thresholds[{env!r}]" if env in monitor.env_thresholds else "thresholds",
        MonitorThresholds,
        critical=float(levels.critical),
        warning=_number(levels.warning),
        critical_recovery=_number(levels.critical_recovery),
        warning_recovery=_number(levels.warning_recovery),
    )
    options = build(
        name,
        "options",
        MonitorOptions,
        thresholds=thresholds,
        notify_no_data=monitor.notify_no_data or None,
        no_data_timeframe=monitor.no_data_timeframe,
        renotify_interval=monitor.renotify_interval,
        require_full_window=monitor.require_full_window,
        evaluation_delay=monitor.evaluation_delay,
        new_group_delay=monitor.new_group_delay,
    )
    env_tags = (f"env:{env}",) if env else ()
    mark = monitor_tags(Mark(Identity(monitor.key, env, project)))
    tags = sorted({*monitor.tags, *env_tags, *mark})
    model = build(
        name,
        "",
        MonitorModel,
        type=monitor.type,
        name=monitor.name,
        query=monitor_query(monitor, env),
        message=monitor.message,
        tags=tags,
        priority=monitor.priority,
        options=options,
    )
    return as_json(model)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)
