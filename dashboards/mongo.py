"""obs's MongoDB dashboard: client latency by collection and operation, throughput, errors,
pool wait, collection scans, the slowest profiled operations, the server's own view, and the
growth of collections with Datadog's forecast."""

from __future__ import annotations

from obs import catalog
from obs.catalog import Metric, attr
from obs.dashboards.dashboard import ENV, SERVICE, Dashboard
from obs.dashboards.widgets import (
    Distribution,
    Formula,
    Group,
    Note,
    QueryValue,
    Timeseries,
    Toplist,
)
from obs.metric_query.tree import avg, call, count, forecast, maximum, p50, p95, p99, rate

_CLIENT = ("env", "service")
_SERVER = ("env",)
_DURATION = catalog.DB_CLIENT_OPERATION_DURATION
_BY_COLLECTION = (attr.DB_COLLECTION_NAME,)
# default_zero: no failed command is a ratio of 0, not "no data".
_ERRORS = call("default_zero", count(_DURATION, where={attr.ERROR_TYPE: "*"}, variables=_CLIENT))
_COMMANDS = count(_DURATION, variables=_CLIENT)


def _growth(metric: Metric) -> tuple[Formula, ...]:
    """A collection gauge by collection, and Datadog's forecast of it (the preview draws a
    least-squares line through what it holds)."""
    now = maximum(metric, by=_BY_COLLECTION, variables=_SERVER)
    ahead = forecast(now, history="1w", interval="60m", model="default")
    return Formula(now, alias="now"), Formula(ahead, alias="forecast")


