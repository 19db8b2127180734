"""Queue worker metrics: ``obs.job`` for any job system, and a real ``bullmq`` Worker."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
from bullmq import Queue, Worker

import obs
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver, Point
from support.servers import MongoServer, RedisServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]


def by_outcome(points: list[Point], queue: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in points:
        if p.attributes["messaging.destination.name"] == queue:
            key = p.attributes["obs.job.outcome"]
            out[key] = out.get(key, 0) + (p.count or 0)
    return out


def test_context_manager_records_duration_outcome_wait_and_attempt(
    start_obs: StartObs, otlp: GrpcReceiver
) -> None:
    start_obs()
    with obs.job("reports", system="celery", enqueued_at=time.time() - 3.0, attempt=2):
        time.sleep(0.02)
    with pytest.raises(KeyError), obs.job("reports", system="celery"):
        raise KeyError("missing")
    assert obs.flush()

    durations = otlp.points("messaging.process.duration")
    assert by_outcome(durations, "reports") == {"completed": 1, "failed": 1}
    failed = next(p for p in durations if p.attributes["obs.job.outcome"] == "failed")
    assert failed.attributes["error.type"] == "KeyError"
    # Required by the messaging semantic conventions, on the duration and the consumer span.
    assert {p.attributes["messaging.operation.name"] for p in durations} == {"process"}
    completed = next(p for p in durations if p.attributes["obs.job.outcome"] == "completed")
    assert completed.sum is not None
    assert 0.02 <= completed.sum < 1.0
    assert completed.attributes["messaging.system"] == "celery"
    (wait,) = otlp.points("obs.job.wait_time")
    assert wait.count == 1
    assert wait.sum is not None
    assert 3.0 <= wait.sum < 4.0
    attempts = {p.attributes["obs.job.outcome"]: p.sum for p in otlp.points("obs.job.attempts")}
    assert attempts == {"completed": 2, "failed": 1}
    spans = otlp.spans("process reports")
    assert [s.kind for s in spans] == [5, 5]  # CONSUMER
    assert {s.attributes["messaging.operation.name"] for s in spans} == {"process"}
    assert sorted(s.status_code for s in spans) == [0, 2]  # unset, error
    assert "exception" in next(s for s in spans if s.status_code == 2).events


def test_decorator_measures_each_call_sync_and_async(
    start_obs: StartObs, otlp: GrpcReceiver
) -> None:
    start_obs()
    enqueued = datetime.now(UTC) - timedelta(seconds=1)

    @obs.job("emails", enqueued_at=enqueued)
    def send(to: str) -> str:
        return f"sent {to}"

    @obs.job("emails")
    async def send_async(to: str) -> str:
        await asyncio.sleep(0)
        return f"sent {to}"

    assert send("a") == "sent a"
    assert send("b") == "sent b"
    assert asyncio.run(send_async("c")) == "sent c"
    assert obs.flush()
    assert by_outcome(otlp.points("messaging.process.duration"), "emails") == {"completed": 3}
    assert sum(p.count or 0 for p in otlp.points("obs.job.wait_time")) == 2


def test_work_inside_a_job_is_a_child_of_its_span(start_obs: StartObs, otlp: GrpcReceiver) -> None:
    start_obs()
    from opentelemetry import trace

    with obs.job("exports"):
        trace.get_tracer("app").start_span("child").end()
    assert obs.flush()
    (parent,) = otlp.spans("process exports")
    (child,) = otlp.spans("child")
    assert child.parent_span_id == parent.span_id
    assert child.trace_id == parent.trace_id


def test_a_real_bullmq_worker_is_measured(
    start_obs: StartObs, otlp: GrpcReceiver, redis_server: RedisServer
) -> None:
    status = start_obs()
    assert "bullmq Worker instrumented" in status["jobs"].detail
    queue_name = "exports:csv"  # BullMQ allows ':' in names
    secret = secrets.token_hex(8)

    async def run() -> None:
        redis_server.client().flushall()
        queue = Queue(queue_name, {"connection": redis_server.url})
        for n in range(4):
            await queue.add("export", {"n": n, "fail": n == 3}, {"attempts": 2})

        async def process(job: object, token: str) -> str:
            if job.data["fail"]:  # type: ignore[attr-defined]
                message = f'E11000 duplicate key error dup key: {{ id: "{secret}" }}'
                raise pymongo.errors.DuplicateKeyError(message, 11000)
            return "ok"

        worker = Worker(queue_name, process, {"connection": redis_server.url})
        try:
            for _ in range(150):
                await asyncio.sleep(0.1)
                counts = await queue.getJobCounts("completed", "failed")
                if counts == {"completed": 3, "failed": 1}:
                    break
            assert counts == {"completed": 3, "failed": 1}
        finally:
            await worker.close()
            await queue.close()

    asyncio.run(run())
    assert obs.flush()
    durations = otlp.points("messaging.process.duration")
    assert {p.attributes["messaging.system"] for p in durations} == {"bullmq"}
    # 3 completed on the first try; the failing job ran twice (attempts: 2)
    assert by_outcome(durations, queue_name) == {"completed": 3, "failed": 2}
    failed = [p for p in durations if p.attributes["obs.job.outcome"] == "failed"]
    assert {p.attributes["error.type"] for p in failed} == {"DuplicateKeyError"}
    assert secret.encode() not in otlp.exported()  # the exception's message is scrubbed
    attempts = [
        p for p in otlp.points("obs.job.attempts") if p.attributes["obs.job.outcome"] == "failed"
    ]
    assert sum(p.sum or 0 for p in attempts) == 1 + 2  # first and second attempt
    waits = otlp.points("obs.job.wait_time")
    assert sum(p.count or 0 for p in waits) == 5
    assert all(p.sum is not None and p.sum < 60 for p in waits)


def test_obs_job_is_a_no_op_before_init() -> None:
    with obs.job("q"):
        pass

    @obs.job("q")
    def f() -> int:
        return 1

    assert f() == 1


class Values:
    """Values held without showing them (see test_sentry.Values)."""

    def __init__(self) -> None:
        self.taken = f"taken-{secrets.token_hex(6)}@example.com"
        self.other = f"other-{secrets.token_hex(6)}"

    def __repr__(self) -> str:
        return "<values>"


def _duplicate(users: Any, v: Values) -> None:
    users.insert_many([{"email": v.taken, "note": v.other}])


@pytest.mark.parametrize("detail", ["scrubbed", "type"])
def test_a_failing_job_exports_no_value_of_its_error(
    start_obs: StartObs, otlp: GrpcReceiver, mongo: MongoServer, detail: str
) -> None:
    start_obs(exception_detail=detail)
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    users = client.job_errors.users
    users.drop()
    users.create_index("email", unique=True)
    v = Values()
    users.insert_one({"email": v.taken})
    with pytest.raises(pymongo.errors.BulkWriteError), obs.job("imports"):
        _duplicate(users, v)
    with pytest.raises(pymongo.errors.DuplicateKeyError), obs.job("imports"):
        users.insert_one({"email": v.taken, "note": v.other})
    client.close()
    assert obs.flush()
    exported = otlp.exported()
    for secret in (v.taken, v.other):
        assert secret.encode() not in exported
    spans = otlp.spans("process imports")
    events = [e for s in spans for e in s.event_attributes]
    assert [e["exception.type"] for e in events] == [
        "pymongo.errors.BulkWriteError",
        "pymongo.errors.DuplicateKeyError",
    ]
    if detail == "type":
        assert all(set(e) == {"exception.type"} for e in events)
    else:
        assert events[1]["exception.message"].startswith("E11000 duplicate key error")
        assert "_duplicate(users, v)" in events[0]["exception.stacktrace"]


def test_exceptions_other_instrumentations_record_are_scrubbed(
    start_obs: StartObs, otlp: GrpcReceiver
) -> None:
    from opentelemetry import trace

    start_obs()
    secret = secrets.token_hex(8)
    tracer = trace.get_tracer("some.instrumentation")
    with pytest.raises(pymongo.errors.DuplicateKeyError), tracer.start_as_current_span("handler"):
        raise pymongo.errors.DuplicateKeyError(
            f'E11000 duplicate key error dup key: {{ email: "{secret}" }}',
            11000,
            {"errmsg": "E11000", "keyValue": {"email": secret}},
        )
    assert obs.flush()
    assert secret.encode() not in otlp.exported()
    (span,) = otlp.spans("handler")
    (event,) = span.event_attributes
    assert event["exception.type"] == "pymongo.errors.DuplicateKeyError"
    assert span.status_message.startswith("DuplicateKeyError: E11000 duplicate key error")
