"""Real BullMQ queues in every state, made with the `bullmq` package (test-only).

``make_queue`` leaves a queue with jobs waiting, prioritized, delayed, active (fetched by
a worker that never finishes them), completed, failed (worker metrics on, so the
``metrics:*`` hashes exist), waiting for children (a flow), and optionally paused.

``url`` is a Redis URL, or the agent's ``redis+cluster://`` URL of a Redis Cluster (the
`bullmq` package takes a redis-py cluster client there; its FlowProducer cannot run on a
cluster, so cluster queues need ``flows=0``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Layout:
    """How many jobs to put in each state."""

    wait: int = 3
    prioritized: int = 2
    delayed: int = 2
    active: int = 1
    completed: int = 2
    failed: int = 1
    flows: int = 1  # parents left waiting for their children (each adds one child in wait)
    paused: bool = False


def options(url: str, prefix: str) -> dict[str, Any]:
    """BullMQ's connection options for ``url``: a new cluster client for each BullMQ object
    of a cluster (closing the object closes its client)."""
    if url.startswith("redis+cluster://"):
        from redis.asyncio.cluster import RedisCluster

        seed = "redis://" + url.removeprefix("redis+cluster://")
        return {"connection": RedisCluster.from_url(seed, decode_responses=True), "prefix": prefix}
    return {"connection": url, "prefix": prefix}


async def make_queue(url: str, name: str, prefix: str = "bull", layout: Layout = Layout()) -> None:
    from bullmq import FlowProducer, Queue, Worker

    queue = Queue(name, options(url, prefix))
    try:
        # Jobs that a worker takes first and finishes (completed / failed / active).
        finishing = layout.completed + layout.failed + layout.active
        for i in range(finishing):
            await queue.add("work", {"i": i}, {"removeOnComplete": False, "removeOnFail": False})
        worker = Worker(
            name,
            _never_called,
            {**options(url, prefix), "autorun": False, "metrics": {"maxDataPoints": 10}},
        )
        try:
            for i in range(finishing):
                token = uuid.uuid4().hex
                job = await worker.getNextJob(token)
                assert job is not None, "the worker found no job"
                if i < layout.completed:
                    await job.moveToCompleted("ok", token, fetchNext=False)
                elif i < layout.completed + layout.failed:
                    await job.moveToFailed(Exception("boom"), token, fetchNext=False)
                # else: left active (its lock expires, but nothing moves it back here)
        finally:
            await worker.close(force=True)
        for i in range(layout.wait):
            await queue.add("work", {"i": i})
        for i in range(layout.prioritized):
            await queue.add("work", {"i": i}, {"priority": 5 + i})
        for i in range(layout.delayed):
            await queue.add("work", {"i": i}, {"delay": 3_600_000})
        if layout.flows:
            flows = FlowProducer(options(url, prefix))
            try:
                for i in range(layout.flows):
                    await flows.add(
                        {
                            "name": "parent",
                            "queueName": name,
                            "data": {"i": i},
                            "children": [{"name": "child", "queueName": name, "data": {}}],
                        }
                    )
            finally:
                await flows.close()
        if layout.paused:
            await queue.pause()
    finally:
        await queue.close()


async def _never_called(job: Any, token: str) -> None:
    raise AssertionError("jobs are moved by hand in these tests")


async def job_counts(url: str, name: str, prefix: str = "bull") -> dict[str, int]:
    """BullMQ's own ``Queue.getJobCounts()`` for every state the agent reports."""
    from bullmq import Queue

    queue = Queue(name, options(url, prefix))
    try:
        states = ("wait", "paused", "active", "prioritized", "delayed", "waiting-children")
        counts = await queue.getJobCounts(*states, "completed", "failed")
        return {k: int(v) for k, v in counts.items()}
    finally:
        await queue.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
