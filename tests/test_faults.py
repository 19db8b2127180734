"""The fault suite: the agent and a service run through refused, black-holed and flapping
endpoints, a target down for longer than the longest backoff, and Redis keys holding
anything at all. Whatever happens outside, the service's results do not change and its
request threads are not held, the agent keeps collecting and serving, and every failure is
counted and logged once. Kept short: backoffs and intervals are small, the OTLP timeout is
one second, and "days" of failures are made of thousands of fast refusals.

Timeouts of flush, shutdown and exit are promised and held in test_timeouts.py; here
OTEL_EXPORTER_OTLP_TIMEOUT=1 only keeps each test brief."""

from __future__ import annotations

import json
import logging
import math
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pymongo
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import obs
from obs import catalog
from obs.agent.app import Agent, _RedisCollect
from obs.agent.app import redis_client as agent_client
from obs.agent.collectors.bullmq import BullMQCollector
from obs.agent.collectors.redis_info import RedisInfoCollector
from obs.agent.config import Collector, Schedule, load
from obs.agent.otlp import otlp_exporter
from obs.agent.otlp_settings import OtlpSettings
from obs.agent.schedule import Job, Runner
from obs.agent.store import Store
from obs.catalog import attr
from obs.lifecycle.providers import Resource
from obs.runtime.status import Status
from support.bullmq_states import Layout, job_counts, make_queue, run
from support.otlp_receiver import GrpcReceiver
from support.servers import MongoServer, RedisServer, free_port
from support.waiting import wait_for

pytestmark = pytest.mark.servers  # starts servers, processes or a browser


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An endpoint that accepts connections and never answers (a firewall that drops)."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        yield f"http://127.0.0.1:{hole.getsockname()[1]}"


@pytest.fixture
def refused() -> str:
    return f"http://127.0.0.1:{free_port()}"


# --- the agent ---------------------------------------------------------------------------


def _agent(url: str, otlp: Any) -> Agent:
    config = load(
        flags={"redis": [url], "listen": f"127.0.0.1:{free_port()}"},
        environ={
            "OBS_AGENT_REDIS_INFO__INTERVAL": "0.1",
            "OBS_AGENT_BULLMQ__INTERVAL": "0.1",
            "OBS_AGENT_BULLMQ__TIMEOUT": "1",
            "OBS_AGENT_BACKOFF_MAX": "0.2",
            "OBS_AGENT_EXPORT_INTERVAL": "0.2",
        },
    )
    return Agent(config, Resource.create({}), otlp=otlp)


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("endpoint", ["refused", "black_hole"])
def test_the_agent_collects_and_serves_whatever_its_otlp_endpoint_does(
    endpoint: str,
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    caplog.set_level(logging.INFO, logger="obs.agent")
    run(make_queue(redis_server.url, "mail", layout=Layout(flows=0)))
    for protocol in ("grpc", "http/protobuf"):
        target = request.getfixturevalue(endpoint)
        exporter = otlp_exporter(OtlpSettings(endpoint=target, protocol=protocol))
        agent = _agent(redis_server.url, exporter)
        agent.start()
        try:
            assert agent.endpoints is not None
            port = agent.endpoints.port
            state = agent.runner.states[f"bullmq@{agent.config.redis[0].label}"]
            assert wait_for(lambda: state.successes >= 5, timeout=15)  # noqa: B023
            status, body = _get(port, "/metrics")
            assert status == 200
            assert b'bullmq_queue_name="mail"' in body
            assert _get(port, "/healthz")[0] == 200
            assert wait_for(lambda: agent.export_loop is not None and agent.export_loop.failing)  # noqa: B023
            assert agent.dead() == []
        finally:
            agent.stop(timeout=2)
    failed = [r for r in caplog.records if r.getMessage().startswith("OTLP export failed")]
    assert len(failed) == 2  # once per agent, not per attempt


def test_the_agent_exports_again_once_a_flapping_receiver_answers(
    otlp: GrpcReceiver,
    redis_server: RedisServer,
    redis_client: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    caplog.set_level(logging.INFO, logger="obs.agent")
    exporter = otlp_exporter(OtlpSettings(endpoint=otlp.endpoint, protocol="grpc"))
    agent = _agent(redis_server.url, exporter)
    agent.start()
    try:
        assert agent.export_loop is not None
        loop = agent.export_loop
        for _ in range(3):
            otlp.fail_with = 14  # UNAVAILABLE
            assert wait_for(lambda: loop.failing)
            otlp.fail_with = None
            otlp.clear()
            assert wait_for(lambda: not loop.failing and otlp.points("obs.agent.up"))
    finally:
        agent.stop(timeout=2)
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("OTLP export failed") for m in messages) == 3
    assert sum(m == "OTLP export recovered" for m in messages) == 3


def test_a_flapping_redis_is_picked_up_again_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="obs.agent")
    server = RedisServer().start()
    agent = _agent(server.url, None)
    agent.start()
    try:

        def up() -> float | None:
            readings = dict(agent.store.readings(catalog.AGENT_UP))
            return next(iter(readings.values()), None)

        assert wait_for(lambda: up() == 1)
        time.sleep(0.5)  # every collector has run
        series = agent.store.series_count()
        states = [s for key, s in agent.runner.states.items() if "redis://" in key]
        assert len(states) == 2  # redis_info and bullmq
        for _ in range(3):
            server.stop()
            assert wait_for(lambda: up() == 0 and all(s.failing_for for s in states))
            server.start()
            assert wait_for(lambda: up() == 1)
            # memory follows what the target holds, not how often it went away
            assert wait_for(lambda: agent.store.series_count() == series)
        assert agent.dead() == []
    finally:
        agent.stop(timeout=2)
        server.remove()
    for collector in ("redis_info", "bullmq"):
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(collector)]
        assert sum(" failed: " in line for line in lines) == 3, lines
        assert sum(" recovered " in line for line in lines) == 3, lines


