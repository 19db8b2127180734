"""Render an :class:`~obs.slos.SLO` into the JSON body of Datadog's SLO API, and its
burn-rate alerts into ``slo alert`` monitors, through datadog-api-client's models.

A :class:`~obs.slos.Ratio` becomes a metric SLO (``query.numerator`` and
``query.denominator``), a :class:`~obs.slos.TimeSlice` a time-slice SLO
(``sli_specification.time_slice``, the expression as a formula over named queries). Every
target becomes a threshold; the primary one is also written as ``timeframe`` /
``target_threshold`` / ``warning_threshold``, which Datadog would otherwise fill itself.
With an environment, each query gets ``env:<env>`` unless it filters ``env`` already, the
SLO and its alerts the tag ``env:<env>``, and the environment's targets apply.

A burn-rate alert's query is ``burn_rate("<slo id>").over("30d").long_window("1h")
.short_window("5m") > 14.4`` (Datadog's SLO alert syntax); until the SLO exists, the id is
a placeholder (:mod:`obs.provision.references`).

Example:
    >>> from obs.slos.shipped import JOB_SUCCESS
    >>> body = render_slo(JOB_SUCCESS, env="prod")
    >>> body["type"], body["query"]["denominator"]
    ('metric', 'count:messaging.process.duration{env:prod}')
    >>> [m.body["query"] for m in burn_rate_monitors(JOB_SUCCESS, None)][0]
    'burn_rate("obs-slo:obs.jobs.success").over("30d").long_window("1h").short_window("5m") > 14.4'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datadog_api_client.v1.model.formula_and_function_metric_data_source import (
    FormulaAndFunctionMetricDataSource,
)
from datadog_api_client.v1.model.formula_and_function_metric_query_definition import (
    FormulaAndFunctionMetricQueryDefinition,
)
from datadog_api_client.v1.model.monitor import Monitor as MonitorModel
from datadog_api_client.v1.model.monitor_options import MonitorOptions
from datadog_api_client.v1.model.monitor_thresholds import MonitorThresholds
from datadog_api_client.v1.model.service_level_objective_query import (
    ServiceLevelObjectiveQuery,
)
from datadog_api_client.v1.model.service_level_objective_request import (
    ServiceLevelObjectiveRequest,
)
from datadog_api_client.v1.model.slo_data_source_query_definition import (
    SLODataSourceQueryDefinition,
)
from datadog_api_client.v1.model.slo_formula import SLOFormula
from datadog_api_client.v1.model.slo_threshold import SLOThreshold
from datadog_api_client.v1.model.slo_time_slice_comparator import SLOTimeSliceComparator
from datadog_api_client.v1.model.slo_time_slice_condition import SLOTimeSliceCondition
from datadog_api_client.v1.model.slo_time_slice_interval import SLOTimeSliceInterval
from datadog_api_client.v1.model.slo_time_slice_query import SLOTimeSliceQuery
from datadog_api_client.v1.model.slo_time_slice_spec import SLOTimeSliceSpec
from datadog_api_client.v1.model.slo_timeframe import SLOTimeframe
from datadog_api_client.v1.model.slo_type import SLOType

from obs.metric_query.grammar import format_number, render, render_formula, render_query
from obs.metric_query.tree import Query
from obs.provision.identity import Identity, Mark, monitor_tags
from obs.provision.models import as_json, build
from obs.provision.references import slo_placeholder
from obs.provision.render_monitor import in_env
from obs.slos.burn import BurnRate, describe_seconds, exhaustion_seconds, factor_for
from obs.slos.slo import SLO, WINDOW_DAYS, Ratio, TimeSlice

_TIMEFRAMES = {
    "7d": SLOTimeframe.SEVEN_DAYS,
    "30d": SLOTimeframe.THIRTY_DAYS,
    "90d": SLOTimeframe.NINETY_DAYS,
}
_COMPARATORS = {
    ">": SLOTimeSliceComparator.GREATER,
    ">=": SLOTimeSliceComparator.GREATER_EQUAL,
    "<": SLOTimeSliceComparator.LESS,
    "<=": SLOTimeSliceComparator.LESS_EQUAL,
}
_INTERVALS = {60: SLOTimeSliceInterval.ONE_MINUTE, 300: SLOTimeSliceInterval.FIVE_MINUTES}


def render_slo(slo: SLO, env: str | None, project: str | None = None) -> dict[str, Any]:
    """The create/update body for ``slo``, marked as ``project``'s."""
    name = f"slo {slo.key}"
    targets = slo.targets_for(env)
    field = f"env_targets[{env!r}]" if env in slo.env_targets else "targets"
    thresholds = [
        build(
            name,
            f"{field}[{window!r}]",
            SLOThreshold,
            timeframe=_TIMEFRAMES[window],
            target=float(target),
            warning=_number(slo.warnings.get(window)),
        )
        for window, target in targets.items()
    ]
    window, target = slo.primary(env)
    sli: dict[str, Any]
    if isinstance(slo.sli, Ratio):
        good, all_events = in_env(slo.sli.good, env), in_env(slo.sli.total, env)
        query = build(
            name,
            "sli",
            ServiceLevelObjectiveQuery,
            numerator=render(good),
            denominator=render(all_events),
        )
        sli = {"type": SLOType.METRIC, "query": query}
    else:
        sli = {
            "type": SLOType.TIME_SLICE,
            "sli_specification": _time_slice(name, slo.sli, env),
        }
    env_tags = (f"env:{env}",) if env else ()
    mark = monitor_tags(Mark(Identity(slo.key, env, project)))
    model = build(
        name,
        "",
        ServiceLevelObjectiveRequest,
        name=slo.name,
        description=slo.description or None,
        tags=sorted({*slo.tags, *env_tags, *mark}),
        thresholds=thresholds,
        timeframe=_TIMEFRAMES[window],
        target_threshold=float(target),
        warning_threshold=_number(slo.warnings.get(window)),
        **sli,
    )
    return as_json(model)


