"""obs's agent health dashboard: is every target reachable, how long collections take,
collection errors, and the agent's own memory and CPU."""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.dashboards.dashboard import ENV, Dashboard
from obs.dashboards.widgets import Group, Heatmap, Timeseries, Toplist
from obs.metric_query.tree import count, maximum, p95, query

_VARS = ("env",)

DASHBOARD = Dashboard(
    key="obs.agent",
    title="obs: Agent health",
    description="The obs agent sidecar: target reachability, collection time and errors, "
    "memory and CPU.",
    template_variables=(ENV,),
    widgets=(
        Group(
            "Targets",
            (
                Toplist(
                    "Targets up (1) or down (0)",
                    (
                        query(
                            catalog.AGENT_UP,
                            "min",
                            by=(attr.TARGET_TYPE, attr.TARGET),
                            variables=_VARS,
                        ),
                    ),
                    reduce="last",
                ),
                Timeseries(
                    "Collection time p95 by collector",
                    (
                        p95(
                            catalog.AGENT_COLLECTION_DURATION,
                            by=(attr.COLLECTOR,),
                            variables=_VARS,
                        ),
                    ),
                ),
                Heatmap(
                    "Collection time by collector",
                    (
                        query(
                            catalog.AGENT_COLLECTION_DURATION,
                            "avg",
                            by=(attr.COLLECTOR,),
                            variables=_VARS,
                        ),
                    ),
                ),
                Timeseries(
                    "Collection errors",
                    (
                        count(
                            catalog.AGENT_COLLECTION_ERRORS,
                            by=(attr.COLLECTOR, attr.TARGET),
                            variables=_VARS,
                        ),
                    ),
                    display="bars",
                ),
            ),
        ),
        Group(
            "Footprint",
            (
                Timeseries(
                    "Resident memory", (maximum(catalog.AGENT_MEMORY_RSS, variables=_VARS),)
                ),
                Timeseries(
                    "CPU (fraction of one core)",
                    (maximum(catalog.AGENT_CPU_UTILIZATION, variables=_VARS),),
                ),
            ),
        ),
    ),
)
