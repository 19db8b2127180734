"""obs's BullMQ queues dashboard: depth by state per queue, oldest waiting job, completed and
failed rates, paused queues (from the obs agent), and job timings from workers."""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.dashboards.dashboard import ENV, Dashboard, TemplateVariable
from obs.dashboards.widgets import Formula, Group, QueryValue, Timeseries, Toplist
from obs.metric_query.tree import count, maximum, p95, rate, total

QUEUE = TemplateVariable("queue", attr.QUEUE_NAME)
_AGENT = ("env", "queue")
_BY_QUEUE = (attr.QUEUE_NAME,)
_COMPLETED = rate(catalog.BULLMQ_JOBS_COMPLETED, variables=_AGENT)
_FAILED = rate(catalog.BULLMQ_JOBS_FAILED, variables=_AGENT)

DASHBOARD = Dashboard(
    key="obs.queues",
    title="obs: BullMQ queues",
    description="Queue depth by state, the oldest waiting job, throughput and failures of "
    "every BullMQ queue the obs agent reads.",
    template_variables=(ENV, QUEUE),
    widgets=(
        Group(
            "Depth",
            (
                Timeseries(
                    "Jobs by queue and state",
                    (
                        total(
                            catalog.BULLMQ_QUEUE_JOBS,
                            by=(attr.QUEUE_NAME, attr.QUEUE_STATE),
                            variables=_AGENT,
                        ),
                    ),
                    display="area",
                ),
                Toplist(
                    "Waiting jobs per queue",
                    (
                        Formula(
                            total(
                                catalog.BULLMQ_QUEUE_JOBS,
                                where={attr.QUEUE_STATE: "wait"},
                                by=_BY_QUEUE,
                                variables=_AGENT,
                            ),
                            limit=20,
                        ),
                    ),
                    reduce="last",
                ),
                Timeseries(
                    "Oldest waiting job age",
                    (maximum(catalog.BULLMQ_OLDEST_WAITING_AGE, by=_BY_QUEUE, variables=_AGENT),),
                ),
                Timeseries(
                    "Paused queues",
                    (maximum(catalog.BULLMQ_QUEUE_PAUSED, by=_BY_QUEUE, variables=_AGENT),),
                    display="bars",
                ),
            ),
        ),
        Group(
            "Throughput",
            (
                Timeseries(
                    "Completed jobs per second",
                    (rate(catalog.BULLMQ_JOBS_COMPLETED, by=_BY_QUEUE, variables=_AGENT),),
                ),
                Timeseries(
                    "Failed jobs per second",
                    (rate(catalog.BULLMQ_JOBS_FAILED, by=_BY_QUEUE, variables=_AGENT),),
                    display="bars",
                ),
                QueryValue(
                    "Failed share of finished jobs",
                    (Formula(_FAILED / (_COMPLETED + _FAILED), alias="failed"),),
                    precision=3,
                ),
            ),
        ),
        Group(
            "Workers (in-process)",
            (
                Timeseries(
                    "Processing time p95 by queue",
                    (
                        p95(
                            catalog.MESSAGING_PROCESS_DURATION,
                            by=(attr.MESSAGING_DESTINATION_NAME,),
                            variables=("env",),
                        ),
                    ),
                ),
                Timeseries(
                    "Time waiting in the queue p95",
                    (
                        p95(
                            catalog.JOB_WAIT_TIME,
                            by=(attr.MESSAGING_DESTINATION_NAME,),
                            variables=("env",),
                        ),
                    ),
                ),
                Timeseries(
                    "Jobs processed by outcome",
                    (
                        count(
                            catalog.MESSAGING_PROCESS_DURATION,
                            by=(attr.JOB_OUTCOME,),
                            variables=("env",),
                        ),
                    ),
                    display="bars",
                ),
            ),
        ),
    ),
)
