"""The latest readings of every collection, which exporters observe.

Each collection replaces its previous readings, so a queue or collection that disappears
stops being reported, and memory stays bounded by what the targets hold now. A failed
collection removes its readings (stale numbers would mislead) but keeps its counters'
totals, so a counter continues where it was when the target returns.

Counters are exported as the agent's own running totals: a server counter that restarts
(goes down, or changes epoch) adds its new value instead of making the total drop, so
exported counters only ever rise.

Example:
    >>> from obs import catalog
    >>> hits = lambda n, epoch="a": Point.of(catalog.REDIS_KEYSPACE_HITS, n, {}, epoch)
    >>> store = Store()
    >>> for value, epoch in ((100, "a"), (130, "a"), (5, "b")):
    ...     store.replace("redis", [hits(value, epoch)])
    ...     print(store.readings(catalog.REDIS_KEYSPACE_HITS))
    [((), 100.0)]
    [((), 130.0)]
    [((), 135.0)]
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from obs.agent.points import Attributes, Columns, Point, Readings, increase
from obs.catalog import Kind, Metric

Series = tuple[str, Attributes]
Family = tuple[Metric, Sequence[tuple[Attributes, float]]]  # a metric and its readings


@dataclass
class _Total:
    raw: float
    epoch: str | None
    total: float


class Store:
    """Readings by collection (a job id), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # job -> metric name -> readings
        self._readings: dict[str, dict[str, Readings]] = {}
        self._totals: dict[str, dict[Series, _Total]] = {}

    def replace(self, job: str, points: Iterable[Point]) -> None:
        """Make ``points`` the readings of ``job``."""
        with self._lock:
            old_totals = self._totals.get(job, {})
            totals: dict[Series, _Total] = {}
            readings: dict[str, Readings] = {}
            if isinstance(points, Columns):
                # Gauges are kept as they came, in their columns; counters go through the
                # running totals below, point by point.
                for metric, column in points.families:
                    if metric.kind is not Kind.COUNTER:
                        readings[metric.name] = column
                points = points.counters()
            for point in points:
                value = point.value
                if point.metric.kind is Kind.COUNTER:
                    previous = old_totals.get(point.series)
                    if previous is None:
                        total = _Total(point.value, point.epoch, point.value)
                    else:
                        restarted = previous.epoch != point.epoch
                        step = increase(previous.raw, point.value, restarted)
                        total = _Total(point.value, point.epoch, previous.total + step)
                    totals[point.series] = total
                    value = total.total
                of_metric = readings.get(point.metric.name)
                if of_metric is None:
                    of_metric = readings[point.metric.name] = Readings()
                of_metric.append(point.attributes, value)
            self._readings[job] = readings
            self._totals[job] = totals

    def clear(self, job: str) -> None:
        """Forget the readings of ``job`` (it failed); its counter totals stay."""
        with self._lock:
            self._readings.pop(job, None)

    def readings(self, metric: Metric) -> Readings:
        """Every current (attributes, value) of ``metric``."""
        out = Readings()
        with self._lock:
            for readings in self._readings.values():
                of_metric = readings.get(metric.name)
                if of_metric is not None:
                    out.extend(of_metric)
        return out

    def series_count(self) -> int:
        with self._lock:
            return sum(len(r) for job in self._readings.values() for r in job.values())
