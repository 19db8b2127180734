"""What ``obs slo check`` decides, as values: one :class:`Verdict` per SLO or monitor,
computed from the preview's store by the preview's evaluator.

An SLO is met when its indicator over the window reaches its target (the error budget of
the window is not overspent), missed when it does not, and skipped when the window held no
events (or slices) for it. A monitor marked ``gate=True`` is evaluated as Datadog would at
the end of the window, over the whole window: its query per step, reduced by its time
aggregation (a lone percentile over every observation of the window), each group compared
with its critical threshold; it fails when any group would alert.

Example:
    >>> Verdict("slo", "k", "K", "met", "99.95 % (2 of 2 events)").failed
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from obs.monitors.monitor import Monitor
from obs.preview.evaluate import PreviewError
from obs.preview.formulas import combine, reduce
from obs.preview.model import Evaluation, frame_of
from obs.preview.slo import SLOStatus, slo_status
from obs.preview.store import Store
from obs.preview.units import format_value, unit_of
from obs.slos.slo import SLO

Result = Literal["met", "missed", "skipped", "error"]
_ALERTS = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Verdict:
    """One SLO's or monitor's result, with what was measured and what was asked."""

    kind: Literal["slo", "monitor"]
    key: str
    name: str
    result: Result
    measured: str
    objective: str = ""
    burn_rate: float | None = None
    budget_left: float | None = None

    @property
    def failed(self) -> bool:
        return self.result == "missed"


def slo_verdict(slo: SLO, store: Store, env: str | None) -> Verdict:
    """``slo`` over everything ``store`` holds."""
    status = slo_status(slo, store, env)
    objective = f"{status.target:g} % over {status.window}"
    if status.error is not None:
        return Verdict("slo", slo.key, slo.name, "error", status.error, objective)
    if status.sli is None:
        return Verdict("slo", slo.key, slo.name, "skipped", f"no {status.counted}", objective)
    result: Result = "met" if status.state == "ok" else "missed"
    return Verdict(
        "slo",
        slo.key,
        slo.name,
        result,
        _measured(status),
        objective,
        status.burn_rate,
        status.budget_left,
    )


def _measured(status: SLOStatus) -> str:
    return (
        f"{status.sli:.3f} % ({status.good:,.0f} of {status.total:,.0f} {status.counted})"
        if status.sli is not None
        else f"no {status.counted}"
    )


def monitor_verdict(monitor: Monitor, store: Store, env: str | None) -> Verdict:
    """``monitor``'s query over everything ``store`` holds, against its critical threshold
    in ``env``."""
    levels = monitor.thresholds_for(env)
    objective = f"alerts when {monitor.comparator} {levels.critical:g}"
    if monitor.is_forecast():
        reason = "a forecast looks weeks ahead; a load test's window cannot judge it"
        return Verdict("monitor", monitor.key, monitor.name, "error", reason, objective)
    ev = Evaluation(store, frame_of(store.rounds()))
    aggregation = monitor.effective_time_aggregation()
    try:
        if aggregation == "percentile":
            values = combine(monitor.query, lambda q: ev.scalar(q, "percentile"), [0.0])
            reduced = {key: v[0] for key, v in values.items()}
        else:
            seconds = [s.seconds for s in ev.frame.steps]
            per_step = combine(monitor.query, ev.over_time, seconds)
            how = "last" if aggregation == "last" else aggregation
            reduced = {key: reduce(v, how) for key, v in per_step.items()}
    except PreviewError as exc:
        return Verdict("monitor", monitor.key, monitor.name, "error", str(exc), objective)
    present = {key: v for key, v in reduced.items() if v is not None}
    if not present:
        return Verdict("monitor", monitor.key, monitor.name, "skipped", "no data", objective)
    unit = unit_of(monitor.query)
    alerting = [
        key for key, v in present.items() if _ALERTS[monitor.comparator](v, levels.critical)
    ]
    shown = "; ".join(
        f"{_group(key)}{format_value(v, unit)}" for key, v in sorted(present.items())[:5]
    )
    result: Result = "missed" if alerting else "met"
    return Verdict("monitor", monitor.key, monitor.name, result, shown, objective)


def _group(key: Sequence[tuple[str, str]]) -> str:
    return ",".join(f"{k}:{v}" for k, v in key) + " " if key else ""
