"""Metric queries built from catalog entries, and arithmetic over them.

A :class:`Query` names a catalog :class:`~obs.catalog.Metric` object (never a metric-name
string). OTLP metrics keep their dotted names in Datadog; histograms arrive as distributions
(so ``p50``..``p99`` work), monotonic sums as counts (read them with
``as_count()``/``as_rate()``), gauges and up-down counters as gauges.

Queries combine with ``+ - * /`` into expressions: a dashboard renders an expression as a
formula over named queries (``query1 / query2``), a monitor inline. The words a tree may use
are the ``Literal`` vocabularies below; their text form, both ways, is
:mod:`obs.metric_query.grammar`.

Example:
    >>> from obs import catalog
    >>> from obs.catalog import attr
    >>> p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,)).text()
    'p95:db.client.operation.duration{*} by {db.collection.name}'
    >>> hits = count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "hit"})
    >>> (hits / count(catalog.CACHE_REQUESTS)).text()
    'sum:obs.cache.requests{cache.result:hit}.as_count() / sum:obs.cache.requests{*}.as_count()'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal, TypedDict, Unpack, get_args

from obs.catalog import Kind, Metric

# Space aggregators: how the series of a group combine into one.
Aggregation = Literal["avg", "sum", "min", "max", "count", "p50", "p75", "p90", "p95", "p99"]
# How ``.rollup()`` combines the points of one series in time.
RollupMethod = Literal["avg", "sum", "min", "max", "count"]
Operator = Literal["+", "-", "*", "/"]
# How a monitor reduces its query over the window, and how it compares the result.
TimeAggregation = Literal["avg", "sum", "min", "max", "last", "percentile"]
Comparator = Literal[">", ">=", "<", "<="]

PERCENTILES: frozenset[str] = frozenset(a for a in get_args(Aggregation) if a.startswith("p"))
# Tags Datadog derives from the OTLP resource (unified service tagging), on every metric.
RESOURCE_TAGS: frozenset[str] = frozenset({"env", "service", "version", "host"})


class Expr:
    """Arithmetic over queries: ``a / (a + b)``, ``100 * a``."""

    def __add__(self, other: Operand) -> BinOp:
        return BinOp("+", self, _operand(other))

    def __radd__(self, other: float) -> BinOp:
        return BinOp("+", Number(other), self)

    def __sub__(self, other: Operand) -> BinOp:
        return BinOp("-", self, _operand(other))

    def __rsub__(self, other: float) -> BinOp:
        return BinOp("-", Number(other), self)

    def __mul__(self, other: Operand) -> BinOp:
        return BinOp("*", self, _operand(other))

    def __rmul__(self, other: float) -> BinOp:
        return BinOp("*", Number(other), self)

    def __truediv__(self, other: Operand) -> BinOp:
        return BinOp("/", self, _operand(other))

    def __rtruediv__(self, other: float) -> BinOp:
        return BinOp("/", Number(other), self)

    def text(self) -> str:
        """Datadog's inline form (as in a monitor query): :func:`grammar.render
        <obs.metric_query.grammar.render>`."""
        # The grammar reads these classes, so it is imported when first needed.
        from obs.metric_query.grammar import render

        return render(self)

    def queries(self) -> Iterator[Query]:
        """Every query in the expression, left to right (repeats included)."""
        raise NotImplementedError

    def map(self, change: Callable[[Query], Query]) -> Expr:
        """The same expression with every query replaced by ``change(query)``."""
        raise NotImplementedError


Operand = Expr | float | int


def _operand(value: Operand) -> Expr:
    return value if isinstance(value, Expr) else Number(value)


@dataclass(frozen=True)
class Number(Expr):
    """A constant in an expression."""

    value: float

    def queries(self) -> Iterator[Query]:
        return iter(())

    def map(self, change: Callable[[Query], Query]) -> Expr:
        return self


@dataclass(frozen=True)
class BinOp(Expr):
    """``left op right``."""

    op: Operator
    left: Expr
    right: Expr

    def queries(self) -> Iterator[Query]:
        yield from self.left.queries()
        yield from self.right.queries()

    def map(self, change: Callable[[Query], Query]) -> Expr:
        return BinOp(self.op, self.left.map(change), self.right.map(change))


@dataclass(frozen=True)
class Quoted(Expr):
    """A quoted word passed to a function: the ``'linear'`` of ``forecast(q, 'linear', 1)``
    (nothing else takes one)."""

    value: str

    def queries(self) -> Iterator[Query]:
        return iter(())

    def map(self, change: Callable[[Query], Query]) -> Expr:
        return self


@dataclass(frozen=True)
class Call(Expr):
    """A Datadog function applied to expressions, e.g. ``per_second(query1)``; ``options``
    are its ``name='value'`` arguments, kept in name order (the order never matters)."""

    function: str
    args: tuple[Expr, ...]
    options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if list(self.options) != sorted(self.options):
            object.__setattr__(self, "options", tuple(sorted(self.options)))

    def queries(self) -> Iterator[Query]:
        for arg in self.args:
            yield from arg.queries()

    def map(self, change: Callable[[Query], Query]) -> Expr:
        return Call(self.function, tuple(a.map(change) for a in self.args), self.options)


@dataclass(frozen=True)
class Tag:
    """A scope filter ``key:value`` (``!key:value`` when ``negate``)."""

    key: str
    value: str
    negate: bool = False


@dataclass(frozen=True)
class Var:
    """A dashboard template variable in a scope: ``$env``."""

    name: str


Filter = Tag | Var


@dataclass(frozen=True)
class Rollup:
    """``.rollup(method, seconds)``: how points are combined in time."""

    method: RollupMethod
    seconds: int | None = None


@dataclass(frozen=True)
class Query(Expr):
    """One metric query: ``aggregation:metric{scope} by {keys}`` plus modifiers.

    Example:
        >>> from obs import catalog
        >>> Query(catalog.REDIS_MEMORY_USED, "max", scope=(Var("env"),)).text()
        'max:redis.memory.used{$env}'
    """

    metric: Metric
    aggregation: Aggregation = "avg"
    scope: tuple[Filter, ...] = ()
    by: tuple[str, ...] = ()
    as_count: bool = False
    as_rate: bool = False
    rollup: Rollup | None = None

    def queries(self) -> Iterator[Query]:
        yield self

    def map(self, change: Callable[[Query], Query]) -> Expr:
        return change(self)

    @property
    def is_percentile(self) -> bool:
        return self.aggregation in PERCENTILES

    def variables(self) -> tuple[str, ...]:
        """Names of the template variables this query uses."""
        return tuple(f.name for f in self.scope if isinstance(f, Var))

    def tag_keys(self) -> tuple[str, ...]:
        """Every tag key the query filters or groups on."""
        return tuple(f.key for f in self.scope if isinstance(f, Tag)) + self.by

    def scoped(self, *filters: Filter) -> Query:
        """This query with more scope filters (added in front)."""
        return replace(self, scope=(*filters, *self.scope))


@dataclass(frozen=True)
class MonitorQuery:
    """A metric monitor's query: ``time_aggregation(window):expr comparator threshold``."""

    time_aggregation: TimeAggregation
    window: str
    expr: Expr
    comparator: Comparator
    threshold: float


class QueryOptions(TypedDict, total=False):
    """Keyword options shared by the query helpers."""

    where: Mapping[str, str]
    by: tuple[str, ...]
    variables: tuple[str, ...]
    rollup: Rollup


def query(metric: Metric, aggregation: Aggregation, **options: Unpack[QueryOptions]) -> Query:
    """A query of ``metric``: ``variables`` come first in the scope, then ``where``.

    Example:
        >>> from obs import catalog
        >>> query(catalog.REDIS_MEMORY_USED, "max", variables=("env",)).text()
        'max:redis.memory.used{$env}'
    """
    tags = tuple(Tag(k, v) for k, v in options.get("where", {}).items())
    variables = tuple(Var(v) for v in options.get("variables", ()))
    return Query(
        metric,
        aggregation,
        (*variables, *tags),
        options.get("by", ()),
        rollup=options.get("rollup"),
    )


def avg(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """Space-average of a gauge or distribution."""
    return query(metric, "avg", **options)


def maximum(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """Space-maximum of a gauge or distribution."""
    return query(metric, "max", **options)


def total(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """Space-sum of a gauge (e.g. jobs across queues)."""
    return query(metric, "sum", **options)


def p50(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """Median of a histogram (a Datadog distribution)."""
    return query(metric, "p50", **options)


def p95(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """95th percentile of a histogram (a Datadog distribution)."""
    return query(metric, "p95", **options)


def p99(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """99th percentile of a histogram (a Datadog distribution)."""
    return query(metric, "p99", **options)


def count(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """Events per interval: a counter's ``sum:...as_count()``, a distribution's ``count:``."""
    if metric.kind is Kind.COUNTER:
        return replace(query(metric, "sum", **options), as_count=True)
    return query(metric, "count", **options)


def rate(metric: Metric, **options: Unpack[QueryOptions]) -> Query:
    """Events per second of a counter: ``sum:...as_rate()``."""
    return replace(query(metric, "sum", **options), as_rate=True)


def call(function: str, *args: Operand | str, **options: str) -> Call:
    """A Datadog function over expressions, e.g. ``call("per_second", q)``; text arguments
    are quoted words (the functions obs knows are :data:`obs.metric_query.grammar.FUNCTIONS`).
    """
    written = tuple(Quoted(a) if isinstance(a, str) else _operand(a) for a in args)
    return Call(function, written, tuple(options.items()))


def forecast(
    expr: Operand,
    algorithm: Literal["linear", "seasonal"] = "linear",
    deviations: float = 1,
    **options: str,
) -> Call:
    """Datadog's ``forecast()`` of ``expr``: where it is heading, with a band of
    ``deviations``; ``options`` such as ``interval='60m'``, ``history='1w'``, ``model=...``.

    Example:
        >>> from obs import catalog
        >>> forecast(maximum(catalog.MONGO_COLLECTION_SIZE), history="1w").text()
        "forecast(max:obs.mongo.collection.size{*}, 'linear', 1, history='1w')"
    """
    return call("forecast", expr, algorithm, deviations, **options)
