"""Evaluate one typed :class:`~obs.metric_query.tree.Query` over the store's series.

Time is cut into steps, each a span of rounds ``(after, through]``. Per series and step:

- gauges and up-down counters: the mean of the values in the step (or the query's rollup
  method), else the latest value of the last few rounds;
- counters: the increase over the step, a value lower than the previous one being a reset
  (the counter restarted from 0); ``as_rate()`` divides by the seconds between the samples;
- histograms: the increase of every bucket, of the sum and of the count, resets included.

Then the series matching the scope are grouped by the ``by`` keys and aggregated in space:
``avg/sum/min/max/count`` of the series' values; for histograms, the buckets of the group
are merged first, so ``p95`` is the quantile of every observation of the group (as
Datadog's distributions compute it), ``avg`` is sum / count, ``count`` the observations,
``min``/``max`` the lowest and highest non-empty bucket bounds (buckets carry no extremes).

Each word of the query grammar (:mod:`obs.metric_query.grammar`) has an entry here:
:data:`OF_VALUES` and :data:`OF_BUCKETS` per aggregator, :data:`MODIFIERS` per query
modifier; an entry of ``None`` or ``False``, or a word without one, is refused as "not
evaluated locally", and tests/test_query_grammar.py fails on a word without an entry.

Example:
    >>> from obs import catalog
    >>> from obs.metric_query.tree import rate
    >>> from obs.preview.store import Entry, SeriesView
    >>> hits = SeriesView(catalog.REDIS_KEYSPACE_HITS, (),
    ...                   (Entry(0, 0.0, 100.0), Entry(1, 10.0, 150.0), Entry(2, 20.0, 30.0)))
    >>> evaluate(rate(catalog.REDIS_KEYSPACE_HITS), [hits], [Step(0, 1), Step(1, 2)])
    {(): [5.0, 3.0]}
"""

from __future__ import annotations

import bisect
import fnmatch
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from obs.catalog import Kind
from obs.metric_query.grammar import MODIFIERS as GRAMMAR_MODIFIERS
from obs.metric_query.tree import PERCENTILES, Query, Tag
from obs.preview.mapping import Tags
from obs.preview.quantile import quantile
from obs.preview.scrape import Histogram, Value
from obs.preview.store import Entry, SeriesView

Values = list[float | None]
Grouped = dict[Tags, Values]
# A gauge that missed a round keeps its last value this many rounds (Prometheus' lookback).
LOOKBACK_ROUNDS = 3
MISSING = "N/A"  # the group value of series without a ``by`` tag, as Datadog labels it


class PreviewError(Exception):
    """A query or formula the preview cannot evaluate (the message says why)."""


@dataclass(frozen=True)
class Step:
    """Rounds ``(after, through]``; ``seconds`` of wall time between them."""

    after: int
    through: int
    seconds: float = 0.0


@dataclass(frozen=True)
class Increase:
    """What a histogram gained over a step: per-bucket counts (not cumulative)."""

    buckets: dict[float, float]
    sum: float
    count: float

    def scaled(self, factor: float) -> Increase:
        return Increase(
            {b: c * factor for b, c in self.buckets.items()}, self.sum * factor, self.count * factor
        )


def matches(tags: Tags, scope: Sequence[object]) -> bool:
    """True when ``tags`` pass every :class:`Tag` filter of ``scope`` (unbound ``$vars``
    match anything); ``key:*`` requires the key, ``key:pre*`` matches a prefix.

    Example:
        >>> matches((("error.type", "timeout"),), (Tag("error.type", "*"),))
        True
        >>> matches((), (Tag("error.type", "*"),))
        False
    """
    found = dict(tags)
    for f in scope:
        if not isinstance(f, Tag):
            continue
        value = found.get(f.key)
        hit = value is not None and fnmatch.fnmatchcase(value, f.value)
        if hit == f.negate:
            return False
    return True


def evaluate(query: Query, series: Sequence[SeriesView], steps: Sequence[Step]) -> Grouped:
    """Each group's value per step (None where there is no data)."""
    kind = query.metric.kind
    if query.is_percentile and kind is not Kind.HISTOGRAM:
        raise PreviewError(
            f"{query.aggregation} needs a histogram; {query.metric.name} is a {kind.value}"
        )
    _check_evaluated(query)
    groups: dict[Tags, list[SeriesView]] = {}
    for s in series:
        if matches(s.tags, query.scope):
            found = dict(s.tags)
            key = tuple((k, found.get(k, MISSING)) for k in query.by)
            groups.setdefault(key, []).append(s)
    out: Grouped = {}
    first = steps[0].through if steps else 0
    one_round = query.rollup is None and all(
        s.after == s.through - 1 == first + i - 1 for i, s in enumerate(steps)
    )
    for key, members in sorted(groups.items()):
        if kind is Kind.HISTOGRAM:
            timelines = [_Timeline(m.entries) for m in members]
            out[key] = [_histogram_value(query, timelines, step) for step in steps]
            continue
        columns = [
            _per_round(query, m.entries, first, len(steps))
            if one_round
            else [_scalar(query, _Timeline(m.entries), step) for step in steps]
            for m in members
        ]
        if len(columns) == 1 and query.aggregation != "count":
            out[key] = columns[0]  # avg, sum, min and max of one value: the value
        else:
            out[key] = [aggregate(query.aggregation, c) for c in zip(*columns, strict=True)]
    return out


