"""SLOs evaluated over the store: how each one stands on the data the preview holds.

The same definitions Datadog gets, computed the way Datadog computes them, over the rounds
held (15 minutes by default) instead of 7 to 90 days:

- a :class:`~obs.slos.Ratio` sums its good and its total events over a span (a count with
  no series counts 0: nothing happened); the indicator is good / total;
- a :class:`~obs.slos.TimeSlice` cuts the span into slices of its length, newest first (the
  oldest may be shorter), evaluates the expression over each as a query value does
  (counts summed, percentiles of every observation in the slice), and counts the slices
  meeting the threshold; slices without data count neither way.

Over a span, the error rate is the bad share; the burn rate is that rate divided by the
error budget (100 % minus the target): 1 spends a whole budget in exactly the SLO's window.
"Budget left" is the share of the span's budget not spent: 1 - burn rate (below 0 when it is
overspent). Each burn-rate alert is checked over its long and short windows, each cut to
the data held; it fires when both reach its factor.

Example:
    >>> from obs.slos.shipped import JOB_SUCCESS
    >>> from obs.preview.store import Store
    >>> status = slo_status(JOB_SUCCESS, Store(), None)
    >>> status.state, status.sli
    ('no data', None)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from obs.catalog import Kind
from obs.metric_query.tree import Query
from obs.preview.evaluate import Grouped, PreviewError, Step, evaluate
from obs.preview.formulas import combine
from obs.preview.model import Evaluation, frame_of
from obs.preview.store import Round, Store
from obs.slos import burn
from obs.slos.slo import SLO, WINDOW_DAYS, Ratio, TimeSlice

State = Literal["ok", "missed", "no data", "error"]


@dataclass(frozen=True)
class Count:
    """Good and all events (or slices) over a span of ``seconds``."""

    good: float
    total: float
    seconds: float

    @property
    def bad_share(self) -> float | None:
        return (self.total - self.good) / self.total if self.total > 0 else None


@dataclass(frozen=True)
class AlertStatus:
    """One burn-rate alert over the data held: the burn rates over its windows (as much of
    them as is held), and whether both reach its factor."""

    name: str
    factor: float
    long_window: str
    short_window: str
    long: float | None
    short: float | None
    long_seconds: float
    short_seconds: float

    @property
    def firing(self) -> bool:
        return (
            self.long is not None
            and self.short is not None
            and min(self.long, self.short) >= self.factor
        )


@dataclass(frozen=True)
class SLOStatus:
    """How one SLO stands over the data held (percentages as percentages)."""

    key: str
    name: str
    window: str
    target: float
    counted: str  # what good and total count: "events" or "slices"
    good: float
    total: float
    seconds: float
    sli: float | None
    burn_rate: float | None
    alerts: tuple[AlertStatus, ...]
    error: str | None = None

    @property
    def state(self) -> State:
        if self.error is not None:
            return "error"
        if self.sli is None:
            return "no data"
        return "missed" if self.sli < self.target else "ok"

    @property
    def budget_left(self) -> float | None:
        """The share of the span's error budget not spent (negative: overspent)."""
        return None if self.burn_rate is None else 1 - self.burn_rate

    @property
    def exhaustion(self) -> float | None:
        """Seconds a whole budget of the SLO's window lasts at the current burn rate."""
        if self.burn_rate is None or self.burn_rate <= 0:
            return None
        return burn.exhaustion_seconds(WINDOW_DAYS[self.window], self.burn_rate)

    @property
    def burning(self) -> bool:
        """Spending the budget faster than the window allows."""
        return self.burn_rate is not None and self.burn_rate > 1

    def as_json(self) -> dict[str, Any]:
        exhaustion = self.exhaustion
        return {
            "key": self.key,
            "name": self.name,
            "window": self.window,
            "target": self.target,
            "counted": self.counted,
            "good": self.good,
            "total": self.total,
            "seconds": self.seconds,
            "sli": self.sli,
            "state": self.state,
            "burn_rate": self.burn_rate,
            "burning": self.burning,
            "budget_left": self.budget_left,
            "exhaustion": exhaustion,
            "exhaustion_text": None if exhaustion is None else burn.describe_seconds(exhaustion),
            "alerts": [
                {
                    "name": a.name,
                    "factor": a.factor,
                    "long_window": a.long_window,
                    "short_window": a.short_window,
                    "long": a.long,
                    "short": a.short,
                    "long_seconds": a.long_seconds,
                    "short_seconds": a.short_seconds,
                    "firing": a.firing,
                }
                for a in self.alerts
            ],
            "error": self.error,
        }


def span(rounds: Sequence[Round], seconds: float | None) -> Step:
    """The step over the last ``seconds`` of ``rounds`` (all of them for None, or when
    fewer are held)."""
    if not rounds:
        return Step(0, 0, 0.0)
    last = rounds[-1]
    if seconds is not None:
        start = next((r for r in reversed(rounds) if r.time <= last.time - seconds), None)
        if start is not None:
            return Step(start.index, last.index, last.time - start.time)
    return Step(rounds[0].index - 1, last.index, last.time - rounds[0].time)