def test_a_target_down_for_longer_than_the_longest_backoff_is_picked_up() -> None:
    """Thousands of real refused connections (each as a collection would make it), past
    the 1,025 failures that once overflowed the backoff, then the server comes."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    clients: list[Any] = []
    collect = _RedisCollect(url, 0.5, lambda c: RedisInfoCollector(c, {}).collect, clients)
    job = Job(Collector.REDIS_INFO, url, "redis", collect, Schedule(0.001, 0.5))
    runner = Runner([job], Store(), observe=lambda points: None, backoff_max=0.002)
    runner.start()
    server = RedisServer(port=port)
    try:
        state = runner.states[job.key]
        assert wait_for(lambda: state.failing_for > 1100, timeout=60)
        assert state.unreachable
        assert runner.dead() == []
        server.start()
        assert wait_for(lambda: state.failing_for == 0 and state.successes > 0)
    finally:
        runner.stop()
        for client in clients:
            client.close()
        server.remove()


_raw = st.binary(max_size=12)
_fuzzed_key = st.sampled_from(
    ["meta", "metrics:completed", "metrics:failed", "wait", "paused", "job"]
)


def test_any_bytes_in_a_queues_keys_cost_at_most_that_queue(
    redis_server: RedisServer, redis_client: Any
) -> None:
    run(make_queue(redis_server.url, "good", layout=Layout(flows=0)))
    expected = {state: float(n) for state, n in run(job_counts(redis_server.url, "good")).items()}
    raw = redis_server.client()
    collector = BullMQCollector(agent_client(redis_server.url, 5), {}, ["bull"])

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(_raw, _fuzzed_key, _raw, _raw), min_size=1, max_size=4))
    def scrape(writes: list[tuple[bytes, str, bytes, bytes]]) -> None:
        for key in raw.scan_iter(match=b"bull:fz*"):
            raw.delete(key)
        for name, which, field, value in writes:
            base = b"bull:fz" + name + b":"
            raw.hset(base + b"meta", b"opts", b"x")
            if which in ("wait", "paused"):
                raw.rpush(base + which.encode(), value or b"1")
            elif which == "job":
                raw.rpush(base + b"wait", b"7")
                raw.hset(base + b"7", b"timestamp", value)
            elif which == "meta":
                raw.hset(base + b"meta", field or b"paused", value)
            else:
                raw.hset(base + which.encode(), b"count", value)
        collector._discovered_at = None  # discover the fuzzed queues now
        collected = collector.collect()
        jobs = [p for p in collected.readings if p.metric is catalog.BULLMQ_QUEUE_JOBS]
        good = {
            dict(p.attributes)[attr.QUEUE_STATE]: p.value
            for p in jobs
            if dict(p.attributes)[attr.QUEUE_NAME] == "good"
        }
        assert good == expected
        assert all(math.isfinite(p.value) for p in collected.readings)

    try:
        scrape()
    finally:
        raw.close()


# --- a service ---------------------------------------------------------------------------


def _workload(client: pymongo.MongoClient[Any], cache: redis.Redis) -> tuple[list[Any], float]:
    """What a request handler does, and the slowest single call it made."""
    items = client.faults.items
    results: list[Any] = []
    slowest = 0.0
    calls: list[Callable[[], Any]] = [
        lambda: items.delete_many({}),
        lambda: items.insert_many([{"n": n} for n in range(5)]) and None,
        lambda: sorted(d["n"] for d in items.find({"n": {"$gte": 2}}, {"_id": 0})),
        lambda: cache.set("kpi:x", "1"),
        lambda: cache.get("kpi:x"),
    ]
    for call in calls:
        started = time.perf_counter()
        with obs.job("requests"):
            result = call()
        slowest = max(slowest, time.perf_counter() - started)
        if not isinstance(result, pymongo.results.DeleteResult):
            results.append(result)
    return results, slowest


EXPECTED = [None, [2, 3, 4], True, b"1"]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("endpoint", ["refused", "black_hole"])
def test_a_service_is_unchanged_and_never_held_by_a_dead_endpoint(
    endpoint: str,
    protocol: str,
    request: pytest.FixtureRequest,
    start_obs: Callable[..., Status],
    mongo: MongoServer,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A request thread held by an export would wait out its timeout (5 s against a black
    # hole); the bound below sits far under it and far above a busy machine's hiccups.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")
    status = start_obs(
        otlp_endpoint=request.getfixturevalue(endpoint),
        otlp_protocol=protocol,
        cache_prefixes={"kpi:": "kpi"},
    )
    assert status["traces"].on
    assert status["metrics"].on
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    try:
        for _ in range(10):  # exports fail in the background all along
            results, slowest = _workload(client, redis_client)
            assert results == EXPECTED
            assert slowest < 2.5  # no request thread waits on an export
            time.sleep(0.05)
    finally:
        client.close()


def test_a_service_exports_again_once_a_flapping_receiver_answers(
    start_obs: Callable[..., Status],
    otlp: GrpcReceiver,
    mongo: MongoServer,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")
    start_obs(cache_prefixes={"kpi:": "kpi"})
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    try:
        for _ in range(3):
            otlp.fail_with = 14
            assert _workload(client, redis_client)[0] == EXPECTED
            time.sleep(0.3)  # exports refused meanwhile
            otlp.fail_with = None
            otlp.clear()
            assert _workload(client, redis_client)[0] == EXPECTED
            assert wait_for(lambda: otlp.spans("process requests"))
            assert wait_for(lambda: otlp.points("messaging.process.duration"))
    finally:
        client.close()
    assert json.dumps(obs.status().failures) == "{}"  # no hook failed through it all