def _check_evaluated(query: Query) -> None:
    """Refuse, naming it, what the grammar can say but this evaluator does not apply."""
    table = OF_BUCKETS if query.metric.kind is Kind.HISTOGRAM else OF_VALUES
    if table.get(query.aggregation) is None:
        raise PreviewError(f"the aggregator {query.aggregation} is not evaluated locally")
    for modifier in GRAMMAR_MODIFIERS:
        used = getattr(query, modifier.name) not in (None, False)
        if used and not MODIFIERS.get(modifier.name):
            raise PreviewError(f".{modifier.name}() is not evaluated locally")


def _per_round(query: Query, entries: Sequence[Entry], first: int, count: int) -> Values:
    """What :func:`_scalar` gives for the rounds ``first .. first + count - 1`` as steps of
    one round each, in one pass over the entries: a dashboard over a full window asks for
    every round of thousands of series."""
    out: Values = [None] * count
    if query.metric.kind is Kind.COUNTER:
        values = cast(list[float], [e.value for e in entries])  # only histograms hold buckets
        for i, (then, now) in enumerate(itertools.pairwise(values), start=1):
            index = entries[i].round - first
            if 0 <= index < count:
                increase = now if now < then else now - then
                if query.as_rate:
                    seconds = entries[i].time - entries[i - 1].time
                    out[index] = increase / seconds if seconds > 0 else None
                else:
                    out[index] = increase
        return out
    rounds = [e.round for e in entries]
    begin = bisect.bisect_left(rounds, first)
    if begin < len(rounds) and rounds[-1] - rounds[begin] == len(rounds) - 1 - begin:
        # a sample every round (the usual case): the values as they are, gaps at the edges
        lead = rounds[begin] - first
        held = cast(Values, [e.value for e in entries[begin:]])[: max(0, count - lead)]
        out[lead : lead + len(held)] = held
        if begin > 0 and lead > 0:
            out[:lead] = _per_round_slowly(entries[:begin], first, lead)
        tail = lead + len(held)
        if tail < count:
            out[tail:] = _per_round_slowly(entries, first + tail, count - tail)
        return out
    return _per_round_slowly(entries, first, count)


def _per_round_slowly(entries: Sequence[Entry], first: int, count: int) -> Values:
    """A gauge's value per round, keeping a missed value a few rounds."""
    out: Values = [None] * count
    latest: tuple[int, float] | None = None  # (round, value) of the last sample so far
    at = 0
    for index in range(count):
        through = first + index
        while at < len(entries) and entries[at].round <= through:
            latest = (entries[at].round, _number(entries[at].value))
            at += 1
        # a gauge that missed a round keeps its latest value a few rounds
        if latest is not None and latest[0] > through - LOOKBACK_ROUNDS:
            out[index] = latest[1]
    return out


class _Timeline:
    """One series' entries with their rounds, for finding steps by bisection."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = entries
        self.rounds = [e.round for e in entries]

    def span(self, step: Step) -> tuple[int, int]:
        """(index of the last entry at or before ``after``, index of the last in the step)."""
        before = bisect.bisect_right(self.rounds, step.after) - 1
        last = bisect.bisect_right(self.rounds, step.through) - 1
        return before, last


def _number(value: Value) -> float:
    if isinstance(value, Histogram):
        raise PreviewError("a histogram series where a number was expected")
    return value


def _buckets(value: Value) -> Histogram:
    if not isinstance(value, Histogram):
        raise PreviewError("a number where a histogram series was expected")
    return value


def _scalar(query: Query, timeline: _Timeline, step: Step) -> float | None:
    before, last = timeline.span(step)
    entries = timeline.entries
    if query.metric.kind is not Kind.COUNTER:
        inside = [_number(e.value) for e in entries[before + 1 : last + 1]]
        if inside:
            return aggregate(query.rollup.method if query.rollup else "avg", inside)
        recent = last >= 0 and entries[last].round > step.through - LOOKBACK_ROUNDS
        return _number(entries[last].value) if recent else None
    start = max(before, 0)
    if last <= start:
        return None
    increase = 0.0
    for previous, current in zip(entries[start:last], entries[start + 1 : last + 1], strict=True):
        now, then = _number(current.value), _number(previous.value)
        increase += now if now < then else now - then
    if query.as_rate:
        seconds = entries[last].time - entries[start].time
        return increase / seconds if seconds > 0 else None
    return increase


def _increase(timeline: _Timeline, step: Step) -> tuple[Increase, float] | None:
    """A histogram series' increase over ``step``, and the seconds it spans."""
    before, last = timeline.span(step)
    start = max(before, 0)
    if last <= start:
        return None
    entries = timeline.entries
    buckets: dict[float, float] = {}
    total_sum = total_count = 0.0
    for previous, current in zip(entries[start:last], entries[start + 1 : last + 1], strict=True):
        now, then = _buckets(current.value), _buckets(previous.value)
        reset = now.bounds != then.bounds or now.count < then.count
        base = Histogram(now.bounds, (0.0,) * len(now.bounds), 0.0, 0.0) if reset else then
        below_now = below_then = 0.0
        for bound, c_now, c_then in zip(now.bounds, now.cumulative, base.cumulative, strict=True):
            buckets[bound] = buckets.get(bound, 0.0) + (c_now - below_now) - (c_then - below_then)
            below_now, below_then = c_now, c_then
        total_sum += now.sum - base.sum
        total_count += now.count - base.count
    return Increase(buckets, total_sum, total_count), entries[last].time - entries[start].time


