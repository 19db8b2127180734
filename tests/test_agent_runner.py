"""The running agent: a Redis killed and restarted mid-run, a Mongo that is not there, the
up gauge, backoff, one log line per state change, /metrics, /healthz, /readyz and OTLP."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from obs import catalog
from obs.agent.app import Agent
from obs.agent.config import Collector, Schedule, load
from obs.agent.otlp import otlp_exporter
from obs.agent.otlp_settings import OtlpSettings
from obs.agent.points import Collected
from obs.agent.schedule import Job, JobState, Runner, backoff
from obs.agent.store import Store
from obs.lifecycle.providers import Resource
from support.bullmq_states import Layout, make_queue, run
from support.otlp_receiver import GrpcReceiver
from support.servers import RedisServer, free_port
from support.waiting import wait_for

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

PASSWORD = "s3cret-pw"


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


DOWN_FOR = 1.5  # seconds the queue Redis stays down


def most_attempts(window: float, failures: int, interval: float, cap: float) -> int:
    """The most attempts a job that had failed ``failures`` times can make in ``window``
    seconds when each retry waits at least ``backoff()`` after the attempt before it."""
    attempts, spent = 1, 0.0  # the first may come right away (its wait began earlier)
    while True:
        spent += backoff(interval, failures + attempts, cap)
        if spent > window:
            return attempts
        attempts += 1


def test_most_attempts_follows_the_backoff_schedule() -> None:
    assert most_attempts(1.5, 1, interval=0.2, cap=0.8) == 3  # waits of 0.4 and 0.8
    assert most_attempts(1.5, 5, interval=0.2, cap=0.8) == 2  # capped at 0.8


@pytest.fixture
def queue_redis() -> Iterator[RedisServer]:
    server = RedisServer(extra=("--requirepass", PASSWORD)).start()
    yield server
    server.remove()


def url(server: RedisServer) -> str:
    return server.url.replace("redis://", f"redis://:{PASSWORD}@")


@pytest.fixture
def agent(queue_redis: RedisServer, otlp: GrpcReceiver) -> Iterator[Agent]:
    run(make_queue(url(queue_redis), "mail:eu", layout=Layout(flows=0)))
    dead_mongo = f"mongodb://app:{PASSWORD}@127.0.0.1:{free_port()}/?directConnection=true"
    config = load(
        flags={
            "redis": [url(queue_redis)],
            "mongo": [dead_mongo],
            "listen": f"127.0.0.1:{free_port()}",
        },
        environ={
            "OBS_AGENT_REDIS_INFO__INTERVAL": "0.2",
            "OBS_AGENT_BULLMQ__INTERVAL": "0.2",
            "OBS_AGENT_BULLMQ__TIMEOUT": "1",
            "OBS_AGENT_MONGO_STATUS__TIMEOUT": "0.5",
            "OBS_AGENT_MONGO_CURRENTOP__TIMEOUT": "0.5",
            "OBS_AGENT_MONGO_PROFILE__TIMEOUT": "0.5",
            "OBS_AGENT_MONGO_STATS__TIMEOUT": "0.5",
            "OBS_AGENT_BACKOFF_MAX": "0.8",
            "OBS_AGENT_EXPORT_INTERVAL": "0.3",
        },
    )
    exporter = otlp_exporter(
        OtlpSettings(endpoint=otlp.endpoint, protocol="grpc")
    )  # what obs agent runs
    running = Agent(config, Resource.create({}), otlp=exporter)
    running.start()
    yield running
    running.stop()


def up(agent: Agent) -> dict[str, float]:
    return {
        dict(labels)["obs.target.type"]: value
        for labels, value in agent.store.readings(catalog.AGENT_UP)
    }


def queue_jobs(agent: Agent) -> dict[str, float]:
    return {
        dict(labels)["bullmq.queue.jobs.state"]: value
        for labels, value in agent.store.readings(catalog.BULLMQ_QUEUE_JOBS)
    }


def test_a_redis_killed_and_restarted_mid_run(
    agent: Agent, queue_redis: RedisServer, otlp: GrpcReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="obs.agent")
    assert agent.endpoints is not None
    port = agent.endpoints.port
    assert wait_for(lambda: up(agent).get("redis") == 1)
    assert wait_for(lambda: queue_jobs(agent).get("wait") == 3)
    assert wait_for(lambda: up(agent).get("mongodb") == 0)  # the dead Mongo costs only itself
    status, body = get(port, "/readyz")
    assert status == 503
    assert json.loads(body)["waiting_for"] == [agent.config.mongo[0].label]
    assert get(port, "/healthz") == (200, "ok\n")
    series = agent.store.series_count()

    queue_redis.stop()
    assert wait_for(lambda: up(agent).get("redis") == 0)
    assert queue_jobs(agent) == {}  # stale queue depths are withdrawn, not repeated
    bullmq_state = agent.runner.states[f"bullmq@{agent.config.redis[0].label}"]
    failed_before = bullmq_state.failing_for
    time.sleep(DOWN_FOR)  # several failed attempts, with backoff
    attempts = bullmq_state.failing_for - failed_before

    queue_redis.start()  # empty: this test server keeps nothing on disk
    assert wait_for(lambda: up(agent).get("redis") == 1)
    run(make_queue(url(queue_redis), "mail:eu", layout=Layout(flows=0)))
    assert wait_for(lambda: queue_jobs(agent).get("wait") == 3)
    assert agent.store.series_count() == series  # memory does not grow with failures

    bullmq_log = [r.getMessage() for r in caplog.records if "bullmq of" in r.getMessage()]
    failing = [m for m in bullmq_log if " failed: " in m]
    recovered = [m for m in bullmq_log if " recovered " in m]
    assert len(failing) == 1, failing  # one line per state change, not per attempt
    assert len(recovered) == 1
    # Retried, but no more often than backoff() allows: 0.2, 0.4, 0.8, 0.8 ... s apart
    # (at most 3 attempts in 1.5 s from the first failure; 8 without any backoff).
    assert 1 <= attempts <= most_attempts(DOWN_FOR, failed_before, interval=0.2, cap=0.8)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in logs

    prometheus = get(port, "/metrics")[1]
    assert "bullmq_queue_jobs{" in prometheus
    assert 'bullmq_queue_name="mail:eu"' in prometheus
    assert "obs_agent_up{" in prometheus
    assert PASSWORD not in prometheus

    def exported_up() -> set[float]:
        return {
            p.value
            for p in otlp.points("obs.agent.up")
            if p.attributes["obs.target.type"] == "redis"
        }

    assert wait_for(lambda: exported_up() >= {0.0, 1.0})  # both states reached the receiver
    assert wait_for(lambda: otlp.points("bullmq.queue.jobs"))


def test_ready_once_every_target_answered(queue_redis: RedisServer) -> None:
    config = load(
        flags={"redis": [url(queue_redis)], "listen": f"127.0.0.1:{free_port()}"},
        environ={"OTEL_METRICS_EXPORTER": "none"},
    )
    agent = Agent(config, Resource.create({}))
    agent.start()
    try:
        assert agent.endpoints is not None
        assert wait_for(lambda: get(agent.endpoints.port, "/readyz")[0] == 200)  # type: ignore[union-attr]
    finally:
        agent.stop()


def test_a_refused_command_is_an_error_but_not_down(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def collect() -> Collected:
        calls.append(1)
        raise ValueError("unexpected reply")

    job = Job(Collector.BULLMQ, "redis://q:6379", "redis", collect, Schedule(0.01, 1))
    store = Store()
    runner = Runner([job], store, observe=lambda points: None)
    for _ in range(3):
        assert runner.run_once(job) == "ValueError: unexpected reply"
    assert dict(store.readings(catalog.AGENT_UP)) == {
        (("obs.target", "redis://q:6379"), ("obs.target.type", "redis")): 1.0
    }
    errors = store.readings(catalog.AGENT_COLLECTION_ERRORS)
    assert [value for _, value in errors] == [3.0]
    assert len([r for r in caplog.records if " failed: " in r.getMessage()]) == 1


def test_backoff_never_overflows() -> None:
    assert backoff(15, 1025, 300) == 300  # about 3.5 days of failures at the defaults
    assert backoff(15, 10**9, 300) == 300
    assert backoff(0.001, 5000, 0.05) == 0.05


def _down_then_up() -> tuple[Job, list[bool]]:
    """A job whose target refuses connections until ``up[0]`` is set."""
    up = [False]

    def collect() -> Collected:
        if not up[0]:
            raise ConnectionRefusedError("refused")
        return Collected()

    return Job(Collector.BULLMQ, "redis://q:6379", "redis", collect, Schedule(0.001, 1)), up


def test_a_target_down_past_the_longest_backoff_is_still_watched() -> None:
    job, up = _down_then_up()
    runner = Runner([job], Store(), observe=lambda points: None, backoff_max=0.002)
    runner.states[job.key].failing_for = 1020  # days of failures at the default schedule
    runner.start()
    try:
        assert wait_for(lambda: runner.states[job.key].failing_for > 1100)
        assert runner.dead() == []
        up[0] = True
        assert wait_for(lambda: runner.states[job.key].failing_for == 0)
        assert runner.states[job.key].successes > 0
    finally:
        runner.stop()


def test_a_failure_of_the_agent_itself_is_counted_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def collect() -> Collected:
        calls.append(1)
        return Collected()

    def observe(points: object) -> None:
        raise RuntimeError("exporter bug")

    job = Job(Collector.BULLMQ, "redis://q:6379", "redis", collect, Schedule(0.01, 1))
    runner = Runner([job], Store(), observe=observe)
    runner.start()
    try:
        assert wait_for(lambda: len(calls) >= 5)
        assert runner.dead() == []
        assert runner.states[job.key].errors >= 4
    finally:
        runner.stop()
    logged = [r for r in caplog.records if "the agent failed around a collection" in r.getMessage()]
    assert len(logged) == 1


def test_healthz_fails_when_a_collector_thread_is_gone(queue_redis: RedisServer) -> None:
    config = load(
        flags={"redis": [url(queue_redis)], "listen": f"127.0.0.1:{free_port()}"},
        environ={"OTEL_METRICS_EXPORTER": "none"},
    )
    agent = Agent(config, Resource.create({}))

    def vanish() -> Collected:
        raise SystemExit  # what no collection may do; the thread carries on all the same

    survivor = Job(Collector.PROCESS, "", None, vanish, Schedule(0.01, 1))
    agent.runner.jobs.append(survivor)
    agent.runner.states[survivor.key] = JobState()
    agent.start()
    try:
        assert agent.endpoints is not None
        port = agent.endpoints.port
        assert wait_for(lambda: agent.runner.states[survivor.key].errors >= 3)
        assert get(port, "/healthz") == (200, "ok\n")
        # Whatever still ends a thread (the interpreter's own failures), /healthz says so.
        gone = threading.Thread(target=lambda: None, name="bullmq@redis://gone")
        gone.start()
        gone.join()
        agent.runner._threads.append(gone)
        assert get(port, "/healthz")[0] == 503
        assert json.loads(get(port, "/healthz")[1]) == {
            "healthy": False,
            "threads_gone": ["bullmq@redis://gone"],
        }
    finally:
        agent.stop()
