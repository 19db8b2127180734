"""Metrics recorded on request threads, aggregated in cells bound to one attribute set.

Why obs does not call the SDK's synchronous instruments on the hot path: each
``Histogram.record`` validates, copies and hashes its attributes again, about 12 us per call
on the reference machine (``make bench BENCH=pymongo_overhead``), more than the whole
per-command budget. prometheus_client solves the same problem with bound children; obs does
the same: an attribute set is bound to a cell once (callers cache the cell), and recording
is a lock, a bisect and three additions.

The cells leave the process with everything else: obs's metric reader
(:class:`obs.lifecycle.providers.ObsMetricReader`) adds them to each SDK collection as
ordinary SDK metric data, in the temporality the exporter asks for. When the application
brought its own MeterProvider, :class:`SdkFamily` records through SDK instruments instead
(slower, same data).

Example:
    >>> from obs import catalog
    >>> family = Family(catalog.DB_CLIENT_OPERATION_DURATION)
    >>> cell = family.cell({"db.namespace": "app"})
    >>> cell.record(0.004)
    >>> cell.count, cell.sum
    (1, 0.004)
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

from obs import catalog

OVERFLOW = {"otel.metric.overflow": True}  # the OTel spec's attribute for capped series
_OVERFLOW_KEY = ("otel.metric.overflow",)
MAX_CELLS = 2000  # attribute sets per metric; beyond this, points share the overflow cell


class HistogramCell:
    """One histogram series: explicit buckets, sum, count, min, max."""

    __slots__ = ("_bounds", "_lock", "count", "counts", "max", "min", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._lock = threading.Lock()
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")

    def record(self, value: float) -> None:
        """Record one measurement (bucket upper bounds are inclusive, as in OTLP)."""
        index = bisect_left(self._bounds, value)
        lock = self._lock
        lock.acquire()  # not `with`: its __enter__/__exit__ lookups cost a fifth of this
        try:
            self.counts[index] += 1
            self.count += 1
            self.sum += value
            if value < self.min:  # noqa: PLR1730 (cheaper than calling min() per record)
                self.min = value
            if value > self.max:  # noqa: PLR1730
                self.max = value
        finally:
            lock.release()

    def take(self, reset: bool) -> tuple[list[int], int, float, float, float]:
        with self._lock:
            snapshot = (list(self.counts), self.count, self.sum, self.min, self.max)
            if reset:
                self.counts = [0] * len(self.counts)
                self.count = 0
                self.sum = 0.0
                self.min = float("inf")
                self.max = float("-inf")
        return snapshot


class CounterCell:
    """One monotonic counter series."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value: float = 0

    def add(self, amount: float = 1) -> None:
        with self._lock:
            self.value += amount

    def take(self, reset: bool) -> float:
        with self._lock:
            value = self.value
            if reset:
                self.value = 0
        return value


class _Fanout:
    """Records into one cell per reader (when several readers export the same family)."""

    __slots__ = ("_cells",)

    def __init__(self, cells: list[Any]) -> None:
        self._cells = cells

    def record(self, value: float) -> None:
        for cell in self._cells:
            cell.record(value)

    def add(self, amount: float = 1) -> None:
        for cell in self._cells:
            cell.add(amount)


