"""obs's service overview: one screen per service with the numbers that matter most."""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.dashboards.dashboard import ENV, SERVICE, Dashboard
from obs.dashboards.widgets import Formula, Group, QueryValue, Timeseries, Toplist
from obs.metric_query.tree import avg, call, count, maximum, p95

_VARS = ("env", "service")
_DURATION = catalog.DB_CLIENT_OPERATION_DURATION
_JOBS = catalog.MESSAGING_PROCESS_DURATION
_GUARD = (attr.GUARD_NAME,)
_GUARDED = catalog.GUARD_REQUESTS

DASHBOARD = Dashboard(
    key="obs.service",
    title="obs: Service overview",
    description="Mongo latency and errors, cache hit ratio, jobs, obs.guard's limits, "
    "breakers and shedding, and obs's own health for the chosen service.",
    template_variables=(ENV, SERVICE),
    widgets=(
        Group(
            "At a glance",
            (
                QueryValue("Mongo p95", (p95(_DURATION, variables=_VARS),), unit="s"),
                QueryValue(
                    "Mongo error ratio",
                    (
                        call(
                            "default_zero",
                            count(_DURATION, where={attr.ERROR_TYPE: "*"}, variables=_VARS),
                        )
                        / count(_DURATION, variables=_VARS),
                    ),
                    precision=4,
                ),
                QueryValue(
                    "Cache hit ratio",
                    (
                        count(
                            catalog.CACHE_REQUESTS,
                            where={attr.CACHE_RESULT: "hit"},
                            variables=_VARS,
                        )
                        / count(catalog.CACHE_REQUESTS, variables=_VARS),
                    ),
                    precision=3,
                ),
                QueryValue("Job p95", (p95(_JOBS, variables=_VARS),), unit="s"),
            ),
        ),
        Group(
            "Trends",
            (
                Timeseries(
                    "Mongo p95 by collection",
                    (p95(_DURATION, by=(attr.DB_COLLECTION_NAME,), variables=_VARS),),
                ),
                Timeseries(
                    "Jobs by outcome",
                    (count(_JOBS, by=(attr.JOB_OUTCOME,), variables=_VARS),),
                    display="bars",
                ),
                # Pending checkouts rather than the checkout wait time: the wait time needs
                # OBS_MONGO_POOL_TIMINGS (pool events per command), pending checkouts don't.
                Timeseries(
                    "Checkouts waiting for a connection",
                    (maximum(catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS, variables=_VARS),),
                ),
                Timeseries(
                    "obs instrumentation errors (swallowed)",
                    (
                        Formula(
                            count(
                                catalog.INSTRUMENTATION_ERRORS,
                                by=(attr.FEATURE,),
                                variables=_VARS,
                            ),
                            alias="errors",
                        ),
                    ),
                    display="bars",
                ),
            ),
        ),
        Group(
            "Protection",
            (
                QueryValue(
                    "Refused share of guarded calls",
                    (
                        call(
                            "default_zero",
                            count(_GUARDED, where={attr.GUARD_REASON: "*"}, variables=_VARS),
                        )
                        / count(_GUARDED, variables=_VARS),
                    ),
                    precision=3,
                ),
                Timeseries(
                    "Concurrency limit vs. in flight",
                    (
                        Formula(avg(catalog.GUARD_LIMIT, by=_GUARD, variables=_VARS), "limit"),
                        Formula(
                            avg(catalog.GUARD_IN_FLIGHT, by=_GUARD, variables=_VARS), "in flight"
                        ),
                    ),
                ),
                Timeseries(
                    "Guarded calls by outcome",
                    (count(_GUARDED, by=(attr.GUARD_OUTCOME,), variables=_VARS),),
                    display="bars",
                ),
                Timeseries(
                    "Refused by reason and priority",
                    (
                        count(
                            _GUARDED,
                            where={attr.GUARD_REASON: "*"},
                            by=(attr.GUARD_REASON, attr.GUARD_PRIORITY),
                            variables=_VARS,
                        ),
                    ),
                    display="bars",
                ),
                Timeseries(
                    "Breaker state (0 closed, 1 half-open, 2 open)",
                    (maximum(catalog.GUARD_BREAKER_STATE, by=_GUARD, variables=_VARS),),
                ),
                Toplist(
                    "Most throttled clients (hashed)",
                    (
                        count(
                            catalog.GUARD_CLIENT_REJECTIONS,
                            by=(attr.GUARD_CLIENT,),
                            variables=_VARS,
                        ),
                    ),
                ),
            ),
        ),
    ),
)
