"""A service level objective as a value: an indicator measured from catalog metrics, a
target per time window, and the burn-rate alerts derived from it.

Two indicators, one per kind of SLO Datadog computes:

- :class:`Ratio`: good events over all events, from counts (a Datadog metric-based SLO).
  Mongo commands without ``error.type`` over all commands; jobs completed over jobs
  finished.
- :class:`TimeSlice`: a slice of time (one or five minutes) is good when a query over it
  meets a threshold (a Datadog time-slice SLO). A latency objective is written this way:
  a minute is good when its p99 stays under the threshold. Datadog's metric SLOs cannot
  count a histogram's observations under a value without its "threshold queries", which
  need percentiles enabled on the metric in Datadog's UI and have no documented query text;
  so obs counts good minutes rather than good commands (docs/slos.md weighs the two).

``targets`` maps Datadog's windows (7, 30 or 90 days) to a percentage; the first is the
SLO's primary window: its burn-rate alerts, the preview and ``obs slo check`` use it.

Example:
    >>> from obs import catalog
    >>> from obs.metric_query.tree import count
    >>> jobs = catalog.MESSAGING_PROCESS_DURATION
    >>> slo = SLO("demo.jobs", "Jobs succeed",
    ...           Ratio(count(jobs, where={"obs.job.outcome": "completed"}), count(jobs)),
    ...           targets={"30d": 99.0, "7d": 98.0})
    >>> slo.window, slo.target, slo.targets_for("prod")
    ('30d', 99.0, {'30d': 99.0, '7d': 98.0})
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from obs.metric_query.tree import Comparator, Expr, Query
from obs.slos.burn import PAGE, TICKET, BurnRate

Window = Literal["7d", "30d", "90d"]
WINDOWS: tuple[Window, ...] = ("7d", "30d", "90d")
WINDOW_DAYS: Mapping[str, int] = {"7d": 7, "30d": 30, "90d": 90}
SliceSeconds = Literal[60, 300]


@dataclass(frozen=True)
class Ratio:
    """Good events over all events, each an expression of counts (``count(...)``)."""

    good: Expr
    total: Expr

    def queries(self) -> Iterator[Query]:
        yield from self.good.queries()
        yield from self.total.queries()


@dataclass(frozen=True)
class TimeSlice:
    """A slice of ``slice_seconds`` is good when ``expr comparator threshold`` holds over
    it (an expression of one or more queries, as a dashboard formula)."""

    expr: Expr
    comparator: Comparator
    threshold: float
    slice_seconds: SliceSeconds = 60

    def queries(self) -> Iterator[Query]:
        yield from self.expr.queries()


@dataclass(frozen=True)
class SLO:
    """One objective: ``sli`` meets ``targets`` (window -> percent, the first primary),
    stricter ``warnings`` optional, other targets per environment in ``env_targets``.
    ``alerts`` are the burn-rate alerts obs provisions with it (none: ``alerts=()``)."""

    key: str
    name: str
    sli: Ratio | TimeSlice
    targets: Mapping[Window, float]
    warnings: Mapping[Window, float] = field(default_factory=dict)
    env_targets: Mapping[str, Mapping[Window, float]] = field(default_factory=dict)
    description: str = ""
    tags: tuple[str, ...] = ()
    alerts: tuple[BurnRate, ...] = (PAGE, TICKET)
    adopt_id: str | None = None

    def queries(self) -> Iterator[Query]:
        return self.sli.queries()

    def targets_for(self, env: str | None) -> dict[Window, float]:
        """The targets in ``env`` (the default ones where it has none)."""
        chosen = self.env_targets.get(env, self.targets) if env else self.targets
        return dict(chosen)

    @property
    def window(self) -> Window:
        """The primary window: the first of ``targets``."""
        return next(iter(self.targets))

    @property
    def target(self) -> float:
        """The primary window's target, in percent."""
        return self.targets[self.window]

    def primary(self, env: str | None) -> tuple[Window, float]:
        """The primary window and its target in ``env``."""
        targets = self.targets_for(env)
        window = next(iter(targets))
        return window, targets[window]
