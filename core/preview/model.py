"""A dashboard evaluated against the store: what the page draws, as JSON-ready values.

Graphs over time (timeseries, heatmap) evaluate every query per round and apply the
formula per step. Scalar widgets (query value, toplist) follow Datadog's formula requests:
each query is first reduced over the time frame by its aggregator (the widget's
``reduce``, else ``percentile`` for percentile queries, which merges every observation of
the frame, else ``avg`` of the per-round values), then the formula is applied. Template
variables (``$env``) match anything unless a value is chosen.

Example:
    >>> from obs.dashboards.shipped import DASHBOARDS
    >>> from obs.preview.store import Store
    >>> page = dashboard_model(DASHBOARDS[0], Store(), {})
    >>> page["title"], page["widgets"][0]["kind"], page["widgets"][0]["children"][0]["title"]
    ('obs: MongoDB', 'group', 'p95 command latency')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from obs.catalog import Metric
from obs.dashboards.dashboard import Dashboard, TemplateVariable
from obs.dashboards.widgets import (
    Distribution,
    Formula,
    Graph,
    Group,
    Heatmap,
    Note,
    QueryValue,
    Timeseries,
    Toplist,
    Widget,
)
from obs.metric_query.tree import Call, Expr, Query, Tag, Var
from obs.preview.evaluate import Grouped, PreviewError, Step, Values, distribution, evaluate
from obs.preview.formulas import combine, linear_fit, reduce, step_times
from obs.preview.layout import Box, place
from obs.preview.mapping import Tags
from obs.preview.store import Round, SeriesView, Store
from obs.preview.units import format_value, unit_of

TOPLIST_LIMIT = 10  # Datadog's default
FORECAST_AHEAD = 3  # a timeseries with a forecast extends by a third of its window
_MARKER = re.compile(r"^\s*y\s*=\s*(-?[0-9.eE+-]+)\s*$")
KINDS: dict[type, str] = {
    Timeseries: "timeseries",
    QueryValue: "query_value",
    Toplist: "toplist",
    Heatmap: "heatmap",
    Distribution: "distribution",
    Note: "note",
    Group: "group",
}


@dataclass(frozen=True)
class Frame:
    """The time frame: one step per round held, and the whole window as one step."""

    times: tuple[float, ...]
    steps: tuple[Step, ...]
    window: Step


def frame_of(rounds: Sequence[Round]) -> Frame:
    """Steps ``(r-1, r]`` for every round, and the window from the first to the last."""
    if not rounds:
        return Frame((), (), Step(0, 0, 0.0))
    steps = tuple(
        Step(r.index - 1, r.index, r.time - rounds[i - 1].time if i else 0.0)
        for i, r in enumerate(rounds)
    )
    window = Step(rounds[0].index - 1, rounds[-1].index, rounds[-1].time - rounds[0].time)
    return Frame(tuple(r.time for r in rounds), steps, window)


def choice(variable: TemplateVariable, choices: Mapping[str, str]) -> str:
    """The value chosen for a template variable, else its default."""
    return choices.get(variable.name) or variable.default


def bind(expr: Expr, variables: Sequence[TemplateVariable], choices: Mapping[str, str]) -> Expr:
    """``expr`` with each ``$var`` replaced by its chosen tag; ``*`` leaves it matching all.

    Example:
        >>> from obs import catalog
        >>> from obs.dashboards.dashboard import ENV
        >>> from obs.metric_query.tree import avg
        >>> bind(avg(catalog.REDIS_MEMORY_USED, variables=("env",)), [ENV], {"env": "prod"}).text()
        'avg:redis.memory.used{env:prod}'
    """
    by_name = {v.name: v for v in variables}

    def tag(f: Tag | Var) -> Tag | Var:
        variable = by_name.get(f.name) if isinstance(f, Var) else None
        if variable is None:
            return f
        value = choice(variable, choices)
        if value == "*":
            return f
        if variable.prefix:
            return Tag(variable.prefix, value)
        key, _, tag_value = value.partition(":")
        return Tag(key, tag_value or "*")

    return expr.map(lambda q: replace(q, scope=tuple(tag(f) for f in q.scope)))


class Evaluation:
    """The queries of one page, evaluated against one snapshot of the store (memoized)."""

    def __init__(self, store: Store, frame: Frame) -> None:
        self.store = store
        self.frame = frame
        self._series: dict[str, list[SeriesView]] = {}
        self._results: dict[tuple[Query, str], Grouped] = {}

    def series(self, metric: Metric) -> list[SeriesView]:
        if metric.name not in self._series:
            self._series[metric.name] = self.store.series(metric)
        return self._series[metric.name]

    def over_time(self, query: Query) -> Grouped:
        """Each group's value per round."""
        key = (query, "steps")
        if key not in self._results:
            self._results[key] = evaluate(query, self.series(query.metric), self.frame.steps)
        return self._results[key]

    def scalar(self, query: Query, aggregator: str) -> Grouped:
        """Each group's value over the frame, reduced by ``aggregator``."""
        key = (query, aggregator)
        if key not in self._results:
            if aggregator == "percentile":
                window = [self.frame.window]
                result = evaluate(query, self.series(query.metric), window)
            else:
                result = {k: [reduce(v, aggregator)] for k, v in self.over_time(query).items()}
            self._results[key] = result
        return self._results[key]