def _merge(query: Query, timelines: Sequence[_Timeline], step: Step) -> Increase | None:
    """The increases of a group's series over ``step`` summed bucket by bucket."""
    merged: dict[float, float] = {}
    total_sum = total_count = 0.0
    seen = False
    for timeline in timelines:
        found = _increase(timeline, step)
        if found is None:
            continue
        increase, seconds = found
        if query.as_rate:
            if seconds <= 0:
                continue
            increase = increase.scaled(1 / seconds)
        seen = True
        for bound, count in increase.buckets.items():
            merged[bound] = merged.get(bound, 0.0) + count
        total_sum += increase.sum
        total_count += increase.count
    return Increase(merged, total_sum, total_count) if seen else None


def distribution(query: Query, series: Sequence[SeriesView], step: Step) -> Increase | None:
    """Every observation in scope over ``step``, as one histogram (a distribution widget)."""
    if query.metric.kind is not Kind.HISTOGRAM:
        raise PreviewError(f"a distribution needs a histogram; {query.metric.name} is not one")
    matching = [_Timeline(s.entries) for s in series if matches(s.tags, query.scope)]
    return _merge(query, matching, step)


def _histogram_value(query: Query, timelines: Sequence[_Timeline], step: Step) -> float | None:
    increase = _merge(query, timelines, step)
    of = OF_BUCKETS[query.aggregation]
    return None if increase is None or of is None else of(increase)


def _mean(increase: Increase) -> float | None:
    return increase.sum / increase.count if increase.count > 0 else None


def _quantile(level: float) -> Callable[[Increase], float | None]:
    def of(increase: Increase) -> float | None:
        if increase.count <= 0:
            return None
        bounds = sorted(increase.buckets)
        cumulative = list(itertools.accumulate(increase.buckets[b] for b in bounds))
        return quantile(level, bounds, cumulative)

    return of


def _filled(increase: Increase) -> tuple[list[float], list[int]]:
    """The bucket bounds in order, and the indexes of the non-empty buckets."""
    bounds = sorted(increase.buckets)
    if increase.count <= 0:
        return bounds, []
    return bounds, [i for i, b in enumerate(bounds) if increase.buckets[b] > 0]


def _highest(increase: Increase) -> float | None:
    """The upper bound of the highest non-empty bucket (the last finite one for +Inf)."""
    bounds, filled = _filled(increase)
    if not filled:
        return None
    top = filled[-1]
    if math.isfinite(bounds[top]):
        return bounds[top]
    return bounds[top - 1] if top > 0 else None


def _lowest(increase: Increase) -> float | None:
    """The lower bound of the lowest non-empty bucket (0 for the first bucket)."""
    bounds, filled = _filled(increase)
    if not filled:
        return None
    return 0.0 if filled[0] == 0 else bounds[filled[0] - 1]


# Space aggregators (and rollup methods) over the values present in a group or a step
# (a percentile needs a histogram).
OF_VALUES: Mapping[str, Callable[[list[float]], float] | None] = {
    "avg": lambda values: math.fsum(values) / len(values),
    "sum": math.fsum,
    "min": min,
    "max": max,
    "count": lambda values: float(len(values)),
}
# Space aggregators over the merged buckets of a group of histogram series.
OF_BUCKETS: Mapping[str, Callable[[Increase], float | None] | None] = {
    "count": lambda increase: increase.count,
    "sum": lambda increase: increase.sum,
    "avg": _mean,
    "min": _lowest,
    "max": _highest,
    **{p: _quantile(int(p[1:]) / 100) for p in PERCENTILES},
}
# Whether this evaluator applies each of the grammar's query modifiers: as_count() is a
# counter's increase per step, as_rate() that increase per second, rollup() a gauge's method
# within a step (its interval is the preview's step, as docs/preview.md says).
MODIFIERS: Mapping[str, bool] = {"as_count": True, "as_rate": True, "rollup": True}


def aggregate(method: str, values: Sequence[float | None]) -> float | None:
    """avg, sum, min, max or count of the values present (None when there are none)."""
    of = OF_VALUES.get(method)
    if of is None:
        raise PreviewError(f"the aggregator {method} is not evaluated locally for this metric")
    present = [v for v in values if v is not None]
    return of(present) if present else None