DASHBOARD = Dashboard(
    key="obs.mongo",
    title="obs: MongoDB",
    description="Query latency, throughput, errors, pool wait and collection scans, from "
    "obs.init() in each service (client side) and the obs agent (server side).",
    template_variables=(ENV, SERVICE),
    widgets=(
        Group(
            "Latency (client side)",
            (
                QueryValue("p95 command latency", (p95(_DURATION, variables=_CLIENT),), unit="s"),
                Timeseries(
                    "p50 / p95 / p99",
                    (
                        Formula(p50(_DURATION, variables=_CLIENT), alias="p50"),
                        Formula(p95(_DURATION, variables=_CLIENT), alias="p95"),
                        Formula(p99(_DURATION, variables=_CLIENT), alias="p99"),
                    ),
                ),
                Timeseries(
                    "p95 by collection",
                    (p95(_DURATION, by=_BY_COLLECTION, variables=_CLIENT),),
                ),
                Timeseries(
                    "p99 by operation",
                    (p99(_DURATION, by=(attr.DB_OPERATION_NAME,), variables=_CLIENT),),
                ),
                Toplist(
                    "Slowest collection and operation (p95)",
                    (
                        Formula(
                            p95(
                                _DURATION,
                                by=(attr.DB_COLLECTION_NAME, attr.DB_OPERATION_NAME),
                                variables=_CLIENT,
                            ),
                            limit=10,
                        ),
                    ),
                ),
                Distribution("Command duration", p95(_DURATION, variables=_CLIENT)),
            ),
        ),
        Group(
            "Throughput and errors",
            (
                Timeseries(
                    "Commands by operation",
                    (count(_DURATION, by=(attr.DB_OPERATION_NAME,), variables=_CLIENT),),
                    display="bars",
                ),
                Timeseries(
                    "Errors by type",
                    (
                        count(
                            _DURATION,
                            where={attr.ERROR_TYPE: "*"},
                            by=(attr.ERROR_TYPE,),
                            variables=_CLIENT,
                        ),
                    ),
                    display="bars",
                ),
                QueryValue("Error ratio", (Formula(_ERRORS / _COMMANDS, alias="errors"),)),
                Timeseries(
                    "Server operations per second",
                    (
                        rate(
                            catalog.MONGODB_OPERATION_COUNT,
                            by=(attr.MONGO_OPERATION,),
                            variables=_SERVER,
                        ),
                    ),
                ),
            ),
        ),
        Group(
            "Connection pool",
            (
                Timeseries(
                    "Pool wait p95 (with OBS_MONGO_POOL_TIMINGS)",
                    (
                        p95(
                            catalog.DB_CLIENT_CONNECTION_WAIT_TIME,
                            by=(attr.POOL_NAME,),
                            variables=_CLIENT,
                        ),
                    ),
                ),
                Timeseries(
                    "Connections in use vs. maximum",
                    (
                        Formula(
                            avg(
                                catalog.DB_CLIENT_CONNECTION_COUNT,
                                where={attr.CONNECTION_STATE: "used"},
                                by=(attr.POOL_NAME,),
                                variables=_CLIENT,
                            ),
                            alias="used",
                        ),
                        Formula(
                            maximum(
                                catalog.DB_CLIENT_CONNECTION_MAX,
                                by=(attr.POOL_NAME,),
                                variables=_CLIENT,
                            ),
                            alias="max",
                        ),
                    ),
                ),
                Timeseries(
                    "Waiting checkouts, and timeouts (with OBS_MONGO_POOL_TIMINGS)",
                    (
                        Formula(
                            maximum(
                                catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS, variables=_CLIENT
                            ),
                            alias="waiting",
                        ),
                        Formula(
                            count(catalog.DB_CLIENT_CONNECTION_TIMEOUTS, variables=_CLIENT),
                            alias="timeouts",
                        ),
                    ),
                ),
            ),
        ),
        Group(
            "Collection scans and slow shapes",
            (
                Note(
                    "A collection scan reads every document. Run `obs index-check` in CI "
                    "to catch new unindexed query shapes before they ship."
                ),
                Timeseries(
                    "Collection scans by collection",
                    (
                        count(
                            catalog.MONGO_COLLECTION_SCANS,
                            by=_BY_COLLECTION,
                            variables=_SERVER,
                        ),
                    ),
                    display="bars",
                ),
                Toplist(
                    "Query shapes scanning collections",
                    (
                        Formula(
                            count(
                                catalog.MONGO_COLLECTION_SCANS,
                                by=(attr.DB_COLLECTION_NAME, attr.QUERY_SHAPE),
                                variables=_SERVER,
                            ),
                            limit=10,
                        ),
                    ),
                ),
                Toplist(
                    "Slowest profiled operations (p95)",
                    (
                        Formula(
                            p95(
                                catalog.MONGO_PROFILED_DURATION,
                                by=(
                                    attr.DB_COLLECTION_NAME,
                                    attr.DB_OPERATION_NAME,
                                    attr.MONGO_PLAN,
                                ),
                                variables=_SERVER,
                            ),
                            limit=10,
                        ),
                    ),
                ),
                Timeseries(
                    "Server-wide scans and in-memory sorts per second",
                    (
                        Formula(
                            rate(catalog.MONGO_SERVER_COLLECTION_SCANS, variables=_SERVER),
                            alias="collection scans",
                        ),
                        Formula(
                            rate(catalog.MONGO_SCAN_AND_ORDER, variables=_SERVER),
                            alias="in-memory sorts",
                        ),
                    ),
                ),
                Timeseries(
                    "Costly command shapes (client side)",
                    (
                        count(
                            catalog.MONGO_QUERY_SMELLS,
                            by=(attr.QUERY_SMELL, attr.DB_COLLECTION_NAME),
                            variables=_CLIENT,
                        ),
                    ),
                    display="bars",
                ),
            ),
        ),
        Group(
            "Server",
            (
                Timeseries(
                    "Average latency by operation type",
                    (
                        avg(
                            catalog.MONGODB_OPERATION_LATENCY,
                            by=(attr.MONGO_OPERATION,),
                            variables=_SERVER,
                        ),
                    ),
                ),
                Timeseries(
                    "Connections",
                    (
                        avg(
                            catalog.MONGODB_CONNECTION_COUNT,
                            by=(attr.MONGO_CONNECTION_TYPE,),
                            variables=_SERVER,
                        ),
                    ),
                ),
                Timeseries(
                    "Long-running operations",
                    (
                        Formula(
                            maximum(catalog.MONGO_SLOW_OPERATIONS, variables=_SERVER),
                            alias="running over threshold",
                        ),
                        Formula(
                            maximum(catalog.MONGO_OLDEST_OPERATION_AGE, variables=_SERVER),
                            alias="oldest (s)",
                        ),
                    ),
                ),
                Timeseries(
                    "WiredTiger cache",
                    (
                        avg(
                            catalog.MONGO_WIREDTIGER_CACHE,
                            by=(attr.MONGO_CACHE_STATE,),
                            variables=_SERVER,
                        ),
                    ),
                ),
            ),
        ),
        Group(
            "Growth",
            (
                Note(
                    "Where the largest collections are heading: a forecast past what the "
                    "cluster holds within weeks is the signal to shard, partition or archive "
                    "(the growth monitors alert on transactions and logs)."
                ),
                Timeseries("Collection size and forecast", _growth(catalog.MONGO_COLLECTION_SIZE)),
                Timeseries("Documents and forecast", _growth(catalog.MONGO_COLLECTION_DOCUMENTS)),
                Toplist(
                    "Largest collections",
                    (
                        Formula(
                            maximum(
                                catalog.MONGO_COLLECTION_SIZE,
                                by=_BY_COLLECTION,
                                variables=_SERVER,
                            ),
                            limit=10,
                        ),
                    ),
                ),
            ),
        ),
    ),
)
