"""Growth monitors: alert when a collection is forecast to cross a size within weeks, the
signal to shard, partition or archive it before it gets there.

The query is Datadog's ``forecast()`` of the agent's collStats reading (a linear model over
the last week of hourly points), and the monitor looks ahead over ``weeks``:
``max(next_4w):forecast(max:obs.mongo.collection.size{db.collection.name:logs} by
{db.collection.name}, 'linear', 1, history='1w', interval='60m', model='default') >= ...``.

Example:
    >>> m = collection_growth("logs", 100 * 2**30, weeks=4)
    >>> m.key, m.window, m.thresholds.critical
    ('obs.mongo.growth.logs', 'next_4w', 107374182400)
"""

from __future__ import annotations

from obs import catalog
from obs.catalog import Metric, attr
from obs.metric_query.tree import forecast, maximum
from obs.monitors.monitor import Monitor, Thresholds

_BINARY = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def amount(limit: float, metric: Metric) -> str:
    """``limit`` of ``metric`` for people: ``200 GiB``, ``5,000,000 documents``.

    Example:
        >>> amount(200 * 2**30, catalog.MONGO_COLLECTION_SIZE)
        '200 GiB'
        >>> amount(5e6, catalog.MONGO_COLLECTION_DOCUMENTS)
        '5,000,000 documents'
    """
    if metric.unit == "By":
        size, name = next(((f, n) for f, n in _BINARY if limit >= f), (1, "bytes"))
        return f"{limit / size:g} {name}"
    return f"{limit:,.0f} {metric.unit.strip('{}')}s"


def collection_growth(
    collection: str,
    limit: float,
    weeks: int = 4,
    *,
    metric: Metric = catalog.MONGO_COLLECTION_SIZE,
    key: str | None = None,
    priority: int | None = 3,
) -> Monitor:
    """A monitor that fires when ``collection``'s ``metric`` (its size in bytes, or
    ``catalog.MONGO_COLLECTION_DOCUMENTS``) is forecast to reach ``limit`` within
    ``weeks`` weeks."""
    what = "size" if metric is catalog.MONGO_COLLECTION_SIZE else "document count"
    limit_text = amount(limit, metric)
    query = forecast(
        maximum(metric, where={attr.DB_COLLECTION_NAME: collection}, by=(attr.DB_COLLECTION_NAME,)),
        "linear",
        1,
        history="1w",
        interval="60m",
        model="default",
    )
    return Monitor(
        key=key or f"obs.mongo.growth.{collection}" + ("" if what == "size" else ".documents"),
        name=f"Mongo collection {{{{db.collection.name.name}}}} will pass {limit_text} within "
        f"{weeks} weeks",
        query=query,
        comparator=">=",
        thresholds=Thresholds(critical=limit),
        window=f"next_{weeks}w",
        message=f"The {what} of {{{{db.collection.name.name}}}} is forecast to reach "
        f"{{{{value}}}} within {weeks} weeks, past {limit_text}. Shard, partition or archive it "
        "before then; the obs: MongoDB dashboard's Growth group shows the trend.",
        priority=priority,
        tags=("component:mongo",),
    )
