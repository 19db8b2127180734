"""What to scale a queue's workers on, as queries of catalog metrics.

Two signals per queue, identified by its prefix and name:

- **backlog**: jobs a worker could take now, the queue's ``wait`` and ``prioritized``
  jobs. Not ``delayed`` (not due yet: more workers cannot start them sooner), ``paused``,
  ``waiting-children`` (blocked on other jobs) nor ``active`` (already taken). Scaled on
  per worker (AverageValue).
- **oldest waiting age**: how long the oldest job of ``wait`` has waited, seconds.
  Scaled on as a whole (Value).

Both are 0 while the queue is paused: no worker may take its jobs then, and BullMQ 5
leaves them in ``wait`` (older versions moved them to ``paused``) while its prioritized
jobs stay where they are.

Every agent that reads a queue reports it (a sidecar per service pod reads the same
Redis), so each state is taken once, as the largest of the agents' readings, before the
states are added: a sum over agents would grow the backlog with the worker count.

Example:
    >>> queue = Queue("bull", "exports")
    >>> print(backlog_promql(queue))  # doctest: +ELLIPSIS
    sum(max by (bullmq_queue_jobs_state) (bullmq_queue_jobs{...})) * (1 - max(...))
    >>> print(oldest_age_datadog(queue))  # doctest: +ELLIPSIS
    max:obs.bullmq.queue.oldest_waiting.age{bullmq.queue.prefix:bull,...} * (1 - max:...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from obs import catalog
from obs.autoscale.escaping import datadog_tag_value, promql_string
from obs.catalog import Kind, Metric, attr
from obs.export.prometheus_text import prometheus_label, prometheus_name
from obs.metric_query.tree import Expr, maximum

BACKLOG_STATES = ("wait", "prioritized")  # values of bullmq.queue.jobs.state


@dataclass(frozen=True)
class Queue:
    """A BullMQ queue as the agent reports it: its key prefix and its name."""

    prefix: str
    name: str

    def attributes(self) -> dict[str, str]:
        return {attr.QUEUE_PREFIX: self.prefix, attr.QUEUE_NAME: self.name}


def promql_selector(metric: Metric, equal: Mapping[str, str], matching: Mapping[str, str]) -> str:
    """``metric``'s series on the agent's /metrics whose attributes equal ``equal`` and
    match the regular expressions ``matching`` (attribute keys of the catalog).

    Example:
        >>> promql_selector(catalog.BULLMQ_QUEUE_PAUSED, {attr.QUEUE_NAME: 'a"b'}, {})
        'obs_bullmq_queue_paused{bullmq_queue_name="a\\\\"b"}'
    """
    keys = [*equal, *matching]
    if not metric.allows(keys):
        raise ValueError(f"{metric.name} has no attribute among {keys}")
    name = prometheus_name(metric.name, metric.unit, counter=metric.kind is Kind.COUNTER)
    matchers = [f"{prometheus_label(k)}={promql_string(v)}" for k, v in equal.items()]
    matchers += [f"{prometheus_label(k)}=~{promql_string(v)}" for k, v in matching.items()]
    return f"{name}{{{','.join(matchers)}}}"


def backlog_promql(queue: Queue) -> str:
    """The queue's backlog from Prometheus (which scrapes the agents' /metrics)."""
    jobs = promql_selector(
        catalog.BULLMQ_QUEUE_JOBS,
        queue.attributes(),
        {attr.QUEUE_STATE: "|".join(BACKLOG_STATES)},
    )
    state = prometheus_label(attr.QUEUE_STATE)
    return _unless_paused_promql(queue, f"sum(max by ({state}) ({jobs}))")


def oldest_age_promql(queue: Queue) -> str:
    """The age of the queue's oldest waiting job, seconds, from Prometheus."""
    age = promql_selector(catalog.BULLMQ_OLDEST_WAITING_AGE, queue.attributes(), {})
    return _unless_paused_promql(queue, f"max({age})")


def _unless_paused_promql(queue: Queue, signal: str) -> str:
    paused = promql_selector(catalog.BULLMQ_QUEUE_PAUSED, queue.attributes(), {})
    return f"{signal} * (1 - max({paused}))"


def _datadog_where(queue: Queue) -> dict[str, str]:
    return {key: datadog_tag_value(key, value) for key, value in queue.attributes().items()}


def backlog_datadog(queue: Queue) -> str:
    """The queue's backlog as a Datadog metric query (one series).

    Example:
        >>> print(backlog_datadog(Queue("{jobs}", "exports")))  # doctest: +ELLIPSIS
        (max:bullmq.queue.jobs{...:_jobs,...:wait} + max:...) * (1 - max:obs.bullmq...)
    """
    where = _datadog_where(queue)
    per_state: list[Expr] = [
        maximum(catalog.BULLMQ_QUEUE_JOBS, where={**where, attr.QUEUE_STATE: state})
        for state in BACKLOG_STATES
    ]
    total = per_state[0]
    for expr in per_state[1:]:
        total = total + expr
    return _unless_paused_datadog(where, total)


def oldest_age_datadog(queue: Queue) -> str:
    """The age of the queue's oldest waiting job, seconds, as a Datadog metric query."""
    where = _datadog_where(queue)
    return _unless_paused_datadog(where, maximum(catalog.BULLMQ_OLDEST_WAITING_AGE, where=where))


def _unless_paused_datadog(where: dict[str, str], signal: Expr) -> str:
    return (signal * (1 - maximum(catalog.BULLMQ_QUEUE_PAUSED, where=where))).text()
