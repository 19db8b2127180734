"""What collectors produce: points of catalog metrics.

A collection yields *readings* (the current value of a gauge, or the running total of a
counter as the server reports it) and *observations* (one sample of a histogram each).
Readings replace the previous collection's; observations are recorded once.

Example:
    >>> from obs import catalog
    >>> p = Point.of(catalog.REDIS_DB_KEYS, 12, {"db": "0", "server.port": 6379})
    >>> p.value, dict(p.attributes)
    (12.0, {'db': '0', 'server.port': 6379})
    >>> increase(10, 4), increase(10, 14), increase(None, 4)
    (4, 4, 4)
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

from obs.catalog import Kind, Metric

AttributeValue = str | int | float | bool
Attributes = tuple[tuple[str, AttributeValue], ...]


@functools.cache
def _declared(metric: Metric) -> frozenset[str]:
    # Metric.allows builds two sets per call; a scrape of 1,000 queues makes 10,000 points.
    return frozenset(metric.attributes)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# points 3.5x slower to build, and a scrape of 1,000 queues makes 10,000 of them every
# interval. Nothing changes a point once made.
@dataclass(slots=True)
class Point:
    """One value of one catalog metric with its attributes.

    ``epoch`` names the life of the server a counter comes from (Redis's run_id, mongod's
    start time): when it changes the counter restarted, even if it did not go down.
    """

    metric: Metric
    attributes: Attributes
    value: float
    epoch: str | None = None

    @classmethod
    def of(
        cls,
        metric: Metric,
        value: float,
        attributes: Mapping[str, AttributeValue],
        epoch: str | None = None,
    ) -> Point:
        """A point; attribute keys must be declared for ``metric`` in the catalog."""
        if not _declared(metric).issuperset(attributes):
            undeclared = sorted(set(attributes) - set(metric.attributes))
            raise ValueError(f"{metric.name} does not declare attributes {undeclared}")
        return cls(metric, tuple(sorted(attributes.items())), float(value), epoch)

    @property
    def series(self) -> tuple[str, Attributes]:
        return self.metric.name, self.attributes


class Readings(Sequence[tuple[Attributes, float]]):
    """(attributes, value) of series, kept as two columns, as the store keeps them: the
    attributes (the tuples the collector made, shared) and the values as machine doubles.
    A series costs 16 bytes here rather than ~90 for a tuple and a float object: at 10,000
    queues (100,000 series) that was 7 MiB.

    Example:
        >>> r = Readings()
        >>> r.append((("db", "0"),), 3)
        >>> r.extend(r)
        >>> len(r), r[1], r[:1]
        (2, ((('db', '0'),), 3.0), [((('db', '0'),), 3.0)])
    """

    __slots__ = ("attributes", "values")

    def __init__(
        self, attributes: list[Attributes] | None = None, values: array[float] | None = None
    ):
        self.attributes: list[Attributes] = [] if attributes is None else attributes
        self.values: array[float] = array("d") if values is None else values

    def append(self, attributes: Attributes, value: float) -> None:
        self.attributes.append(attributes)
        self.values.append(value)

    def extend(self, other: Readings) -> None:
        self.attributes.extend(other.attributes)
        self.values.extend(other.values)

    def __len__(self) -> int:
        return len(self.attributes)

    def __iter__(self) -> Iterator[tuple[Attributes, float]]:
        return zip(self.attributes, self.values, strict=True)

    @overload
    def __getitem__(self, index: int) -> tuple[Attributes, float]: ...

    @overload
    def __getitem__(self, index: slice) -> Readings: ...

    def __getitem__(self, index: int | slice) -> tuple[Attributes, float] | Readings:
        if isinstance(index, slice):
            return Readings(self.attributes[index], self.values[index])
        return self.attributes[index], self.values[index]

    def __repr__(self) -> str:
        return repr(list(self))


class Columns(Sequence[Point]):
    """Readings of a few metrics with many series each, as the store keeps them: one
    :class:`Readings` per metric rather than a point per series (series of no epoch). A
    BullMQ scrape of 1,000 queues reads 10,000 series every interval: a point each, checked
    and split into the store's columns again, cost a tenth of the agent's CPU. Reads as
    its points, metric after metric, each metric's series in the order they were added.

    Example:
        >>> from obs import catalog
        >>> columns = Columns()
        >>> columns.of(catalog.REDIS_DB_KEYS).append((("db", "0"),), 3)
        >>> columns.add(Point.of(catalog.REDIS_MEMORY_USED, 1024, {}))
        >>> [(p.metric.name, p.attributes, p.value) for p in columns], len(columns)
        ([('redis.db.keys', (('db', '0'),), 3.0), ('redis.memory.used', (), 1024.0)], 2)
    """

    __slots__ = ("families",)

    def __init__(self) -> None:
        self.families: list[tuple[Metric, Readings]] = []

    def of(self, metric: Metric) -> Readings:
        """The readings of ``metric``, to append series to (with attributes it declares)."""
        for known, readings in self.families:
            if known is metric:
                return readings
        if metric.kind is Kind.HISTOGRAM:
            raise ValueError(f"{metric.name} is observed, not read")
        readings = Readings()
        self.families.append((metric, readings))
        return readings

    def add(self, point: Point) -> None:
        if point.epoch is not None:
            raise ValueError(f"{point.metric.name}: columns keep no epoch")
        self.of(point.metric).append(point.attributes, point.value)

    def counters(self) -> Iterator[Point]:
        """The points of the counters among the metrics."""
        for metric, readings in self.families:
            if metric.kind is Kind.COUNTER:
                for attributes, value in readings:
                    yield Point(metric, attributes, value)

    def __iter__(self) -> Iterator[Point]:
        for metric, readings in self.families:
            for attributes, value in readings:
                yield Point(metric, attributes, value)

    def __len__(self) -> int:
        return sum(len(readings) for _, readings in self.families)

    @overload
    def __getitem__(self, index: int) -> Point: ...

    @overload
    def __getitem__(self, index: slice) -> list[Point]: ...

    def __getitem__(self, index: int | slice) -> Point | list[Point]:
        return list(self)[index]


@dataclass(frozen=True)
class Collected:
    """The result of one collection."""

    readings: Sequence[Point] = ()
    observations: tuple[Point, ...] = ()

    def __post_init__(self) -> None:
        for point in self.observations:
            if point.metric.kind is not Kind.HISTOGRAM:
                raise ValueError(f"{point.metric.name} is read, not observed")
        # Columns refuse histograms as they are made: their points need no second look.
        for point in () if isinstance(self.readings, Columns) else self.readings:
            if point.metric.kind is Kind.HISTOGRAM:
                raise ValueError(f"{point.metric.name} is observed, not read")


def increase(previous: float | None, current: float, restarted: bool = False) -> float:
    """How much a cumulative counter grew since ``previous``.

    A counter that went down (or whose server ``restarted``) started again from zero, so
    all of ``current`` is new; with no previous value, everything counted so far is.
    """
    if previous is None or restarted or current < previous:
        return current
    return current - previous
