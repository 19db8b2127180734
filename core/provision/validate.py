"""obs's own rules for dashboards, monitors and SLOs, checked before anything is sent.

Datadog's models and spec check shapes and types; these check meaning: every expression is
one the query grammar can write (:func:`obs.metric_query.grammar.problems`), every query names
a metric from obs's catalog with attribute keys declared on it, aggregations fit the metric's
kind, template variables used are defined, thresholds agree with the comparator, message
variables name a group-by key, and keys are unique.

Example:
    >>> from obs import catalog
    >>> from obs.monitors import Monitor, Thresholds, p95
    >>> m = Monitor("x", "Slow", p95(catalog.DB_CLIENT_OPERATION_DURATION), ">",
    ...             Thresholds(critical=0.5, warning=0.9), "Slow.")
    >>> [str(p) for p in validate_monitor(m)]
    ['monitor x: thresholds.warning: 0.9 must be below critical (0.5) for a > alert']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from obs import catalog
from obs.catalog import Kind
from obs.dashboards.dashboard import Dashboard
from obs.dashboards.widgets import Distribution, Graph, Group, Note, QueryValue, Widget
from obs.metric_query import grammar
from obs.metric_query.tree import RESOURCE_TAGS, Expr, Query, Var
from obs.monitors.monitor import Monitor, Thresholds
from obs.provision.field_types import field_type_problems
from obs.provision.identity import KEY_PATTERN, is_ownership_tag
from obs.provision.problems import Problem
from obs.slos import burn
from obs.slos.burn import BurnRate
from obs.slos.slo import SLO, WINDOW_DAYS, Ratio, TimeSlice, Window

_TEAM = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_MONITOR_TAG = re.compile(r"^[a-z][a-z0-9_\-./:]*$")
_MESSAGE_GROUP = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\.name\s*\}\}")
_REDUCERS = frozenset({"avg", "last", "sum", "min", "max", "percentile"})


def validate_all(
    dashboards: Iterable[Dashboard], monitors: Iterable[Monitor], slos: Iterable[SLO] = ()
) -> list[Problem]:
    """Every problem in the definitions, duplicates across them included (an SLO's
    burn-rate alerts are monitors too)."""
    dashboards, monitors, slos = list(dashboards), list(monitors), list(slos)
    problems: list[Problem] = []
    for d in dashboards:
        problems.extend(validate_dashboard(d))
    for m in monitors:
        problems.extend(validate_monitor(m))
    for slo in slos:
        problems.extend(validate_slo(slo))
    alert_keys = [
        f"{slo.key}.burn.{a.name}"
        for slo in slos
        if not field_type_problems(f"slo {slo.key}", slo)
        for a in slo.alerts
    ]
    problems.extend(_duplicates("dashboard", [d.key for d in dashboards], "key"))
    problems.extend(_duplicates("monitor", [m.key for m in monitors] + alert_keys, "key"))
    problems.extend(_duplicates("slo", [slo.key for slo in slos], "key"))
    problems.extend(_duplicates("dashboard", [d.adopt_id for d in dashboards], "adopt_id"))
    problems.extend(_duplicates("monitor", [m.adopt_id for m in monitors], "adopt_id"))
    problems.extend(_duplicates("slo", [slo.adopt_id for slo in slos], "adopt_id"))
    return problems


def _duplicates(kind: str, values: list[Any], field: str) -> Iterator[Problem]:
    seen = set()
    for value in values:
        if value is not None and value in seen:
            yield Problem(f"{kind} {value}", field, f"two {kind}s use the {field} {value!r}")
        seen.add(value)


def validate_dashboard(dashboard: Dashboard) -> list[Problem]:
    """Problems in one dashboard."""
    owner = f"dashboard {dashboard.key}"
    wrong = field_type_problems(owner, dashboard)
    if wrong:
        return wrong  # the rules below read the fields as their types say
    problems = list(_key(owner, dashboard.key))
    if not dashboard.title.strip():
        problems.append(Problem(owner, "title", "is empty"))
    defined = dashboard.variable_names()
    for i, var in enumerate(dashboard.template_variables):
        if not grammar.VARIABLE.fullmatch(var.name) or defined.count(var.name) > 1:
            problems.append(
                Problem(
                    owner, f"template_variables[{i}].name", f"{var.name!r} is invalid or repeated"
                )
            )
    if len(dashboard.teams) > 5:
        problems.append(Problem(owner, "teams", "Datadog takes at most 5 teams"))
    problems.extend(
        Problem(owner, "teams", f"{t!r} is not a team handle")
        for t in dashboard.teams
        if not _TEAM.match(t)
    )
    fixed = dashboard.reflow == "fixed"
    for field, widget in _widgets(dashboard.widgets, "widgets"):
        if fixed and widget.layout is None:
            problems.append(Problem(owner, f"{field}.layout", "reflow='fixed' needs a layout"))
        if not fixed and widget.layout is not None:
            problems.append(Problem(owner, f"{field}.layout", "only applies with reflow='fixed'"))
        problems.extend(_widget(owner, field, widget, defined))
    return problems


def _widgets(widgets: tuple[Widget, ...], prefix: str) -> Iterator[tuple[str, Widget]]:
    for i, widget in enumerate(widgets):
        field = f"{prefix}[{i}]"
        yield field, widget
        if isinstance(widget, Group):
            yield from _widgets(widget.widgets, f"{field}.widgets")


def _widget(owner: str, field: str, widget: Widget, defined: tuple[str, ...]) -> list[Problem]:
    if isinstance(widget, Note):
        return [] if widget.content.strip() else [Problem(owner, f"{field}.content", "is empty")]
    if isinstance(widget, Group):
        return [] if widget.widgets else [Problem(owner, f"{field}.widgets", "group is empty")]
    problems = []
    graph: Graph = widget
    if not graph.series:
        problems.append(Problem(owner, f"{field}.series", "has no series"))
    if isinstance(graph, QueryValue) and len(graph.series) > 1:
        problems.append(Problem(owner, f"{field}.series", "a query value shows one series"))
    reduce = getattr(graph, "reduce", None)
    if reduce is not None and reduce not in _REDUCERS:
        problems.append(
            Problem(owner, f"{field}.reduce", f"{reduce!r} is not one of {sorted(_REDUCERS)}")
        )
    if isinstance(graph, Distribution) and graph.query.metric.kind is not Kind.HISTOGRAM:
        problems.append(
            Problem(owner, f"{field}.query", f"{graph.query.metric.name} is not a histogram")
        )
    for i, formula in enumerate(graph.formulas()):
        if formula.limit is not None and formula.limit < 1:
            problems.append(Problem(owner, f"{field}.series[{i}].limit", "must be at least 1"))
        where = f"{field}.series[{i}]"
        problems.extend(_grammar(owner, where, formula.expr))
        for q in formula.expr.queries():
            problems.extend(check_query(owner, where, q, allow_variables=True))
            problems.extend(
                Problem(owner, where, f"uses ${v}, which the dashboard does not define")
                for v in q.variables()
                if v not in defined
            )
    return problems


def _grammar(owner: str, field: str, expr: Expr) -> list[Problem]:
    return [Problem(owner, field, p) for p in grammar.problems(expr)]


def check_query(owner: str, field: str, query: Query, *, allow_variables: bool) -> list[Problem]:
    """Problems with one query: catalog metric, declared attribute keys, fitting aggregation."""
    metric = query.metric
    if catalog.CATALOG.get(metric.name) is not metric:
        return [Problem(owner, field, f"{metric.name!r} is not a metric in obs's catalog")]
    problems = []
    allowed = set(metric.attributes) | RESOURCE_TAGS
    for key in query.tag_keys():
        if key not in allowed:
            problems.append(
                Problem(
                    owner,
                    field,
                    f"{metric.name} has no attribute {key!r} (it has: "
                    f"{', '.join(metric.attributes) or 'none'})",
                )
            )
    for term in query.scope:
        if isinstance(term, Var) and not allow_variables:
            problems.append(
                Problem(owner, field, f"${term.name}: monitors have no template variables")
            )
    if query.is_percentile and metric.kind is not Kind.HISTOGRAM:
        problems.append(
            Problem(
                owner,
                field,
                f"{query.aggregation} needs a histogram; {metric.name} is a {metric.kind.value}",
            )
        )
    if (query.as_count or query.as_rate) and metric.kind is not Kind.COUNTER:
        problems.append(
            Problem(
                owner,
                field,
                f"as_count/as_rate need a counter; {metric.name} is a {metric.kind.value}",
            )
        )
    if query.as_count and query.as_rate:
        problems.append(Problem(owner, field, "as_count and as_rate exclude each other"))
    return problems


def validate_monitor(monitor: Monitor) -> list[Problem]:
    """Problems in one monitor."""
    owner = f"monitor {monitor.key}"
    wrong = field_type_problems(owner, monitor)
    if wrong:
        return wrong  # the rules below read the fields as their types say
    problems = list(_key(owner, monitor.key))
    for field in ("name", "message"):
        if not getattr(monitor, field).strip():
            problems.append(Problem(owner, field, "is empty"))
    if not grammar.WINDOW.fullmatch(monitor.window):
        problems.append(Problem(owner, "window", f"{monitor.window!r} is not last_<N>m|h|d|w"))
    elif monitor.is_forecast() != bool(grammar.FORECAST_WINDOW.fullmatch(monitor.window)):
        reason = (
            "a forecast monitor looks ahead: next_<N>m|h|d|w"
            if monitor.is_forecast()
            else "only a forecast() monitor looks ahead (next_...); this one looks back: last_..."
        )
        problems.append(Problem(owner, "window", f"{monitor.window!r}: {reason}"))
    if monitor.comparator not in grammar.COMPARATORS:
        problems.append(
            Problem(owner, "comparator", f"{monitor.comparator!r} is not one of > >= < <=")
        )
    queries = list(monitor.queries())
    if not queries:
        problems.append(Problem(owner, "query", "names no metric query"))
    problems.extend(_grammar(owner, "query", monitor.query))
    for q in queries:
        problems.extend(check_query(owner, "query", q, allow_variables=False))
    aggregation = monitor.effective_time_aggregation()
    if aggregation not in grammar.TIME_AGGREGATIONS:
        problems.append(Problem(owner, "time_aggregation", f"{aggregation!r} is unknown"))
    if any(q.is_percentile for q in queries) and (
        aggregation != "percentile" or not isinstance(monitor.query, Query)
    ):
        problems.append(
            Problem(
                owner, "query", "a percentile is monitored alone, with time_aggregation percentile"
            )
        )
    problems.extend(_thresholds(owner, "thresholds", monitor.thresholds, monitor.comparator))
    for env, levels in monitor.env_thresholds.items():
        problems.extend(_thresholds(owner, f"env_thresholds[{env!r}]", levels, monitor.comparator))
    if monitor.priority is not None and not 1 <= monitor.priority <= 5:
        problems.append(Problem(owner, "priority", "must be 1 (highest) to 5"))
    for field in ("renotify_interval", "no_data_timeframe", "evaluation_delay", "new_group_delay"):
        value = getattr(monitor, field)
        if value is not None and value < 0:
            problems.append(Problem(owner, field, "must not be negative"))
    if monitor.no_data_timeframe is not None and not monitor.notify_no_data:
        problems.append(
            Problem(owner, "no_data_timeframe", "only applies with notify_no_data=True")
        )
    for tag in monitor.tags:
        if not _MONITOR_TAG.match(tag) or is_ownership_tag(tag):
            problems.append(Problem(owner, "tags", f"{tag!r} is not a lowercase tag obs may set"))
    groups = monitor.group_by()
    for name in _MESSAGE_GROUP.findall(monitor.message):
        if name not in groups:
            problems.append(
                Problem(
                    owner, "message", f"{{{{{name}.name}}}} needs the query grouped by {name!r}"
                )
            )
    return problems


def validate_slo(slo: SLO) -> list[Problem]:
    """Problems in one SLO: its indicator's queries, targets, tags and burn-rate alerts."""
    owner = f"slo {slo.key}"
    wrong = field_type_problems(owner, slo)
    if wrong:
        return wrong  # the rules below read the fields as their types say
    problems = list(_key(owner, slo.key))
    if not slo.name.strip():
        problems.append(Problem(owner, "name", "is empty"))
    problems.extend(_sli(owner, slo.sli))
    problems.extend(_targets(owner, "targets", slo.targets, slo.warnings))
    for env, targets in slo.env_targets.items():
        if not KEY_PATTERN.match(env):
            problems.append(Problem(owner, f"env_targets[{env!r}]", "is not an environment name"))
        warnings = {w: v for w, v in slo.warnings.items() if w in targets}
        problems.extend(_targets(owner, f"env_targets[{env!r}]", targets, warnings))
    for tag in slo.tags:
        if not _MONITOR_TAG.match(tag) or is_ownership_tag(tag):
            problems.append(Problem(owner, "tags", f"{tag!r} is not a lowercase tag obs may set"))
    names = [a.name for a in slo.alerts]
    for i, alert in enumerate(slo.alerts):
        where = f"alerts[{i}]"
        if not KEY_PATTERN.match(alert.name) or names.count(alert.name) > 1:
            problems.append(
                Problem(owner, f"{where}.name", f"{alert.name!r} is invalid or repeated")
            )
        problems.extend(_burn_rate(owner, where, alert, slo))
    return problems


