"""Datadog dashboards as typed Python values, and the dashboards obs ships.

Write a dashboard from catalog metrics and ``obs provision`` validates, diffs and applies it:

    from obs import catalog
    from obs.catalog import attr
    from obs.dashboards import ENV, Dashboard, Timeseries, p95

    LATENCY = Dashboard(
        key="orders.latency",
        title="Orders: Mongo latency",
        template_variables=(ENV,),
        widgets=(
            Timeseries("p95 by collection", (
                p95(catalog.DB_CLIENT_OPERATION_DURATION, by=(attr.DB_COLLECTION_NAME,),
                    variables=("env",)),
            )),
        ),
    )

obs's own dashboards live in :mod:`obs.dashboards.shipped`.
"""

from obs.dashboards.dashboard import ENV, SERVICE, Dashboard, TemplateVariable
from obs.dashboards.widgets import (
    Axis,
    Distribution,
    Formula,
    Group,
    Heatmap,
    Layout,
    Marker,
    Note,
    QueryValue,
    Timeseries,
    Toplist,
    Widget,
)
from obs.metric_query.tree import (
    BinOp,
    Call,
    Expr,
    Number,
    Query,
    Quoted,
    Rollup,
    Tag,
    Var,
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

__all__ = [
    "ENV",
    "SERVICE",
    "Axis",
    "BinOp",
    "Call",
    "Dashboard",
    "Distribution",
    "Expr",
    "Formula",
    "Group",
    "Heatmap",
    "Layout",
    "Marker",
    "Note",
    "Number",
    "Query",
    "QueryValue",
    "Quoted",
    "Rollup",
    "Tag",
    "TemplateVariable",
    "Timeseries",
    "Toplist",
    "Var",
    "Widget",
    "avg",
    "call",
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
