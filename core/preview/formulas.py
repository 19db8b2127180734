"""Arithmetic over evaluated queries: ``errors / commands``, ``100 * a``, ``abs(a)``.

Groups pair up as in Datadog's formulas: two grouped operands combine group by group (a
group missing on either side has no result), an ungrouped operand or a number applies to
every group of the other. A division by zero, or any missing operand, gives no value.

Each operator and function of the query grammar (:mod:`obs.metric_query.grammar`) has an
entry in :data:`OPERATORS` or :data:`FUNCTIONS`; a function whose entry is ``None`` is refused
as "not evaluated locally", and tests/test_query_grammar.py fails on one without an entry.

Example:
    >>> from obs import catalog
    >>> from obs.metric_query.tree import count
    >>> hits = count(catalog.CACHE_REQUESTS, where={"cache.result": "hit"})
    >>> lookups = count(catalog.CACHE_REQUESTS)
    >>> results = {hits: {(): [3.0, 0.0]}, lookups: {(): [4.0, 0.0]}}
    >>> combine(hits / lookups, results.__getitem__, [10.0, 10.0])
    {(): [0.75, None]}
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence

from obs.metric_query.tree import BinOp, Call, Expr, Number, Query
from obs.preview.evaluate import Grouped, PreviewError, Values, aggregate

OPERATORS: Mapping[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
REDUCERS = ("avg", "last", "sum", "min", "max")


def combine(
    expr: Expr, results: Callable[[Query], Grouped], step_seconds: Sequence[float]
) -> Grouped:
    """The value of ``expr`` per group and step, given each query's ``results``."""
    if isinstance(expr, Query):
        return results(expr)
    if isinstance(expr, Number):
        return {(): [expr.value] * len(step_seconds)}
    if isinstance(expr, BinOp):
        left = combine(expr.left, results, step_seconds)
        right = combine(expr.right, results, step_seconds)
        operator_ = OPERATORS.get(expr.op)
        if operator_ is None:
            raise PreviewError(f"the operator {expr.op} is not evaluated locally")
        return _binary(operator_, left, right)
    if isinstance(expr, Call):
        # Arguments after the expression are numbers and words the entry itself reads.
        values = combine(expr.args[0], results, step_seconds) if expr.args else {}
        return _call(expr, values, step_seconds)
    raise PreviewError(f"{type(expr).__name__} is not an expression the preview knows")


def _binary(op: Callable[[float, float], float], left: Grouped, right: Grouped) -> Grouped:
    if set(left) == {()}:
        pairs = {key: (left[()], values) for key, values in right.items()}
    elif set(right) == {()}:
        pairs = {key: (values, right[()]) for key, values in left.items()}
    else:
        pairs = {key: (left[key], right[key]) for key in left if key in right}
    return {
        key: [_apply(op, a, b) for a, b in zip(lhs, rhs, strict=True)]
        for key, (lhs, rhs) in pairs.items()
    }


def _apply(op: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    try:
        result = op(a, b)
    except ZeroDivisionError:
        return None
    return result if math.isfinite(result) else None


def _per(seconds: float) -> Callable[[Values, Sequence[float]], Values]:
    def per(values: Values, step_seconds: Sequence[float]) -> Values:
        return [
            None if v is None or s <= 0 else v / s * seconds
            for v, s in zip(values, step_seconds, strict=True)
        ]

    return per


def _pointwise(function: Callable[[float], float]) -> Callable[[Values, Sequence[float]], Values]:
    def apply(values: Values, step_seconds: Sequence[float]) -> Values:
        out: Values = []
        for v in values:
            try:
                out.append(None if v is None else function(v))
            except ValueError:  # log of 0 or of a negative number
                out.append(None)
        return out

    return apply


def _cumsum(values: Values, step_seconds: Sequence[float]) -> Values:
    out: Values = []
    running = 0.0
    for v in values:
        running += v or 0.0
        out.append(None if v is None else running)
    return out


def _default_zero(values: Values, step_seconds: Sequence[float]) -> Values:
    return [0.0 if v is None else v for v in values]


def linear_fit(times: Sequence[float], values: Values) -> tuple[float, float] | None:
    """The least-squares line ``(slope, intercept)`` through the present values at
    ``times``; None with fewer than two distinct times.

    Example:
        >>> linear_fit([0.0, 10.0, 20.0], [1.0, None, 5.0])
        (0.2, 1.0)
    """
    points = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
    if len({t for t, _ in points}) < 2:
        return None
    mean_t = math.fsum(t for t, _ in points) / len(points)
    mean_v = math.fsum(v for _, v in points) / len(points)
    spread = math.fsum((t - mean_t) ** 2 for t, _ in points)
    slope = math.fsum((t - mean_t) * (v - mean_v) for t, v in points) / spread
    return slope, mean_v - slope * mean_t


def step_times(step_seconds: Sequence[float]) -> list[float]:
    """Each step's end, in seconds after the first step's."""
    return list(itertools.accumulate(step_seconds[1:], initial=0.0))


def _forecast(values: Values, step_seconds: Sequence[float]) -> Values:
    """Where the series is heading: a least-squares line through the window (whatever the
    algorithm: Datadog's linear and seasonal models need history the preview does not hold).
    """
    times = step_times(step_seconds)
    fit = linear_fit(times, values)
    if fit is None:
        return [None] * len(values)
    slope, intercept = fit
    return [intercept + slope * t for t in times]


# Every function of the grammar: how the preview evaluates it over one series, or None: not
# at all (time shifts, smoothing and regressions need history before the window; the others
# a number argument or Datadog's own grouping).
FUNCTIONS: Mapping[str, Callable[[Values, Sequence[float]], Values] | None] = {
    "abs": _pointwise(abs),
    "log2": _pointwise(math.log2),
    "log10": _pointwise(math.log10),
    "cumsum": _cumsum,
    "default_zero": _default_zero,
    "per_second": _per(1.0),
    "per_minute": _per(60.0),
    "per_hour": _per(3600.0),
    "forecast": _forecast,
    **dict.fromkeys(
        (
            *("integral", "exclude_null", "dt", "diff", "derivative", "monotonic_diff"),
            *("hour_before", "day_before", "week_before", "month_before", "timeshift"),
            *("clamp_min", "clamp_max", "cutoff_min", "cutoff_max"),
            *("ewma_3", "ewma_5", "ewma_10", "ewma_20", "median_3", "median_5", "median_7"),
            *("median_9", "autosmooth", "trend_line", "piecewise_constant", "robust_trend"),
            *("count_nonzero", "count_not_null"),
        ),
        None,
    ),
}


def _call(expr: Call, argument: Grouped, step_seconds: Sequence[float]) -> Grouped:
    function = FUNCTIONS.get(expr.function)
    if function is None:
        known = ", ".join(sorted(n for n, f in FUNCTIONS.items() if f is not None))
        raise PreviewError(
            f"{expr.function}() is not evaluated locally (the preview draws {known})"
        )
    return {key: function(values, step_seconds) for key, values in argument.items()}


def reduce(values: Values, how: str) -> float | None:
    """One number from a series over time: avg, last, sum, min or max of its values.

    Example:
        >>> reduce([1.0, None, 3.0], "avg"), reduce([1.0, None, 3.0], "last")
        (2.0, 3.0)
    """
    if how == "last":
        present = [v for v in values if v is not None]
        return present[-1] if present else None
    if how in REDUCERS:
        return aggregate(how, values)
    raise PreviewError(f"reduce {how!r} is not one of {', '.join(REDUCERS)}, percentile")
