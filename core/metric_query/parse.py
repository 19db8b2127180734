"""Read Datadog metric query text back into :mod:`obs.metric_query.tree` values.

Used by ``obs provision import`` (live JSON to Python) and by the normaliser, which rewrites
both sides of a diff into one canonical text so that spacing or redundant parentheses never
show as a change. Covers what obs writes: metric queries with a scope of ``key:value``,
``!key:value`` and ``$var`` terms, ``by {...}``, ``.as_count()``, ``.as_rate()``,
``.rollup(...)``; arithmetic; function calls; named queries in formulas; and monitor queries
``time_aggr(window):expression comparator threshold``. Anything else raises
:class:`QueryParseError` saying what and where.

Example:
    >>> from obs import catalog
    >>> q = parse_expression("p95:db.client.operation.duration{$env} by {db.collection.name}",
    ...                      catalog.by_name)
    >>> q.text()
    'p95:db.client.operation.duration{$env} by {db.collection.name}'
    >>> parse_monitor_query("avg(last_5m):avg:redis.memory.used{*}  >  2e9",
    ...                     catalog.by_name).threshold
    2000000000.0
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from obs.catalog import Metric
from obs.metric_query.tree import (
    AGGREGATIONS,
    BinOp,
    Call,
    Expr,
    Filter,
    Number,
    Query,
    Rollup,
    Tag,
    Var,
)

_METRIC_QUERY = re.compile(
    r"(?P<agg>[a-z0-9_]+):(?P<metric>[A-Za-z0-9_.]+)\{(?P<scope>[^{}]*)\}"
    r"(?:\s*by\s*\{(?P<by>[^{}]*)\})?"
)
_MODIFIER = re.compile(
    r"\.(?:(?P<plain>as_count|as_rate)\(\)"
    r"|rollup\(\s*(?P<method>[a-z]+)\s*(?:,\s*(?P<seconds>\d+)\s*)?\))"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_MONITOR = re.compile(
    r"^\s*(?P<agg>[a-z_]+)\((?P<window>last_\d+[mhdw])\)\s*:(?P<body>.+?)"
    r"\s*(?P<cmp>>=|<=|>|<|==|!=)\s*(?P<threshold>-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*$",
    re.DOTALL,
)


class QueryParseError(ValueError):
    """Query text obs cannot read; the message says what and at which character."""


MetricLookup = Callable[[str], Metric]


@dataclass(frozen=True)
class MonitorQuery:
    """The parts of ``time_aggregation(window):expression comparator threshold``."""

    time_aggregation: str
    window: str
    expr: Expr
    comparator: str
    threshold: float


def parse_expression(text: str, metric: MetricLookup) -> Expr:
    """An expression of inline metric queries (a monitor's, or a legacy ``q``)."""
    return _Parser(text, metric, None).parse()


def parse_formula(text: str, queries: Mapping[str, Query]) -> Expr:
    """A dashboard formula over named queries (``query1 / query2``)."""
    return _Parser(text, None, queries).parse()


def parse_monitor_query(text: str, metric: MetricLookup) -> MonitorQuery:
    found = _MONITOR.match(text)
    if not found:
        raise QueryParseError(
            f"{text!r} is not a metric monitor query "
            "(time_aggregation(last_Nm):expression comparator threshold)"
        )
    return MonitorQuery(
        found["agg"],
        found["window"],
        parse_expression(found["body"], metric),
        found["cmp"],
        float(found["threshold"]),
    )


class _Parser:
    """Recursive descent over ``+ -`` / ``* /`` / atoms, with the usual precedence."""

    def __init__(
        self, text: str, metric: MetricLookup | None, names: Mapping[str, Query] | None
    ) -> None:
        self.text = text
        self.at = 0
        self.metric = metric
        self.names = names

    def parse(self) -> Expr:
        expr = self.sum()
        self.skip()
        if self.at != len(self.text):
            self.fail("unexpected text")
        return expr

    def fail(self, what: str) -> NoReturn:
        raise QueryParseError(f"{what} at character {self.at + 1} of {self.text!r}")

    def skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.at] if self.at < len(self.text) else ""

    def sum(self) -> Expr:
        left = self.product()
        while self.peek() in ("+", "-"):
            op = self.text[self.at]
            self.at += 1
            left = BinOp(op, left, self.product())  # type: ignore[arg-type]
        return left

    def product(self) -> Expr:
        left = self.atom()
        while self.peek() in ("*", "/"):
            op = self.text[self.at]
            self.at += 1
            left = BinOp(op, left, self.atom())  # type: ignore[arg-type]
        return left

    def atom(self) -> Expr:
        char = self.peek()
        if char == "(":
            self.at += 1
            inner = self.sum()
            if self.peek() != ")":
                self.fail("expected ')'")
            self.at += 1
            return inner
        number = _NUMBER.match(self.text, self.at)
        if number:
            self.at = number.end()
            return Number(float(number.group()))
        if self.metric is not None:
            found = _METRIC_QUERY.match(self.text, self.at)
            if found:
                return self.metric_query(found, self.metric)
        name = _NAME.match(self.text, self.at)
        if not name:
            self.fail("expected a query, a number or '('")
        self.at = name.end()
        if self.peek() == "(":
            return self.call(name.group())
        if self.names is None or name.group() not in self.names:
            self.fail(f"unknown query name {name.group()!r}")
        return self.names[name.group()]

    def call(self, function: str) -> Call:
        self.at += 1
        args: list[Expr] = []
        while self.peek() != ")":
            args.append(self.sum())
            if self.peek() == ",":
                self.at += 1
            elif self.peek() != ")":
                self.fail("expected ',' or ')'")
        self.at += 1
        return Call(function, tuple(args))

    def metric_query(self, found: re.Match[str], metric_of: MetricLookup) -> Query:
        start = self.at
        self.at = found.end()
        aggregation = found["agg"]
        if aggregation not in AGGREGATIONS:
            self.at = start
            self.fail(f"space aggregation {aggregation!r} is not one obs writes")
        try:
            metric = metric_of(found["metric"])
        except KeyError as exc:
            self.at = start
            self.fail(str(exc.args[0]) if exc.args else "unknown metric")
        as_count = as_rate = False
        rollup = None
        while (modifier := _MODIFIER.match(self.text, self.at)) is not None:
            self.at = modifier.end()
            if modifier["plain"] == "as_count":
                as_count = True
            elif modifier["plain"] == "as_rate":
                as_rate = True
            else:
                seconds = modifier["seconds"]
                rollup = Rollup(modifier["method"], int(seconds) if seconds else None)
        if self.text.startswith(".", self.at):
            self.fail("unsupported query function")
        by = tuple(k.strip() for k in (found["by"] or "").split(",") if k.strip())
        return Query(
            metric,
            aggregation,  # type: ignore[arg-type]
            self.scope(found["scope"]),
            by,
            as_count,
            as_rate,
            rollup,
        )

    def scope(self, text: str) -> tuple[Filter, ...]:
        terms = [t.strip() for t in text.split(",")]
        if terms == ["*"]:
            return ()
        filters: list[Filter] = []
        for term in terms:
            if term.startswith("$") and _NAME.fullmatch(term[1:]):
                filters.append(Var(term[1:]))
                continue
            negate = term.startswith("!")
            key, colon, value = term.removeprefix("!").partition(":")
            if not colon or not key or not value or " " in term:
                self.fail(f"scope term {term!r} is not key:value, !key:value or $variable")
            filters.append(Tag(key, value, negate))
        return tuple(filters)