def label(key: Tags) -> str:
    """A group's name as Datadog shows it: ``tag:value,tag:value``."""
    return ",".join(f"{k}:{v}" for k, v in key)


def _name(formula: Formula, expr: Expr, key: Tags) -> str:
    if not key:
        return formula.alias or expr.text()
    return f"{formula.alias} ({label(key)})" if formula.alias else label(key)


def _last(values: Values) -> float | None:
    return reduce(values, "last")


def _ranked(
    rows: list[dict[str, Any]], formula: Formula, default_limit: int | None
) -> list[dict[str, Any]]:
    """Rows (all with a value) by value, largest first unless ``order="asc"``, limited."""
    ranked = sorted(rows, key=lambda r: float(r["value"]), reverse=formula.order != "asc")
    limit = formula.limit or default_limit
    return ranked[:limit] if limit else ranked


def _forecast(expr: Expr) -> Call | None:
    """``expr`` when it is a ``forecast()``."""
    if isinstance(expr, Call) and expr.function == "forecast" and expr.args:
        return expr
    return None


def _future(frame: Frame) -> tuple[float, ...]:
    """Times a third of the window ahead, as far apart as the rounds held."""
    if len(frame.times) < 2:
        return ()
    step = (frame.times[-1] - frame.times[0]) / (len(frame.times) - 1)
    ahead = max(1, len(frame.times) // FORECAST_AHEAD)
    return tuple(frame.times[-1] + step * (i + 1) for i in range(ahead))


def _projection(ev: Evaluation, expr: Call, future: Sequence[float]) -> Grouped:
    """Each group's forecast line continued over ``future``: the least-squares line through
    the window, as :func:`obs.preview.formulas.linear_fit` draws it inside the window."""
    seconds = [s.seconds for s in ev.frame.steps]
    start = ev.frame.times[0]
    out: Grouped = {}
    for key, values in combine(expr.args[0], ev.over_time, seconds).items():
        fit = linear_fit(step_times(seconds), values)
        out[key] = [None if fit is None else fit[1] + fit[0] * (t - start) for t in future]
    return out


def _lines(ev: Evaluation, bound: list[tuple[Formula, Expr]], stacked: bool) -> dict[str, Any]:
    series: list[dict[str, Any]] = []
    seconds = [s.seconds for s in ev.frame.steps]
    future = _future(ev.frame) if any(_forecast(e) for _, e in bound) else ()
    for formula, expr in bound:
        unit = unit_of(expr)
        rows = []
        forecast = _forecast(expr)
        ahead = _projection(ev, forecast, future) if future and forecast else {}
        for key, within in combine(expr, ev.over_time, seconds).items():
            values = within + ahead.get(key, [None] * len(future))
            last = _last(values)
            if last is None:
                continue  # a group without a point in the frame is not drawn, as in Datadog
            rows.append(
                {
                    "name": _name(formula, expr, key),
                    "points": values,
                    "last": last,
                    "text": format_value(last, unit),
                    "value": reduce(values, "avg"),
                    "forecast": forecast is not None,
                }
            )
        series.extend(_ranked(rows, formula, None) if formula.limit else rows)
    units = {unit_of(expr) for _, expr in bound}
    unit = units.pop() if len(units) == 1 else None
    times = ev.frame.times + future
    return {"times": times, "series": series, "ticks": _ticks(series, unit, stacked)}


def _nice(value: float, unit: str | None) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (> 0); for bytes,
    of ten times a power of 1024 (so ticks read 2 MiB, not 1.91 MiB)."""
    scale = 1024.0 ** math.floor(math.log(value, 1024)) if unit == "By" else 1.0
    scaled = value / scale
    power = 10.0 ** math.floor(math.log10(scaled))
    multiples = (1.0, 2.0, 5.0, 10.0)
    return scale * next(m * power for m in multiples if m * power >= scaled * (1 - 1e-9))


def _ticks(series: list[dict[str, Any]], unit: str | None, stacked: bool) -> list[dict[str, Any]]:
    """Three y-axis ticks from 0 (or the lowest value) to a round number above the top."""
    points = [s["points"] for s in series]
    if stacked:
        totals = [math.fsum(v for v in step if v) for step in zip(*points, strict=True)]
        low, high = 0.0, max(totals, default=0.0)
    else:
        present = [v for p in points for v in p if v is not None]
        low, high = min([0.0, *present]), max([0.0, *present])
    high = _nice(high, unit) if high > 0 else 1.0
    low = -_nice(-low, unit) if low < 0 else 0.0
    return [{"value": v, "text": format_value(v, unit)} for v in (low, (low + high) / 2, high)]


def _scalars(widget: QueryValue | Toplist, ev: Evaluation, expr: Expr) -> Grouped:
    def reduced(query: Query) -> Grouped:
        aggregator = widget.reduce or ("percentile" if query.is_percentile else "avg")
        return ev.scalar(query, aggregator)

    return combine(expr, reduced, [ev.frame.window.seconds])


def _graph(widget: Graph, ev: Evaluation, bound: list[tuple[Formula, Expr]]) -> dict[str, Any]:
    if isinstance(widget, Timeseries):
        out = _lines(ev, bound, stacked=widget.display == "bars")
        out["display"] = widget.display
        out["markers"] = [
            {"value": float(found.group(1)), "label": m.label, "display_type": m.display_type}
            for m in widget.markers
            if (found := _MARKER.match(m.value))
        ]
        return out
    if isinstance(widget, Heatmap):
        return _lines(ev, bound, stacked=False)
    if isinstance(widget, QueryValue):
        formula, expr = bound[0]
        groups = _scalars(widget, ev, expr)
        if len(groups) > 1:
            raise PreviewError(f"the formula gives {len(groups)} groups; a query value shows one")
        value = next(iter(groups.values()))[0] if groups else None
        unit = widget.unit or unit_of(expr)
        return {"value": value, "text": format_value(value, unit, widget.precision)}
    if isinstance(widget, Toplist):
        rows = []
        for formula, expr in bound:
            unit = unit_of(expr)
            scored = [
                {
                    "name": _name(formula, expr, key),
                    "value": values[0],
                    "text": format_value(values[0], unit),
                }
                for key, values in _scalars(widget, ev, expr).items()
                if values[0] is not None  # Datadog lists only groups with a value
            ]
            rows.extend(_ranked(scored, formula, TOPLIST_LIMIT))
        return {"rows": rows}
    if isinstance(widget, Distribution):
        query = bound[0][1]
        if not isinstance(query, Query):
            raise PreviewError("a distribution shows one query")
        return _distribution(query, ev)
    raise PreviewError(f"{type(widget).__name__} is not drawn by obs preview")


def _distribution(query: Query, ev: Evaluation) -> dict[str, Any]:
    increase = distribution(query, ev.series(query.metric), ev.frame.window)
    if increase is None:
        return {"buckets": [], "count": None}
    unit = query.metric.unit
    buckets = []
    lower = 0.0
    for upper in sorted(increase.buckets):
        finite = math.isfinite(upper)
        buckets.append(
            {
                "lower": lower,
                "upper": upper if finite else None,  # JSON has no infinity
                "count": increase.buckets[upper],
                "label": format_value(upper, unit) if finite else "+Inf",
            }
        )
        lower = upper
    return {"buckets": buckets, "count": increase.count}


def _widget(
    widget: Widget, box: Box, ev: Evaluation, dashboard: Dashboard, choices: Mapping[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": KINDS[type(widget)],
        "box": {"x": box.x, "y": box.y, "width": box.width, "height": box.height},
    }
    if isinstance(widget, Note):
        out.update(
            content=widget.content,
            background_color=widget.background_color,
            text_align=widget.text_align,
            font_size=widget.font_size,
        )
        return out
    out["title"] = widget.title
    if isinstance(widget, Group):
        fixed = dashboard.reflow == "fixed"
        boxes = place(widget.widgets, fixed=fixed)
        out["background_color"] = widget.background_color
        out["show_title"] = widget.show_title is not False
        out["children"] = [
            _widget(w, b, ev, dashboard, choices)
            for w, b in zip(widget.widgets, boxes, strict=True)
        ]
        return out
    variables = dashboard.template_variables
    bound = [(f, bind(f.expr, variables, choices)) for f in widget.formulas()]
    try:
        out.update(_graph(widget, ev, bound))
    except PreviewError as exc:
        out["error"] = str(exc)
    return out


def dashboard_model(
    dashboard: Dashboard, store: Store, choices: Mapping[str, str]
) -> dict[str, Any]:
    """The page model of ``dashboard``: its widgets evaluated, its variables and sources."""
    frame = frame_of(store.rounds())
    ev = Evaluation(store, frame)
    metrics = {q.metric.name: q.metric for q in dashboard.queries()}
    variables = [
        {
            "name": v.name,
            "value": choice(v, choices),
            "values": store.tag_values(metrics.values(), v.prefix) if v.prefix else [],
        }
        for v in dashboard.template_variables
    ]
    boxes = place(dashboard.widgets, fixed=dashboard.reflow == "fixed")
    return {
        "key": dashboard.key,
        "title": dashboard.title,
        "description": dashboard.description,
        "variables": variables,
        "window": frame.window.seconds,
        "rounds": len(frame.times),
        "widgets": [
            _widget(w, b, ev, dashboard, choices)
            for w, b in zip(dashboard.widgets, boxes, strict=True)
        ],
    }