def _sli(owner: str, sli: Ratio | TimeSlice) -> list[Problem]:
    parts: list[tuple[str, Expr]] = (
        [("sli.good", sli.good), ("sli.total", sli.total)]
        if isinstance(sli, Ratio)
        else [("sli.expr", sli.expr)]
    )
    problems = []
    for field, expr in parts:
        queries = list(expr.queries())
        if not queries:
            problems.append(Problem(owner, field, "names no metric query"))
        problems.extend(_grammar(owner, field, expr))
        for q in queries:
            problems.extend(check_query(owner, field, q, allow_variables=False))
            if q.by:
                problems.append(
                    Problem(
                        owner, field, "an SLO measures one series: no by=(...); one SLO a group"
                    )
                )
            if isinstance(sli, Ratio) and not _counts_events(q):
                problems.append(
                    Problem(owner, field, f"{q.text()} does not count events: use count(...)")
                )
    if isinstance(sli, TimeSlice):
        if sli.comparator not in grammar.COMPARATORS:
            problems.append(
                Problem(owner, "sli.comparator", f"{sli.comparator!r} is not one of > >= < <=")
            )
        if not math.isfinite(sli.threshold):
            problems.append(Problem(owner, "sli.threshold", "is not a finite number"))
        if sli.slice_seconds not in (60, 300):
            problems.append(Problem(owner, "sli.slice_seconds", "Datadog slices 60 or 300 s"))
    return problems


