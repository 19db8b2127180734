"""The autoscaling queries, run on what real agents export for real BullMQ queues, give
each queue's backlog (as BullMQ itself counts it) and the age of its oldest waiting job:
the PromQL over two sidecar agents' /metrics, the Datadog query over their OTLP points
as Datadog stores their tags."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from obs import catalog
from obs.agent.app import Agent
from obs.agent.collectors.bullmq import STATES
from obs.agent.config import load
from obs.agent.otlp import otlp_exporter
from obs.agent.otlp_settings import OtlpSettings
from obs.autoscale.escaping import datadog_tag
from obs.autoscale.signals import (
    BACKLOG_STATES,
    Queue,
    backlog_datadog,
    backlog_promql,
    oldest_age_datadog,
    oldest_age_promql,
)
from obs.lifecycle.providers import Resource
from obs.metric_query.grammar import parse_expression
from obs.metric_query.tree import BinOp, Expr, Number, Query, Tag
from support.bullmq_states import Layout, job_counts, make_queue, run
from support.otlp_receiver import GrpcReceiver
from support.promql import Sample, evaluate, parse
from support.servers import RedisServer, free_port
from support.waiting import wait_for

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

QUEUES = [
    Queue("bull", "exports"),
    Queue("{jobs}", "reports:daily:EU"),  # ":" in the name, a hash-tag prefix, capitals
    Queue("bull", 'odd"name\\x'),  # a quote and a backslash in the name
    Queue("bull", "held"),  # paused: nothing a worker may take
]
LAYOUTS = [
    Layout(),
    Layout(wait=5, prioritized=1, flows=0),
    Layout(wait=2, prioritized=3, flows=0),
    Layout(paused=True),
]


@pytest.fixture
def agents(
    redis_server: RedisServer, redis_client: Any, otlp: GrpcReceiver
) -> Iterator[list[Agent]]:
    """Two agents reading the same Redis, as sidecars of two worker pods would."""
    for queue, layout in zip(QUEUES, LAYOUTS, strict=True):
        run(make_queue(redis_server.url, queue.name, queue.prefix, layout))
    started = []
    for index in range(2):
        config = load(
            flags={
                "redis": [redis_server.url],
                "bullmq_prefixes": ["bull", "{jobs}"],
                "listen": f"127.0.0.1:{free_port()}",
            },
            environ={"OBS_AGENT_BULLMQ__INTERVAL": "0.2", "OBS_AGENT_EXPORT_INTERVAL": "0.3"},
        )
        exporter = otlp_exporter(OtlpSettings(endpoint=otlp.endpoint, protocol="grpc"))
        agent = Agent(config, Resource.create({"service.instance.id": f"pod-{index}"}), exporter)
        agent.start()
        started.append(agent)
    expected = len(QUEUES) * len(STATES)
    for agent in started:
        assert wait_for(
            lambda a=agent: len(a.store.readings(catalog.BULLMQ_QUEUE_JOBS)) == expected
        )
    yield started
    for agent in started:
        agent.stop()


def scraped(agents: list[Agent]) -> list[Sample]:
    """Every sample of every agent's /metrics, labelled by instance as Prometheus does."""
    samples: list[Sample] = []
    for agent in agents:
        assert agent.endpoints is not None
        url = f"http://127.0.0.1:{agent.endpoints.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = {"__name__": sample.name, **sample.labels, "instance": url}
                samples.append((labels, sample.value))
    return samples


def backlog_by_bullmq(redis_server: RedisServer, queue: Queue) -> int:
    counts = run(job_counts(redis_server.url, queue.name, queue.prefix))
    return sum(counts[state] for state in BACKLOG_STATES)


def only_value(vector: list[Sample]) -> float:
    (sample,) = vector  # KEDA needs exactly one element
    return sample[1]


def test_the_promql_backlog_is_bullmqs_over_two_agents(
    agents: list[Agent], redis_server: RedisServer
) -> None:
    samples = scraped(agents)
    for queue in QUEUES:
        backlog = only_value(evaluate(parse(backlog_promql(queue)), samples))
        if queue.name == "held":
            assert backlog == 0  # paused, though it holds prioritized jobs
            assert run(job_counts(redis_server.url, queue.name, queue.prefix))["prioritized"]
        else:
            assert backlog == backlog_by_bullmq(redis_server, queue) > 0, queue
    # No series for a queue no agent reports: no value (KEDA then errs, the HPA holds).
    assert evaluate(parse(backlog_promql(Queue("bull", "absent"))), samples) == []


def oldest_age(redis_server: RedisServer, queue: Queue) -> float:
    client = redis_server.client(decode_responses=True)
    oldest = client.lindex(f"{queue.prefix}:{queue.name}:wait", -1)
    job = client.hgetall(f"{queue.prefix}:{queue.name}:{oldest}")
    return time.time() - (float(job["timestamp"]) + float(job.get("delay") or 0)) / 1000


def test_the_promql_oldest_age_is_the_oldest_waiting_jobs(
    agents: list[Agent], redis_server: RedisServer
) -> None:
    samples = scraped(agents)
    for queue in QUEUES:
        age = only_value(evaluate(parse(oldest_age_promql(queue)), samples))
        if queue.name == "held":
            assert age == 0
        else:
            # The agents read it at most a collection ago (and the test reads after).
            assert 0 < age <= oldest_age(redis_server, queue) < age + 30, queue


def datadog_value(expr: Expr, points: list[Any]) -> float:
    """``expr`` over OTLP points, their attributes stored as Datadog stores tags."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, BinOp):
        left, right = datadog_value(expr.left, points), datadog_value(expr.right, points)
        return {"+": left + right, "-": left - right, "*": left * right}[expr.op]
    assert isinstance(expr, Query)
    assert expr.aggregation == "max"
    wanted = {f"{f.key}:{f.value}" for f in expr.scope if isinstance(f, Tag)}
    values = [
        p.value
        for p in points
        if p.name == expr.metric.name
        and wanted <= {datadog_tag(f"{k}:{v}") for k, v in p.attributes.items()}
    ]
    assert values, f"no point matches {expr}"
    return max(values)


def test_the_datadog_queries_select_what_the_agents_send(
    agents: list[Agent], redis_server: RedisServer, otlp: GrpcReceiver
) -> None:
    names = {catalog.BULLMQ_QUEUE_JOBS.name, catalog.BULLMQ_QUEUE_PAUSED.name}

    def received() -> bool:
        sources = {p.resource.get("service.instance.id") for p in otlp.points() if p.name in names}
        return sources == {"pod-0", "pod-1"}

    assert wait_for(received)
    points = [p for p in otlp.points() if p.value is not None]
    for queue in QUEUES:
        backlog = datadog_value(
            parse_expression(backlog_datadog(queue), catalog.by_datadog_name), points
        )
        expected = 0 if queue.name == "held" else backlog_by_bullmq(redis_server, queue)
        assert backlog == expected, queue
        age = datadog_value(
            parse_expression(oldest_age_datadog(queue), catalog.by_datadog_name), points
        )
        assert (age == 0) == (queue.name == "held"), queue