def _time_slice(name: str, sli: TimeSlice, env: str | None) -> SLOTimeSliceSpec:
    expr = in_env(sli.expr, env)
    names: dict[Query, str] = {}
    for query in expr.queries():
        names.setdefault(query, f"query{len(names) + 1}")
    queries: list[SLODataSourceQueryDefinition | FormulaAndFunctionMetricQueryDefinition] = [
        build(
            name,
            "sli.expr",
            FormulaAndFunctionMetricQueryDefinition,
            data_source=FormulaAndFunctionMetricDataSource.METRICS,
            name=query_name,
            query=render_query(query),
        )
        for query, query_name in names.items()
    ]
    condition = build(
        name,
        "sli",
        SLOTimeSliceCondition,
        comparator=_COMPARATORS[sli.comparator],
        threshold=float(sli.threshold),
        query=SLOTimeSliceQuery(
            formulas=[SLOFormula(formula=render_formula(expr, names.__getitem__))],
            queries=queries,
        ),
        query_interval_seconds=_INTERVALS[sli.slice_seconds],
    )
    return build(name, "sli", SLOTimeSliceSpec, time_slice=condition)


@dataclass(frozen=True)
class AlertBody:
    """A rendered burn-rate alert: its monitor key, name and body."""

    key: str
    name: str
    body: dict[str, Any]


def alert_key(slo: SLO, alert: BurnRate) -> str:
    """The monitor key of one of ``slo``'s burn-rate alerts."""
    return f"{slo.key}.burn.{alert.name}"


def burn_rate_monitors(slo: SLO, env: str | None, project: str | None = None) -> list[AlertBody]:
    """The ``slo alert`` monitors of ``slo``'s burn-rate alerts in ``env``."""
    window, target = slo.primary(env)
    days = WINDOW_DAYS[window]
    env_tags = (f"env:{env}",) if env else ()
    out = []
    for alert in slo.alerts:
        key = alert_key(slo, alert)
        definition = f"monitor {key}"
        factor = factor_for(alert, days)
        query = (
            f'burn_rate("{slo_placeholder(slo.key)}").over("{window}")'
            f'.long_window("{alert.long_window}").short_window("{alert.short_window}")'
            f" > {format_number(factor)}"
        )
        name = f"{slo.name}: error budget burning ({alert.name}, {format_number(factor)}x)"
        options = build(
            definition,
            "options",
            MonitorOptions,
            thresholds=build(definition, "alerts", MonitorThresholds, critical=float(factor)),
        )
        mark = monitor_tags(Mark(Identity(key, env, project)))
        model = build(
            definition,
            "",
            MonitorModel,
            type="slo alert",
            name=name,
            query=query,
            message=burn_message(slo, alert, window, target, factor),
            tags=sorted({*slo.tags, *env_tags, *mark}),
            priority=alert.priority,
            options=options,
        )
        out.append(AlertBody(key, name, as_json(model)))
    return out


def burn_message(slo: SLO, alert: BurnRate, window: str, target: float, factor: float) -> str:
    """What the alert says: how fast the budget burns, and how long it lasts at that rate.

    Datadog's burn-rate alerts offer the observed rates as ``{{long_window_burn_rate}}`` and
    ``{{short_window_burn_rate}}``, not the budget left: the message works out what the
    threshold means and points to the SLO for the rest.
    """
    days = WINDOW_DAYS[window]
    share = f"{alert.budget_spent * 100:g} %" if alert.factor is None else "its share"
    lines = [
        f"{slo.name} (target {format_number(target)} % over {days} days) is spending its error "
        f"budget {{{{long_window_burn_rate}}}}x as fast as it can afford over the last "
        f"{alert.long_window}, and {{{{short_window_burn_rate}}}}x over the last "
        f"{alert.short_window}.",
        f"This alert fires at {format_number(factor)}x: {share} of the {days}-day budget gone "
        f"within {alert.long_window}. At {format_number(factor)}x a whole budget lasts "
        f"{describe_seconds(exhaustion_seconds(days, factor))}; at the rate above, "
        f"{days} days divided by it. The budget left is on the SLO's page "
        f'("{slo.name}").',
    ]
    if alert.notify:
        lines.append(alert.notify)
    return "\n\n".join(lines)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)
