"""A metric monitor as a value: a query over catalog metrics, a comparator and thresholds.

The Datadog query is ``time_aggregation(window):expression comparator critical``; the
critical threshold is written into the query and into ``options.thresholds`` from the one
value here, so the two can never disagree. ``env_thresholds`` overrides thresholds per
environment (``obs provision --env prod``).

Example:
    >>> from obs import catalog
    >>> from obs.metric_query.tree import p95
    >>> m = Monitor("demo.latency", "Slow queries", p95(catalog.DB_CLIENT_OPERATION_DURATION),
    ...             ">", Thresholds(critical=0.5, warning=0.25), "Queries are slow.")
    >>> m.query_text(m.thresholds)
    'percentile(last_5m):p95:db.client.operation.duration{*} > 0.5'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from obs.metric_query.grammar import render_monitor_query
from obs.metric_query.tree import Call, Comparator, Expr, MonitorQuery, Query, TimeAggregation

__all__ = ["Comparator", "Monitor", "Thresholds", "TimeAggregation"]


@dataclass(frozen=True)
class Thresholds:
    """Alert levels. For ``>``/``>=`` a warning sits below critical and recoveries below
    their level; for ``<``/``<=`` the other way round."""

    critical: float
    warning: float | None = None
    critical_recovery: float | None = None
    warning_recovery: float | None = None


@dataclass(frozen=True)
class Monitor:
    """A metric monitor (Datadog ``query alert`` or ``metric alert``; Datadog stores the
    latter as a ``query alert``, and plan compares them as the same)."""

    key: str
    name: str
    query: Expr
    comparator: Comparator
    thresholds: Thresholds
    message: str
    window: str = "last_5m"
    time_aggregation: TimeAggregation | None = None
    type: Literal["query alert", "metric alert"] = "query alert"
    notify_no_data: bool = False
    no_data_timeframe: int | None = None
    renotify_interval: int | None = None
    priority: int | None = None
    tags: tuple[str, ...] = ()
    require_full_window: bool | None = None
    evaluation_delay: int | None = None
    new_group_delay: int | None = None
    env_thresholds: Mapping[str, Thresholds] = field(default_factory=dict)
    adopt_id: int | None = None
    # obs slo check also judges a service under load by this monitor (and slo export --k6).
    gate: bool = False

    def queries(self) -> Iterator[Query]:
        return self.query.queries()

    def group_by(self) -> tuple[str, ...]:
        """The tag keys the monitor alerts on separately (multi-alert)."""
        keys: list[str] = []
        for q in self.queries():
            keys.extend(k for k in q.by if k not in keys)
        return tuple(keys)

    def thresholds_for(self, env: str | None) -> Thresholds:
        """The thresholds in ``env`` (the default ones where it has none)."""
        return self.env_thresholds.get(env, self.thresholds) if env else self.thresholds

    def effective_time_aggregation(self) -> TimeAggregation:
        """``percentile`` for a lone percentile query (a distribution), the forecast's
        highest (lowest, for ``<``) value ahead for a forecast, else ``avg``."""
        if self.time_aggregation:
            return self.time_aggregation
        if self.is_forecast():
            return "max" if self.comparator in (">", ">=") else "min"
        only = self.query if isinstance(self.query, Query) else None
        return "percentile" if only is not None and only.is_percentile else "avg"

    def is_forecast(self) -> bool:
        """True for a forecast monitor: its query is a ``forecast()``, its window ahead."""
        return isinstance(self.query, Call) and self.query.function == "forecast"

    def query_text(self, thresholds: Thresholds, expr: Expr | None = None) -> str:
        """The full Datadog monitor query for these thresholds."""
        return render_monitor_query(
            MonitorQuery(
                self.effective_time_aggregation(),
                self.window,
                expr or self.query,
                self.comparator,
                thresholds.critical,
            )
        )