def count_over(slo: SLO, ev: Evaluation, rounds: Sequence[Round], step: Step) -> Count:
    """Good and all events (Ratio) or slices (TimeSlice) of ``slo`` over ``step``."""
    sli = slo.sli
    if isinstance(sli, Ratio):
        good = _sum(combine(sli.good, lambda q: _counted(ev, q, step), [step.seconds]))
        total = _sum(combine(sli.total, lambda q: _counted(ev, q, step), [step.seconds]))
        return Count(good, total, step.seconds)
    good = total = 0
    for piece in slices(rounds, step, sli.slice_seconds):
        value = _value(combine(sli.expr, partial(_over, ev, step=piece), [piece.seconds]))
        if value is None:
            continue  # no data in this slice: neither good nor bad
        total += 1
        good += _meets(value, sli)
    return Count(float(good), float(total), step.seconds)


def slices(rounds: Sequence[Round], step: Step, length: float) -> list[Step]:
    """``step`` cut into slices of ``length`` seconds ending at its end, oldest first (the
    oldest may be shorter); each slice's last round is the next one's boundary.

    Example:
        >>> held = [Round(i, 10.0 * i) for i in range(8)]
        >>> [(s.after, s.through) for s in slices(held, Step(-1, 7, 70.0), 30)]
        [(-1, 1), (1, 4), (4, 7)]
    """
    inside = [r for r in rounds if step.after < r.index <= step.through]
    cuts: list[Step] = []
    end = len(inside) - 1
    while end >= 0:
        boundary = next(
            (i for i in range(end - 1, -1, -1) if inside[i].time <= inside[end].time - length),
            None,
        )
        if boundary is None:
            cuts.append(Step(step.after, inside[end].index, inside[end].time - inside[0].time))
            break
        cuts.append(
            Step(
                inside[boundary].index, inside[end].index, inside[end].time - inside[boundary].time
            )
        )
        end = boundary
    return list(reversed(cuts))


def _meets(value: float, sli: TimeSlice) -> int:
    return {
        ">": value > sli.threshold,
        ">=": value >= sli.threshold,
        "<": value < sli.threshold,
        "<=": value <= sli.threshold,
    }[sli.comparator]


def _over(ev: Evaluation, query: Query, *, step: Step) -> Grouped:
    return evaluate(query, ev.series(query.metric), [step])


def _counted(ev: Evaluation, query: Query, step: Step) -> Grouped:
    """A count over ``step``: 0 when nothing was counted (no series, or no increase)."""
    found = _over(ev, query, step=step)
    if query.metric.kind in (Kind.COUNTER, Kind.HISTOGRAM):
        return found or {(): [0.0]}
    return found


def _sum(grouped: Grouped) -> float:
    return math.fsum(v[0] or 0.0 for v in grouped.values() if v)


def _value(grouped: Grouped) -> float | None:
    present = [v[0] for v in grouped.values() if v and v[0] is not None]
    return present[0] if len(present) == 1 else None


def slo_status(slo: SLO, store: Store, env: str | None) -> SLOStatus:
    """How ``slo`` stands over everything ``store`` holds (``env``: its targets there)."""
    rounds = store.rounds()
    ev = Evaluation(store, frame_of(rounds))
    window, target = slo.primary(env)
    budget = (100 - target) / 100
    counted = "events" if isinstance(slo.sli, Ratio) else "slices"
    if not 0 < target < 100:  # the preview draws definitions obs provision would refuse
        error = f"target {target:g} % is not a percentage above 0 and below 100"
        return SLOStatus(slo.key, slo.name, window, target, counted, 0, 0, 0, None, None, (), error)
    try:
        whole = count_over(slo, ev, rounds, span(rounds, None))
        alerts = tuple(_alert(slo, ev, rounds, a, window=window, budget=budget) for a in slo.alerts)
    except (PreviewError, ValueError) as exc:  # ValueError: a burn-rate window unreadable
        error = str(exc)
        return SLOStatus(slo.key, slo.name, window, target, counted, 0, 0, 0, None, None, (), error)
    share = whole.bad_share
    return SLOStatus(
        slo.key,
        slo.name,
        window,
        target,
        counted,
        whole.good,
        whole.total,
        whole.seconds,
        None if share is None else 100 * (1 - share),
        None if share is None else share / budget,
        alerts,
    )


def _alert(
    slo: SLO,
    ev: Evaluation,
    rounds: Sequence[Round],
    alert: burn.BurnRate,
    *,
    window: str,
    budget: float,
) -> AlertStatus:
    rates = []
    for length in (alert.long_window, alert.short_window):
        counted = count_over(slo, ev, rounds, span(rounds, burn.seconds(length)))
        share = counted.bad_share
        rates.append((None if share is None else share / budget, counted.seconds))
    (long, long_seconds), (short, short_seconds) = rates
    return AlertStatus(
        alert.name,
        burn.factor_for(alert, WINDOW_DAYS[window]),
        alert.long_window,
        alert.short_window,
        long,
        short,
        long_seconds,
        short_seconds,
    )