def _counts_events(query: Query) -> bool:
    """A query of event counts: a counter's ``count()`` or a distribution's ``count:``."""
    if query.metric.kind is Kind.COUNTER:
        return query.aggregation == "sum" and query.as_count
    return query.metric.kind is Kind.HISTOGRAM and query.aggregation == "count"


def _targets(
    owner: str, field: str, targets: Mapping[Window, float], warnings: Mapping[Window, float]
) -> list[Problem]:
    problems = []
    if not targets:
        problems.append(Problem(owner, field, "needs a target for at least one window"))
    for window, target in targets.items():
        if not 0 < target < 100:
            problems.append(
                Problem(
                    owner,
                    f"{field}[{window!r}]",
                    f"{target:g} is not a percentage above 0 and below 100",
                )
            )
    for window, warning in warnings.items():
        below = targets.get(window)
        if below is None:
            problems.append(Problem(owner, f"warnings[{window!r}]", "has no target to warn before"))
        elif not below < warning < 100:
            problems.append(
                Problem(
                    owner,
                    f"warnings[{window!r}]",
                    f"{warning:g} must be above the target ({below:g}) and below 100",
                )
            )
    return problems


def _burn_rate(owner: str, where: str, alert: BurnRate, slo: SLO) -> list[Problem]:
    problems = []
    try:
        long, short = burn.seconds(alert.long_window), burn.seconds(alert.short_window)
    except ValueError as exc:
        return [Problem(owner, where, str(exc))]
    if not short < long <= burn.LONGEST_WINDOW_SECONDS:
        problems.append(
            Problem(owner, where, "the short window must be shorter than the long one, at most 48h")
        )
    if alert.factor is None and not 0 < alert.budget_spent <= 1:
        problems.append(Problem(owner, f"{where}.budget_spent", "is a share: above 0, at most 1"))
    if alert.priority is not None and not 1 <= alert.priority <= 5:
        problems.append(Problem(owner, f"{where}.priority", "must be 1 (highest) to 5"))
    for env, targets in [(None, slo.targets), *slo.env_targets.items()]:
        if not targets:
            continue
        window, target = next(iter(targets.items()))
        if not 0 < target < 100:
            continue  # named with the targets
        factor = burn.factor_for(alert, WINDOW_DAYS[window])
        highest = burn.highest_burn_rate(target)
        if not 0 < factor < highest:
            in_env = f" in {env}" if env else ""
            problems.append(
                Problem(
                    owner,
                    where,
                    f"a burn rate of {factor:g} can never be seen{in_env}: at {target:g} % the "
                    f"highest is {highest:g} (set factor= or a longer long_window)",
                )
            )
    return problems


