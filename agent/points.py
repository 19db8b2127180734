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
from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Collected:
    """The result of one collection."""

    readings: tuple[Point, ...] = ()
    observations: tuple[Point, ...] = ()

    def __post_init__(self) -> None:
        for point in self.observations:
            if point.metric.kind is not Kind.HISTOGRAM:
                raise ValueError(f"{point.metric.name} is read, not observed")
        for point in self.readings:
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
