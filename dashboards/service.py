"""obs's service overview: one screen per service with the numbers that matter most."""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.dashboards.dashboard import ENV, SERVICE, Dashboard
from obs.dashboards.widgets import Formula, Group, QueryValue, Timeseries
from obs.metric_query.tree import call, count, p95

_VARS = ("env", "service")
_DURATION = catalog.DB_CLIENT_OPERATION_DURATION
_JOBS = catalog.MESSAGING_PROCESS_DURATION

DASHBOARD = Dashboard(
    key="obs.service",
    title="obs: Service overview",
    description="Mongo latency and errors, cache hit ratio, jobs and obs's own health for "
    "the chosen service.",
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
                Timeseries(
                    "Pool wait p95",
                    (p95(catalog.DB_CLIENT_CONNECTION_WAIT_TIME, variables=_VARS),),
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
    ),
)