def _thresholds(owner: str, field: str, levels: Thresholds, comparator: str) -> list[Problem]:
    above = comparator in (">", ">=")
    word = "below" if above else "above"
    pairs = [
        ("warning", levels.warning, "critical", levels.critical),
        ("critical_recovery", levels.critical_recovery, "critical", levels.critical),
        ("warning_recovery", levels.warning_recovery, "warning", levels.warning),
    ]
    # Written into the query text, where only finite numbers can be read back.
    problems = [
        Problem(owner, f"{field}.{name}", f"{value} is not a finite number")
        for name, value in vars(levels).items()
        if value is not None and not math.isfinite(value)
    ]
    for name, value, other_name, other in pairs:
        if value is None:
            continue
        if other is None:
            problems.append(Problem(owner, f"{field}.{name}", f"needs a {other_name} threshold"))
        elif (value >= other) if above else (value <= other):
            problems.append(
                Problem(
                    owner,
                    f"{field}.{name}",
                    f"{value:g} must be {word} {other_name} ({other:g}) for a {comparator} alert",
                )
            )
    return problems


def _key(owner: str, key: str) -> Iterator[Problem]:
    if not KEY_PATTERN.match(key):
        yield Problem(owner, "key", "use lowercase letters, digits, '.', '_' or '-' (max 100)")
