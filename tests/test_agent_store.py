"""The store fed readings as columns (a BullMQ scrape's) keeps what it keeps of the same
readings as points: the same series and values, counters as the same running totals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obs import catalog
from obs.agent.points import Collected, Columns, Point
from obs.agent.store import Store

METRICS = [
    catalog.BULLMQ_QUEUE_JOBS,  # gauges
    catalog.BULLMQ_QUEUE_PAUSED,
    catalog.BULLMQ_JOBS_COMPLETED,  # counters
    catalog.BULLMQ_JOBS_FAILED,
]
# One collection: (metric, queue name, value) readings; a round may repeat a series (the
# store keeps both, as it does of points), drop it, or lower a counter (a restart).
COLLECTION = st.lists(
    st.tuples(
        st.sampled_from(METRICS),
        st.sampled_from(["mail", "reports", "exports"]),
        st.floats(0, 1e6, allow_nan=False) | st.integers(0, 50).map(float),
    ),
    max_size=20,
)


def points(collection: list[tuple[catalog.Metric, str, float]]) -> list[Point]:
    return [
        Point.of(metric, value, {catalog.attr.QUEUE_NAME: name})
        for metric, name, value in collection
    ]


def columns(collection: list[tuple[catalog.Metric, str, float]]) -> Columns:
    made = Columns()
    for point in points(collection):
        made.of(point.metric).append(point.attributes, point.value)
    return made


@given(st.lists(COLLECTION, min_size=1, max_size=4))
def test_columns_are_stored_as_their_points_would_be(
    rounds: list[list[tuple[catalog.Metric, str, float]]],
) -> None:
    by_points, by_columns = Store(), Store()
    for collection in rounds:
        as_columns = columns(collection)
        # Columns read as their points, metric after metric (in the order each was first
        # added), each metric's in the order added.
        first: dict[str, int] = {}
        for metric, _, _ in collection:
            first.setdefault(metric.name, len(first))
        expected = sorted(points(collection), key=lambda p: first[p.metric.name])
        assert list(as_columns) == expected
        assert len(as_columns) == len(expected)
        assert as_columns[-1:] == expected[-1:]
        by_points.replace("bullmq", points(collection))
        by_columns.replace("bullmq", Collected(readings=as_columns).readings)
        for metric in METRICS:
            assert list(by_columns.readings(metric)) == list(by_points.readings(metric))
        assert by_columns.series_count() == by_points.series_count()


def test_columns_hold_no_histogram_and_no_epoch() -> None:
    with pytest.raises(ValueError, match="observed, not read"):
        Columns().of(catalog.AGENT_COLLECTION_DURATION)
    with pytest.raises(ValueError, match="no epoch"):
        Columns().add(Point.of(catalog.REDIS_KEYSPACE_HITS, 3, {}, epoch="run-1"))
