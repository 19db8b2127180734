"""Service level objectives as typed Python values, and the SLOs obs ships.

    from obs import catalog
    from obs.catalog import attr
    from obs.slos import SLO, Ratio, count

    _JOBS = catalog.MESSAGING_PROCESS_DURATION
    EXPORTS_SUCCEED = SLO(
        key="orders.exports.success",
        name="Orders: exports succeed",
        sli=Ratio(
            good=count(_JOBS, where={attr.MESSAGING_DESTINATION_NAME: "exports",
                                    attr.JOB_OUTCOME: "completed"}),
            total=count(_JOBS, where={attr.MESSAGING_DESTINATION_NAME: "exports"}),
        ),
        targets={"30d": 99.5},
    )

``obs provision`` turns each into a Datadog SLO and its burn-rate alerts (page and ticket,
:mod:`obs.slos.burn`), ``obs preview`` shows its status and error budget over local data,
and ``obs slo check`` gates a load test on it. obs's own SLOs live in
:mod:`obs.slos.shipped`; the query helpers are those of :mod:`obs.metric_query.tree`.
"""

from obs.metric_query.tree import (
    Query,
    Tag,
    avg,
    call,
    count,
    maximum,
    p50,
    p95,
    p99,
    query,
    rate,
    total,
)
from obs.slos.burn import PAGE, TICKET, BurnRate
from obs.slos.slo import SLO, WINDOWS, Ratio, TimeSlice, Window

__all__ = [
    "PAGE",
    "SLO",
    "TICKET",
    "WINDOWS",
    "BurnRate",
    "Query",
    "Ratio",
    "Tag",
    "TimeSlice",
    "Window",
    "avg",
    "call",
    "count",
    "maximum",
    "p50",
    "p95",
    "p99",
    "query",
    "rate",
    "total",
]
