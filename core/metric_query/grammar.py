"""The text form of metric queries, both ways: one definition that renders and parses.

Datadog's metric query language, as obs writes and reads it::

    query        aggregator:metric{scope} by {key,...}.modifier(argument, ...)...
    scope        *  |  term,...          term: key:value | !key:value | $variable
    expression   query | name | number | function(expression, argument..., option...)
                 | expression operator expression | (expression)
    argument     number | 'word'          option: name='word'
    monitor      time_aggregation(last_5m):expression comparator threshold
                 (next_1w for a forecast)
    distribution histogram:metric{scope}...

The words come from the vocabularies of :mod:`obs.metric_query.tree` (``Aggregation``,
``RollupMethod``, ...) and the tables below (operators, functions, query modifiers, token
patterns). :func:`render` and the parser read the same tables, and :func:`problems` says what
a tree holds that its text cannot: a tree without problems renders to text that parses back
to an equal tree (tests/test_query_grammar.py checks this on generated trees). A new
function, aggregator or modifier is one entry; docs/queries.md says how.

Hand-written (a scanner with a precedence-climbing parser) rather than built on a parsing
library: the renderer must come from the same tables, errors must name the character, and
the base install, which every definition file imports, stays without another dependency;
lark or pyparsing would give a parser, but not the renderer nor these error messages.

Example:
    >>> from obs import catalog
    >>> text = "p95:db.client.operation.duration{$env} by {db.collection.name}"
    >>> render(parse_expression(text, catalog.by_datadog_name)) == text
    True
    >>> parse_monitor_query("avg(last_5m):avg:redis.memory.used{*}  >  2e9",
    ...                     catalog.by_datadog_name).threshold
    2000000000.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, NoReturn, TypeVar, cast, get_args

from obs.catalog import Metric, datadog_name
from obs.metric_query.tree import (
    Aggregation,
    BinOp,
    Call,
    Comparator,
    Expr,
    Filter,
    MonitorQuery,
    Number,
    Operator,
    Query,
    Quoted,
    Rollup,
    RollupMethod,
    Tag,
    TimeAggregation,
    Var,
)

# --- the definition -----------------------------------------------------------------------

SPACE_AGGREGATORS: tuple[Aggregation, ...] = get_args(Aggregation)
# A distribution widget's query says this where a query's aggregator goes.
DISTRIBUTION_AGGREGATOR = "histogram"
ROLLUP_METHODS: tuple[RollupMethod, ...] = get_args(RollupMethod)
TIME_AGGREGATIONS: tuple[TimeAggregation, ...] = get_args(TimeAggregation)
COMPARATORS: tuple[Comparator, ...] = get_args(Comparator)
# How tightly each operator binds; every operator associates to the left.
PRECEDENCE: Mapping[str, int] = {"+": 1, "-": 1, "*": 2, "/": 2}

METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")
TAG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_\-./]*")
# Datadog keeps Unicode letters and digits in tag values (a queue named in Japanese is a
# tag value like any other), with `_ - . / :`; `*` is the wildcard of a filter.
TAG_VALUE = re.compile(r"[\w\-./:*]+")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# A monitor looks back over its window (last_5m), a forecast monitor ahead (next_1w).
WINDOW = re.compile(r"(?:last|next)_\d+[mhdw]")
FORECAST_WINDOW = re.compile(r"next_\d+[mhdw]")
QUOTED_WORD = re.compile(r"'([A-Za-z0-9_]+)'")
DURATION = re.compile(r"[0-9]+[mhdw]")
NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# Deeper trees are refused, so that reading hostile text cannot exhaust Python's recursion.
MAX_DEPTH = 64
# Each level of a tree costs its text at most two levels of parentheses or right operands.
_MAX_NESTING = 2 * MAX_DEPTH + 2
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*=(?!=)")
_BY = re.compile(r"by\b")
_DIGITS = re.compile(r"\d+")
_MOST_SECONDS = 10**9 - 1
_T = TypeVar("_T")


@dataclass(frozen=True)
class Quote:
    """A function argument that is a quoted word, one of ``choices`` (``'linear'``)."""

    choices: tuple[str, ...]


NUMBER_ARGUMENT: Literal["number"] = "number"
# After the expression, a function takes numbers and quoted words in a fixed order.
Argument = Quote | Literal["number"]


@dataclass(frozen=True)
class Option:
    """A ``name='value'`` argument of a function; ``value`` a pattern or quoted choices."""

    name: str
    value: re.Pattern[str] | Quote


@dataclass(frozen=True)
class Function:
    """A Datadog function, ``name(expression)``, followed by its ``arguments``
    (``timeshift(query1, -3600)``) and any of its ``options`` (``history='1w'``)."""

    name: str
    arguments: tuple[Argument, ...] = ()
    options: tuple[Option, ...] = ()

    @property
    def arity(self) -> int:
        return 1 + len(self.arguments)

    def fits(self, args: tuple[Expr, ...], options: tuple[tuple[str, str], ...]) -> bool:
        """True when ``args`` and ``options`` are what this function takes."""
        if len(args) != self.arity or isinstance(args[0], Quoted):
            return False
        for argument, given in zip(self.arguments, args[1:], strict=True):
            if argument == NUMBER_ARGUMENT and not isinstance(given, Number):
                return False
            if isinstance(argument, Quote) and not (
                isinstance(given, Quoted) and given.value in argument.choices
            ):
                return False
        known = {o.name: o.value for o in self.options}
        names = [name for name, _ in options]
        return len(set(names)) == len(names) and all(
            name in known and _option_fits(known[name], value) for name, value in options
        )


def _option_fits(allowed: re.Pattern[str] | Quote, value: str) -> bool:
    if isinstance(allowed, Quote):
        return value in allowed.choices
    return allowed.fullmatch(value) is not None


# Datadog's functions of one expression (those taking words, such as top() or anomalies(),
# are not read)...
_OF_AN_EXPRESSION = (
    *("abs", "log2", "log10", "cumsum", "integral", "default_zero", "exclude_null"),
    *("per_second", "per_minute", "per_hour", "dt", "diff", "derivative", "monotonic_diff"),
    *("hour_before", "day_before", "week_before", "month_before"),
    *("ewma_3", "ewma_5", "ewma_10", "ewma_20", "median_3", "median_5", "median_7", "median_9"),
    *("autosmooth", "trend_line", "piecewise_constant", "robust_trend"),
    *("count_nonzero", "count_not_null"),
)
# ... and of an expression and a number: timeshift(query1, -3600), clamp_min(query1, 0).
_OF_AN_EXPRESSION_AND_A_NUMBER = ("timeshift", "clamp_min", "clamp_max", "cutoff_min", "cutoff_max")
# forecast(query, 'linear', 1, interval='60m', history='1w', model='default') (Datadog's
# "Forecasts" documentation: an algorithm, the band's deviations, and tuning options).
FORECAST = Function(
    "forecast",
    (Quote(("linear", "seasonal")), NUMBER_ARGUMENT),
    (
        Option("history", DURATION),
        Option("interval", DURATION),
        Option("model", Quote(("default", "simple", "reactive"))),
        Option("seasonality", Quote(("auto", "hourly", "daily", "weekly"))),
    ),
)
FUNCTIONS: Mapping[str, Function] = {
    **{name: Function(name) for name in _OF_AN_EXPRESSION},
    **{name: Function(name, (NUMBER_ARGUMENT,)) for name in _OF_AN_EXPRESSION_AND_A_NUMBER},
    FORECAST.name: FORECAST,
}


@dataclass(frozen=True)
class Word:
    """An argument that is one of ``choices``."""

    choices: tuple[str, ...]


@dataclass(frozen=True)
class Seconds:
    """An argument that is a whole number of seconds, at least 1."""


Param = Word | Seconds


@dataclass(frozen=True)
class Modifier:
    """A function written after a query, ``.name(arguments)``. ``name`` is also the
    :class:`~obs.metric_query.tree.Query` field holding it: ``True`` for a modifier without
    ``params``, else a ``value`` whose fields are the arguments in order (a trailing field
    that is ``None`` is not written, and may be left out)."""

    name: str
    params: tuple[Param, ...] = ()
    value: type | None = None


# In the order they are written.
MODIFIERS: tuple[Modifier, ...] = (
    Modifier("as_count"),
    Modifier("as_rate"),
    Modifier("rollup", (Word(ROLLUP_METHODS), Seconds()), Rollup),
)
_MODIFIER_NAMED = {m.name: m for m in MODIFIERS}


class QueryParseError(ValueError):
    """Query text obs cannot read: ``reason`` at ``position`` (0-based) of ``text``."""

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason, self.text, self.position = reason, text, position
        super().__init__(f"{reason} at character {position + 1} of {_excerpt(text, position)}")


MetricLookup = Callable[[str], Metric]


# --- rendering ----------------------------------------------------------------------------


def format_number(value: float) -> str:
    """A number as Datadog writes it: ``5`` rather than ``5.0``.

    Example:
        >>> format_number(5.0), format_number(0.25), format_number(-1e-07)
        ('5', '0.25', '-1e-07')
    """
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def render(expr: Expr) -> str:
    """``expr`` with its queries inline (a monitor's body, a legacy ``q``).

    Example:
        >>> from obs import catalog
        >>> from obs.metric_query.tree import count
        >>> render(100 * count(catalog.CACHE_REQUESTS))
        '100 * sum:obs.cache.requests{*}.as_count()'
    """
    return render_formula(expr, render_query)


def render_formula(expr: Expr, name: Callable[[Query], str]) -> str:
    """``expr`` with each query written as ``name(query)`` (a dashboard formula), with the
    parentheses the tree needs and no others.

    Example:
        >>> from obs import catalog
        >>> from obs.metric_query.tree import avg
        >>> a, b = avg(catalog.REDIS_MEMORY_USED), avg(catalog.REDIS_MAXMEMORY)
        >>> render_formula(a / (a + b) - 1, {a: "query1", b: "query2"}.__getitem__)
        'query1 / (query1 + query2) - 1'
    """
    if isinstance(expr, Query):
        return name(expr)
    if isinstance(expr, Number):
        return format_number(expr.value)
    if isinstance(expr, BinOp):
        mine = PRECEDENCE[expr.op]
        left = render_formula(expr.left, name)
        if isinstance(expr.left, BinOp) and PRECEDENCE[expr.left.op] < mine:
            left = f"({left})"
        right = render_formula(expr.right, name)
        # Operators associate to the left, so a right operand of the same precedence keeps
        # its parentheses: a - (b - c), and a + (b + c) too, to read back as the same tree.
        if isinstance(expr.right, BinOp) and PRECEDENCE[expr.right.op] <= mine:
            right = f"({right})"
        return f"{left} {expr.op} {right}"
    if isinstance(expr, Quoted):
        return f"'{expr.value}'"
    if isinstance(expr, Call):
        written = [render_formula(a, name) for a in expr.args]
        written.extend(f"{key}='{value}'" for key, value in expr.options)
        return f"{expr.function}({', '.join(written)})"
    raise TypeError(f"{type(expr).__name__} is not a query expression")


def render_query(query: Query) -> str:
    """One query's text.

    Example:
        >>> from obs import catalog
        >>> render_query(Query(catalog.REDIS_MEMORY_USED, "max", rollup=Rollup("max", 60)))
        'max:redis.memory.used{*}.rollup(max, 60)'
    """
    return _query_text(query.aggregation, query)


def render_distribution(query: Query) -> str:
    """A distribution widget's query: every observation of ``query``'s metric in scope.

    Example:
        >>> from obs import catalog
        >>> render_distribution(Query(catalog.DB_CLIENT_OPERATION_DURATION, "p95"))
        'histogram:db.client.operation.duration{*}'
    """
    return _query_text(DISTRIBUTION_AGGREGATOR, query)


def render_monitor_query(monitor: MonitorQuery) -> str:
    """A metric monitor's query.

    Example:
        >>> from obs import catalog
        >>> from obs.metric_query.tree import avg
        >>> render_monitor_query(
        ...     MonitorQuery("avg", "last_5m", avg(catalog.REDIS_MEMORY_USED), ">", 2e9))
        'avg(last_5m):avg:redis.memory.used{*} > 2000000000'
    """
    return (
        f"{monitor.time_aggregation}({monitor.window}):{render(monitor.expr)} "
        f"{monitor.comparator} {format_number(monitor.threshold)}"
    )


def _query_text(aggregator: str, query: Query) -> str:
    scope = ",".join(_filter_text(f) for f in query.scope) or "*"
    out = f"{aggregator}:{datadog_name(query.metric)}{{{scope}}}"
    if query.by:
        out += f" by {{{','.join(query.by)}}}"
    for modifier in MODIFIERS:
        out += _modifier_text(modifier, getattr(query, modifier.name))
    return out


def _filter_text(term: Filter) -> str:
    if isinstance(term, Var):
        return f"${term.name}"
    return f"{'!' if term.negate else ''}{term.key}:{term.value}"


def _arguments(modifier: Modifier, value: object) -> list[Any]:
    """A modifier value's arguments, trailing ``None`` left out."""
    if modifier.value is None:
        return []
    args = [getattr(value, f.name) for f in fields(modifier.value)]
    while args and args[-1] is None:
        args.pop()
    return args


def _modifier_text(modifier: Modifier, value: object) -> str:
    if value is None or value is False:
        return ""
    return f".{modifier.name}({', '.join(str(a) for a in _arguments(modifier, value))})"


# --- what a tree holds that its text cannot -----------------------------------------------


def problems(expr: Expr) -> list[str]:
    """What in ``expr`` Datadog's query text cannot say (empty: it renders and reads back).

    Example:
        >>> from obs import catalog
        >>> from obs.metric_query.tree import avg, call
        >>> problems(call("per_secnd", avg(catalog.REDIS_MEMORY_USED, where={"host": "a b"})))
        ["function 'per_secnd' is unknown", "tag value 'a b' is not valid"]
    """
    return list(dict.fromkeys(_problems(expr, 1)))  # each problem once


def query_problems(query: Query) -> list[str]:
    """What in one query its text cannot say."""
    found = []
    if query.aggregation not in SPACE_AGGREGATORS:
        found.append(f"aggregation {query.aggregation!r} is unknown")
    if not METRIC_NAME.fullmatch(query.metric.name):
        found.append(f"metric name {query.metric.name!r} is not valid")
    for term in query.scope:
        if isinstance(term, Var):
            if not VARIABLE.fullmatch(term.name):
                found.append(f"template variable name {term.name!r} is not valid")
            continue
        if not TAG_KEY.fullmatch(term.key):
            found.append(f"tag key {term.key!r} is not valid")
        if not TAG_VALUE.fullmatch(term.value):
            found.append(f"tag value {term.value!r} is not valid")
    found.extend(f"group-by key {k!r} is not valid" for k in query.by if not TAG_KEY.fullmatch(k))
    for modifier in MODIFIERS:
        found.extend(_modifier_problems(modifier, getattr(query, modifier.name)))
    return found


def _problems(expr: Expr, depth: int) -> Iterator[str]:
    if depth > MAX_DEPTH:
        yield f"the expression is nested more than {MAX_DEPTH} deep"
        return
    if isinstance(expr, Query):
        yield from query_problems(expr)
    elif isinstance(expr, Number):
        if not math.isfinite(expr.value):
            yield f"{expr.value} is not a finite number"
    elif isinstance(expr, BinOp):
        if expr.op not in PRECEDENCE:
            yield f"operator {expr.op!r} is unknown"
        yield from _problems(expr.left, depth + 1)
        yield from _problems(expr.right, depth + 1)
    elif isinstance(expr, Quoted):
        yield f"'{expr.value}' is a function's argument, not an expression"
    elif isinstance(expr, Call):
        function = FUNCTIONS.get(expr.function)
        if function is None:
            yield f"function {expr.function!r} is unknown"
        elif not function.fits(expr.args, expr.options):
            yield f"{_signature(function)} takes other arguments"
        for arg in expr.args:
            if not isinstance(arg, Quoted):  # whether it belongs there is fits()'s question
                yield from _problems(arg, depth + 1)
    else:
        yield f"{type(expr).__name__} is not a query expression"


def _signature(function: Function) -> str:
    words = [
        "|".join(f"'{c}'" for c in a.choices) if isinstance(a, Quote) else a
        for a in function.arguments
    ]
    words.extend(f"{o.name}=..." for o in function.options)
    return f"{function.name}({', '.join(['expression', *words])})"


def _modifier_problems(modifier: Modifier, value: object) -> list[str]:
    if modifier.value is None:
        return [] if isinstance(value, bool) else [f"{modifier.name} must be True or False"]
    if value is None:
        return []
    if not isinstance(value, modifier.value):
        return [f"{modifier.name} must be a {modifier.value.__name__}"]
    args = _arguments(modifier, value)
    required = sum(f.default is not None for f in fields(modifier.value))
    valid = len(args) >= required and all(
        _param_accepts(p, a) for p, a in zip(modifier.params, args, strict=False)
    )
    return [] if valid else [f"{_modifier_text(modifier, value).lstrip('.')} is not valid"]


def _param_accepts(param: Param, value: object) -> bool:
    if isinstance(param, Word):
        return value in param.choices
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MOST_SECONDS


# --- parsing ------------------------------------------------------------------------------


def parse_expression(text: str, metric: MetricLookup) -> Expr:
    """An expression of inline metric queries (a monitor's body, a legacy ``q``)."""
    reader = _Reader(text, metric, None)
    return reader.whole(reader.expression)


def parse_query(text: str, metric: MetricLookup) -> Query:
    """One metric query (a dashboard request's named query)."""
    reader = _Reader(text, metric, None)

    def one() -> Query:
        query = reader.query(reader.aggregator())
        if reader.peek() in PRECEDENCE:
            reader.fail("a named query is one query: arithmetic belongs in its formula")
        return query

    return reader.whole(one)


def parse_distribution(text: str, metric: MetricLookup) -> Query:
    """A distribution widget's ``histogram:...`` query (its aggregation left the default)."""
    reader = _Reader(text, metric, None)

    def distribution() -> Query:
        start = reader.here()
        if reader.word() != DISTRIBUTION_AGGREGATOR:
            reader.fail(f"expected '{DISTRIBUTION_AGGREGATOR}:'", start)
        return reader.query(None)

    return reader.whole(distribution)


def parse_formula(text: str, queries: Mapping[str, Query]) -> Expr:
    """A dashboard formula over named queries (``query1 / query2``)."""
    reader = _Reader(text, None, queries)
    return reader.whole(reader.expression)


def parse_monitor_query(text: str, metric: MetricLookup) -> MonitorQuery:
    """A metric monitor's ``time_aggregation(window):expression comparator threshold``."""
    reader = _Reader(text, metric, None)
    return reader.whole(reader.monitor)


def _excerpt(text: str, position: int, width: int = 60) -> str:
    """``text`` quoted, cut to ``width`` characters either side of ``position``."""
    if len(text) <= 2 * width:
        return repr(text)
    start, end = max(0, position - width), min(len(text), position + width)
    return f"{'…' if start else ''}{text[start:end]!r}{'…' if end < len(text) else ''}"


class _Reader:
    """A cursor over ``text``: each method reads one part of the grammar or fails naming
    the character. Whitespace may stand between any two tokens."""

    def __init__(
        self, text: str, metric: MetricLookup | None, names: Mapping[str, Query] | None
    ) -> None:
        self.text = text
        self.at = 0
        self.metric = metric
        self.names = names
        self.nesting = 0

    def fail(self, reason: str, at: int | None = None) -> NoReturn:
        raise QueryParseError(reason, self.text, self.at if at is None else at)

    def whole(self, read: Callable[[], _T]) -> _T:
        value = read()
        if self.peek():
            self.fail("unexpected text")
        return value

    def skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def here(self) -> int:
        """The position of the next token."""
        self.skip()
        return self.at

    def peek(self) -> str:
        self.skip()
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self, token: str) -> bool:
        self.skip()
        if self.text.startswith(token, self.at):
            self.at += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            self.fail(f"expected {token!r}")

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip()
        found = pattern.match(self.text, self.at)
        if found is None:
            return None
        self.at = found.end()
        return found.group()

    def word(self) -> str:
        return self.match(_WORD) or self.fail("expected a name")

    # -- expressions: precedence climbing over PRECEDENCE ----------------------------------

    def expression(self) -> Expr:
        return self.binary(1)[0]

    def binary(self, lowest: int) -> tuple[Expr, int]:
        """An expression whose operators bind at least ``lowest``, and its tree's depth."""
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            self.fail("the expression is nested too deeply")
        left, depth = self.operand()
        while (op := self.peek()) in PRECEDENCE and PRECEDENCE[op] >= lowest:
            start = self.here()
            self.at += 1
            right, right_depth = self.binary(PRECEDENCE[op] + 1)
            left = BinOp(cast(Operator, op), left, right)
            depth = self.deeper(start, depth, right_depth)
        self.nesting -= 1
        return left, depth

    def deeper(self, start: int, *depths: int) -> int:
        """The depth of a node over children of ``depths``, written from ``start``."""
        depth = max(depths) + 1
        if depth > MAX_DEPTH:
            self.fail(f"the expression is nested more than {MAX_DEPTH} deep", start)
        return depth

    def operand(self) -> tuple[Expr, int]:
        if self.take("("):
            inner = self.binary(1)
            self.expect(")")
            return inner
        start = self.here()
        number = self.match(NUMBER)
        if number is not None:
            return Number(self.finite(number, start)), 1
        name = self.match(_WORD)
        if name is None:
            self.fail("expected a query, a number or '('")
        if self.peek() == "(":
            return self.call(name, start)
        if self.names is None:
            self.at = start
            return self.query(self.aggregator()), 1
        if self.peek() == ":":
            self.fail("a formula names its queries (query1) rather than writing them", start)
        if name not in self.names:
            self.fail(f"unknown query name {name!r}", start)
        return self.names[name], 1

    def finite(self, number: str, start: int) -> float:
        value = float(number)
        if not math.isfinite(value):
            self.fail(f"{number} is out of range", start)
        return value

    def call(self, name: str, start: int) -> tuple[Expr, int]:
        function = FUNCTIONS.get(name)
        if function is None:
            self.fail(f"unknown function {name}()", start)
        self.expect("(")
        args: list[Expr] = []
        options: list[tuple[str, str]] = []
        depths = [0]
        while not (args == [] and self.peek() == ")"):
            keyword = self.match(_OPTION)
            if keyword is not None:
                value = self.token(QUOTED_WORD, "a quoted value ('1w')")
                options.append((keyword.rstrip("= \t\n\r\f\v"), value[1:-1]))
            elif options:
                self.fail("name='value' options come after the other arguments")
            elif args and (quoted := self.match(QUOTED_WORD)) is not None:
                args.append(Quoted(quoted[1:-1]))  # a word argument, never an operand
            else:
                arg, depth = self.binary(1)
                args.append(arg)
                depths.append(depth)
            if not self.take(","):
                break
        self.expect(")")
        call = Call(name, tuple(args), tuple(options))
        if not function.fits(call.args, call.options):
            self.fail(f"{_signature(function)} takes other arguments", start)
        return call, self.deeper(start, *depths)

    # -- one query ---------------------------------------------------------------------------

    def aggregator(self) -> Aggregation:
        start = self.here()
        word = self.word()
        if word not in SPACE_AGGREGATORS:
            self.fail(f"space aggregation {word!r} is not one obs writes", start)
        return word

    def query(self, aggregation: Aggregation | None) -> Query:
        """The rest of a query, from the ``:`` after its aggregator."""
        self.expect(":")
        start = self.here()
        name = self.match(METRIC_NAME) or self.fail("expected a metric name")
        if self.metric is None:
            self.fail("a formula names its queries rather than writing them", start)
        try:
            metric = self.metric(name)
        except KeyError as exc:
            self.fail(str(exc.args[0]) if exc.args else "unknown metric", start)
        scope = self.scope()
        by: tuple[str, ...] = ()
        if self.match(_BY):
            self.expect("{")
            by = tuple(self.listed(lambda: self.token(TAG_KEY, "a tag key")))
            self.expect("}")
        values: dict[str, object] = {}
        while self.take("."):
            start = self.here()
            written = self.word()
            modifier = _MODIFIER_NAMED.get(written)
            if modifier is None:
                self.fail(f"unsupported query function .{written}()", start)
            if modifier.name in values:
                self.fail(f".{modifier.name}() is written twice", start)
            values[modifier.name] = self.modifier(modifier)
        if aggregation is None:
            return Query(metric, scope=scope, by=by, **values)  # type: ignore[arg-type]
        return Query(metric, aggregation, scope, by, **values)  # type: ignore[arg-type]

    def token(self, pattern: re.Pattern[str], what: str) -> str:
        return self.match(pattern) or self.fail(f"expected {what}")

    def listed(self, read: Callable[[], _T]) -> list[_T]:
        items = [read()]
        while self.take(","):
            items.append(read())
        return items

    def scope(self) -> tuple[Filter, ...]:
        self.expect("{")
        if self.take("*"):
            self.expect("}")
            return ()
        terms = self.listed(self.term)
        self.expect("}")
        return tuple(terms)

    def term(self) -> Filter:
        if self.take("$"):
            if self.at < len(self.text) and self.text[self.at].isspace():
                self.fail("expected a template variable name")
            return Var(self.token(VARIABLE, "a template variable name"))
        negate = self.take("!")
        key = self.token(TAG_KEY, "key:value, !key:value or $variable")
        if not self.text.startswith(":", self.at):
            self.fail("expected ':' between a tag key and its value")
        self.at += 1
        if not TAG_VALUE.match(self.text, self.at):
            self.fail("expected a tag value")
        return Tag(key, self.token(TAG_VALUE, "a tag value"), negate)

    def modifier(self, modifier: Modifier) -> object:
        self.expect("(")
        if modifier.value is None:
            self.expect(")")
            return True
        args: list[object] = []
        for param, field in zip(modifier.params, fields(modifier.value), strict=True):
            if args and not self.take(","):
                if field.default is None:
                    break
                self.fail("expected ','")
            args.append(self.argument(param))
        self.expect(")")
        return modifier.value(*args)

    def argument(self, param: Param) -> object:
        start = self.here()
        if isinstance(param, Word):
            value: object = self.match(_WORD)
            expected = f"one of {', '.join(param.choices)}"
        else:
            digits = self.match(_DIGITS) or ""
            value = int(digits) if 0 < len(digits) <= len(str(_MOST_SECONDS)) else None
            expected = f"a number of seconds (1 to {_MOST_SECONDS})"
        if not _param_accepts(param, value):
            self.fail(f"expected {expected}", start)
        return value

    # -- a monitor ---------------------------------------------------------------------------

    def monitor(self) -> MonitorQuery:
        start = self.here()
        aggregation = self.word()
        if aggregation not in TIME_AGGREGATIONS:
            self.fail(f"time aggregation {aggregation!r} is not one of the monitor's", start)
        self.expect("(")
        window = self.token(WINDOW, "a window (last_5m)")
        self.expect(")")
        self.expect(":")
        expr = self.expression()
        self.skip()
        # The longest comparator first: ">=" before ">".
        comparator = next(
            (c for c in sorted(COMPARATORS, key=len, reverse=True) if self.take(c)), None
        )
        if comparator is None:
            self.fail(f"expected a comparator ({' '.join(COMPARATORS)})")
        start = self.here()
        threshold = self.token(NUMBER, "a threshold")
        return MonitorQuery(
            aggregation,
            window,
            expr,
            comparator,
            self.finite(threshold, start),
        )
