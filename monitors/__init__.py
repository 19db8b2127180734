"""Datadog metric monitors as typed Python values, and the monitors obs ships.

    from obs import catalog
    from obs.catalog import attr
    from obs.monitors import Monitor, Thresholds, p95

    SLOW_ORDERS = Monitor(
        key="orders.slow",
        name="Orders: p95 Mongo latency high on {{db.collection.name.name}}",
        query=p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,)),
        comparator=">",
        thresholds=Thresholds(critical=0.5, warning=0.25),
        env_thresholds={"staging": Thresholds(critical=2.0)},
        message="p95 is {{value}}s. @slack-orders",
    )

obs's own monitors live in :mod:`obs.monitors.shipped`; :func:`collection_growth` builds a
forecast monitor for a collection's size or document count. The query helpers are those of
:mod:`obs.metric_query.tree`, re-exported here.
"""

from obs.metric_query.tree import (
    Query,
    Tag,
    avg,
    call,
    count,
    forecast,
    maximum,
    p50,
    p95,
    p99,
    query,
    rate,
    total,
)
from obs.monitors.growth import collection_growth
from obs.monitors.monitor import Comparator, Monitor, Thresholds, TimeAggregation

__all__ = [
    "Comparator",
    "Monitor",
    "Query",
    "Tag",
    "Thresholds",
    "TimeAggregation",
    "avg",
    "call",
    "collection_growth",
    "count",
    "forecast",
    "maximum",
    "p50",
    "p95",
    "p99",
    "query",
    "rate",
    "total",
]