class Family:
    """All series of one catalog metric (a histogram or a counter).

    ``cell(attributes, key)`` returns the recorder for an attribute set, creating it once;
    pass a cheap ``key`` (a tuple you already have) to skip hashing the attributes. Each of
    ``views`` readers gets its own cells, so a delta reader's resets never touch what a
    cumulative reader (a Prometheus endpoint) reports; with one reader, recording goes
    straight into its cell.
    """

    def __init__(self, metric: catalog.Metric, views: int = 1) -> None:
        if metric.kind not in (catalog.Kind.HISTOGRAM, catalog.Kind.COUNTER):
            raise TypeError(f"{metric.name}: only histograms and counters are hot-path metrics")
        self.metric = metric
        self._views = views
        self._bounds = metric.buckets or ()
        # key -> (attributes, one cell per view, the recorder handed out)
        self._cells: dict[Hashable, tuple[Mapping[str, Any], list[Any], Any]] = {}
        self._lock = threading.Lock()
        self._start = time.time_ns()
        self._last = [self._start] * views

    def cell(self, attributes: Mapping[str, Any], key: Hashable | None = None) -> Any:
        """The recorder of ``attributes`` (found by ``key``, or by the attributes)."""
        if key is None:
            key = frozenset(attributes.items())
        found = self._cells.get(key)
        if found is not None:
            return found[2]
        with self._lock:
            found = self._cells.get(key)
            if found is None:
                if len(self._cells) >= MAX_CELLS:
                    key, attributes = _OVERFLOW_KEY, OVERFLOW
                    found = self._cells.get(key)
                if found is None:
                    cells = [self._new_cell() for _ in range(self._views)]
                    recorder = cells[0] if len(cells) == 1 else _Fanout(cells)
                    found = (dict(attributes), cells, recorder)
                    self._cells[key] = found
        return found[2]

    def _new_cell(self) -> HistogramCell | CounterCell:
        return HistogramCell(self._bounds) if self._bounds else CounterCell()

    def bound(self, key: Hashable, attributes: Callable[..., Mapping[str, Any]], *args: Any) -> Any:
        """The recorder for ``key``; ``attributes(*args)`` builds its attributes the first time.

        Example:
            >>> family = Family(catalog.CACHE_REQUESTS)
            >>> family.bound(("kpi", True), dict, {"cache.name": "kpi"}).add(2)
        """
        found = self._cells.get(key)
        if found is not None:
            return found[2]
        return self.cell(attributes(*args), key)

    def reset(self) -> None:
        """Forget every series (a forked child must not report its parent's counts)."""
        with self._lock:
            self._cells = {}
            self._start = time.time_ns()
            self._last = [self._start] * self._views

    def collect(
        self, temporality: AggregationTemporality, now: int, view: int = 0
    ) -> Metric | None:
        """One reader's series as SDK metric data, or None when it has none."""
        delta = temporality is AggregationTemporality.DELTA
        start = self._last[view] if delta else self._start
        self._last[view] = now
        with self._lock:
            series = [(attributes, cells[view]) for attributes, cells, _ in self._cells.values()]
        if self.metric.kind is catalog.Kind.HISTOGRAM:
            points: list[Any] = []
            for attributes, cell in series:
                counts, count, total, low, high = cell.take(reset=delta)
                if count:  # a series nothing was recorded in is not reported
                    points.append(
                        HistogramDataPoint(
                            attributes=attributes,
                            start_time_unix_nano=start,
                            time_unix_nano=now,
                            count=count,
                            sum=total,
                            bucket_counts=counts,
                            explicit_bounds=list(self._bounds),
                            min=low,
                            max=high,
                        )
                    )
            data: Any = Histogram(data_points=points, aggregation_temporality=temporality)
        else:
            points = []
            for attributes, cell in series:
                value = cell.take(reset=delta)
                if value:
                    points.append(
                        NumberDataPoint(
                            attributes=attributes,
                            start_time_unix_nano=start,
                            time_unix_nano=now,
                            value=value,
                        )
                    )
            data = Sum(data_points=points, aggregation_temporality=temporality, is_monotonic=True)
        if not points:
            return None
        return Metric(
            name=self.metric.name,
            description=self.metric.description,
            unit=self.metric.unit,
            data=data,
        )


class _SdkCell:
    """A cell that records through an SDK instrument (the application's MeterProvider)."""

    __slots__ = ("_attributes", "_instrument")

    def __init__(self, instrument: Any, attributes: Mapping[str, Any]) -> None:
        self._instrument = instrument
        self._attributes = dict(attributes)

    def record(self, value: float) -> None:
        self._instrument.record(value, self._attributes)

    def add(self, amount: float = 1) -> None:
        self._instrument.add(amount, self._attributes)


class SdkFamily:
    """The same interface as :class:`Family`, backed by an SDK instrument."""

    def __init__(self, metric: catalog.Metric, meter: Any) -> None:
        self.metric = metric
        self._instrument: Any = (
            metric.create_histogram(meter)
            if metric.kind is catalog.Kind.HISTOGRAM
            else metric.create_counter(meter)
        )
        self._cells: dict[Hashable, _SdkCell] = {}

    def cell(self, attributes: Mapping[str, Any], key: Hashable | None = None) -> Any:
        if key is None:
            key = frozenset(attributes.items())
        found = self._cells.get(key)
        if found is None:
            found = _SdkCell(self._instrument, attributes)
            if len(self._cells) < MAX_CELLS:
                self._cells[key] = found
        return found

    def bound(self, key: Hashable, attributes: Callable[..., Mapping[str, Any]], *args: Any) -> Any:
        found = self._cells.get(key)
        return found if found is not None else self.cell(attributes(*args), key)


class HotMetrics:
    """What one reader exports: its view of every hot-path family."""

    def __init__(self, families: Iterable[Family], view: int = 0) -> None:
        self.families = list(families)
        self.view = view

    def collect(self, temporality_of: Mapping[Any, AggregationTemporality]) -> list[Metric]:
        """Every family's data, in the temporality the reader prefers per instrument."""
        from opentelemetry.sdk.metrics import Counter
        from opentelemetry.sdk.metrics import Histogram as SdkHistogram

        now = time.time_ns()
        out = []
        for family in self.families:
            kind: type = SdkHistogram if family.metric.kind is catalog.Kind.HISTOGRAM else Counter
            # A reader keys its preferences by the SDK's private instrument subclasses.
            temporality = next(
                (t for cls, t in temporality_of.items() if issubclass(cls, kind)),
                AggregationTemporality.CUMULATIVE,
            )
            metric = family.collect(temporality, now, self.view)
            if metric is not None:
                out.append(metric)
        return out

    def reset(self) -> None:
        for family in self.families:
            family.reset()
