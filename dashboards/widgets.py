"""Dashboard widgets as values: timeseries, query value, toplist, distribution, heatmap,
note, and groups of them.

Each graph takes ``series``: expressions over catalog queries (see :mod:`obs.metric_query.tree`),
optionally wrapped in :class:`Formula` for an alias or a top-N limit. Fields left ``None``
take Datadog's defaults and are not sent.

Example:
    >>> from obs import catalog
    >>> from obs.catalog import attr
    >>> from obs.metric_query.tree import p95
    >>> w = Timeseries("p95 latency", (p95(catalog.DB_CLIENT_OPERATION_DURATION,
    ...                                    by=(attr.DB_COLLECTION_NAME,)),))
    >>> [f.expr.text() for f in w.formulas()]
    ['p95:db.client.operation.duration{*} by {db.collection.name}']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from obs.metric_query.tree import Expr, Query


@dataclass(frozen=True)
class Formula:
    """One plotted series: an expression with an optional legend alias and top-N limit."""

    expr: Expr
    alias: str | None = None
    limit: int | None = None
    order: Literal["asc", "desc"] | None = None


Series = Formula | Expr


def as_formula(series: Series) -> Formula:
    return series if isinstance(series, Formula) else Formula(series)


@dataclass(frozen=True)
class Layout:
    """Position and size on a fixed-reflow dashboard's 12-column grid."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Axis:
    """A y axis: ``scale`` linear, log, pow or sqrt; ``min``/``max`` as numbers or "auto"."""

    label: str | None = None
    scale: str | None = None
    min: str | None = None
    max: str | None = None
    include_zero: bool | None = None


@dataclass(frozen=True)
class Marker:
    """A horizontal line on a timeseries, e.g. ``Marker("y = 0.5", "error dashed")``."""

    value: str
    display_type: str | None = None
    label: str | None = None


class Graph:
    """A widget that plots series."""

    title: str
    series: tuple[Series, ...]
    layout: Layout | None

    def formulas(self) -> tuple[Formula, ...]:
        return tuple(as_formula(s) for s in self.series)

    def queries(self) -> Iterator[Query]:
        for formula in self.formulas():
            yield from formula.expr.queries()


@dataclass(frozen=True)
class Timeseries(Graph):
    """Series over time."""

    title: str
    series: tuple[Series, ...]
    display: Literal["line", "bars", "area"] = "line"
    show_legend: bool | None = None
    yaxis: Axis | None = None
    markers: tuple[Marker, ...] = ()
    layout: Layout | None = None


@dataclass(frozen=True)
class QueryValue(Graph):
    """One number: the series reduced over the time frame (``reduce``: avg, last, sum, min,
    max, percentile; by default ``percentile`` for percentile queries, else ``avg``)."""

    title: str
    series: tuple[Series, ...]
    reduce: str | None = None
    precision: int | None = None
    unit: str | None = None
    autoscale: bool | None = None
    layout: Layout | None = None


@dataclass(frozen=True)
class Toplist(Graph):
    """Groups ranked by their reduced value."""

    title: str
    series: tuple[Series, ...]
    reduce: str | None = None
    layout: Layout | None = None


@dataclass(frozen=True)
class Heatmap(Graph):
    """Series over time as a heatmap (one band per group)."""

    title: str
    series: tuple[Series, ...]
    layout: Layout | None = None


@dataclass(frozen=True)
class Distribution(Graph):
    """The value distribution of one histogram metric over the time frame."""

    title: str
    query: Query
    layout: Layout | None = None

    @property
    def series(self) -> tuple[Series, ...]:  # type: ignore[override]
        return (self.query,)


@dataclass(frozen=True)
class Note:
    """Markdown text."""

    content: str
    background_color: str | None = None
    font_size: str | None = None
    text_align: Literal["left", "center", "right"] | None = None
    vertical_align: Literal["top", "center", "bottom"] | None = None
    show_tick: bool | None = None
    tick_edge: Literal["left", "right", "top", "bottom"] | None = None
    tick_pos: str | None = None
    has_padding: bool | None = None
    layout: Layout | None = None


@dataclass(frozen=True)
class Group:
    """A titled group of widgets."""

    title: str
    widgets: tuple[Widget, ...]
    background_color: str | None = None
    show_title: bool | None = None
    layout: Layout | None = None

    def walk(self) -> Iterator[Widget]:
        for widget in self.widgets:
            yield widget
            if isinstance(widget, Group):
                yield from widget.walk()


Widget = Timeseries | QueryValue | Toplist | Heatmap | Distribution | Note | Group
