"""obs.guard in front of a real Mongo (SecantusDB, latency injected by a TCP proxy, failures
by failCommand) and a private redis-server: the limit falls under overload and recovers, the
breaker opens and closes, pool saturation opens it, an abusive client is throttled while the
others keep their throughput, and a Redis budget holds across processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
import redis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.backoff import NoBackoff
from redis.retry import Retry

import obs
from obs.protection import Rejected, runtime
from obs.protection.bucket import RedisBuckets
from obs.protection.guard import GuardConfig
from obs.runtime.failures import Failures
from obs.runtime.status import Status
from support.latency_proxy import LatencyProxy
from support.otlp_receiver import GrpcReceiver
from support.servers import MongoProcess, MongoServer, RedisServer, free_port, python_env
from support.waiting import wait_for

StartObs = Callable[..., Status]


@pytest.fixture(scope="module")
def mongo_process(mongo: MongoServer) -> Iterator[MongoProcess]:
    """SecantusDB in a process of its own: latency measured here is the server's and the
    proxy's, not this process's threads contending for the GIL with an in-process server."""
    server = MongoProcess(None, Path(tempfile.mkdtemp(prefix="obs-guard-"))).start()
    yield server
    server.stop()
    shutil.rmtree(server.data, ignore_errors=True)


@pytest.fixture
def proxy(mongo_process: MongoProcess) -> Iterator[LatencyProxy]:
    latency = LatencyProxy("127.0.0.1", mongo_process.port).start()
    yield latency
    latency.stop()


def _client(port: int, **options: Any) -> pymongo.MongoClient[Any]:
    return pymongo.MongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", retryReads=False, **options
    )


class Load:
    """Threads calling ``find_one`` through the guard until stopped, counting outcomes."""

    def __init__(
        self, collection: Any, threads: int, client: str | None = None, pause: float = 0.0
    ) -> None:
        self.collection = collection
        self.client = client
        self.pause = pause
        self.admitted = 0
        self.rejected = 0
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with obs.guard("payouts", client=self.client, priority="high"):
                    self.collection.find_one({"n": 1})
                self.admitted += 1
                self.latencies.append(time.monotonic() - started)
            except Rejected:
                self.rejected += 1
                time.sleep(0.002)
            if self.pause:
                time.sleep(self.pause)


@pytest.fixture
def guards() -> Iterator[Callable[..., None]]:
    failures = Failures()

    def start(**config: Any) -> None:
        runtime.start(GuardConfig(**config), failures=failures, salt=b"test")

    yield start
    runtime.stop()


def test_the_limit_falls_under_overload_and_recovers_after(
    proxy: LatencyProxy, guards: Callable[..., None]
) -> None:
    guards(limit_initial=8, limit_max=30, queue_timeout=0.0, min_calls=10**6, min_samples=5)
    client = _client(proxy.port, maxPoolSize=100)
    items = client.guard_app.items
    items.insert_one({"n": 1})
    # More callers than the limit: the limit, not the application, bounds the concurrency.
    with Load(items, threads=16):
        time.sleep(2.0)
        (guard,) = runtime.guards()
        steady = guard.limit
        proxy.delay = 0.05  # every command 50 ms slower: a server queueing
        time.sleep(3.0)
        overloaded = guard.limit
        proxy.delay = 0.0
        recovered = wait_for(lambda: guard.limit > 1.5 * overloaded, 15.0, 0.05)
    client.close()
    assert overloaded < steady * 0.75, (steady, overloaded)
    assert recovered, (steady, overloaded, guard.limit)


def test_the_breaker_opens_on_mongo_failures_and_closes_on_recovery(
    mongo: MongoServer, guards: Callable[..., None]
) -> None:
    guards(
        min_calls=10,
        error_ratio=0.5,
        open_seconds=0.5,
        probes=2,
        sample_window=0.0,
        min_samples=1,
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    client = _client(mongo.port)
    items = client.guard_app.items
    items.insert_one({"n": 1})
    admin = client.admin
    admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": {"failCommands": ["find"], "errorCode": 50},  # MaxTimeMSExpired
        }
    )
    errors = refusals = 0
    try:
        with tracer.start_as_current_span("request"):
            for _ in range(40):
                try:
                    with obs.guard("payouts"):
                        items.find_one({"n": 1})
                except pymongo.errors.ExecutionTimeout:
                    errors += 1
                except Rejected as exc:
                    refusals += exc.reason == "breaker"
        guard_state = runtime.guards()[0].state
    finally:
        admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    assert guard_state == "open"
    assert errors == 10  # it opened as soon as the window held enough calls
    assert refusals == 30  # then nothing reached Mongo
    time.sleep(0.6)
    with tracer.start_as_current_span("recovery"):
        for _ in range(3):
            with obs.guard("payouts"):
                items.find_one({"n": 1})
    (guard,) = runtime.guards()
    assert guard.state == "closed"
    assert guard.snapshot()[2] == {"open": 1, "half_open": 1, "closed": 1}
    events = [
        (e.name, dict(e.attributes or {})) for s in exporter.get_finished_spans() for e in s.events
    ]
    assert ("obs.guard.breaker", {"obs.guard.name": "payouts", "state": "open"}) in events
    assert ("obs.guard.breaker", {"obs.guard.name": "payouts", "state": "half_open"}) in events
    assert ("obs.guard.breaker", {"obs.guard.name": "payouts", "state": "closed"}) in events
    assert (
        "obs.guard.rejected",
        {"obs.guard.name": "payouts", "reason": "breaker", "outcome": "rejected"},
    ) in events
    client.close()


def test_a_saturated_pool_opens_the_breaker(
    start_obs: StartObs, proxy: LatencyProxy, otlp: GrpcReceiver
) -> None:
    status = start_obs(guard=True, guard_pool_pending=3, guard_open_seconds=30)
    assert status["guard"].on
    client = _client(proxy.port, maxPoolSize=2)
    items = client.guard_app.items
    items.insert_one({"n": 1})
    proxy.delay = 0.03
    with Load(items, threads=10):
        opened = wait_for(lambda: runtime.guards()[0].state == "open", 20.0, 0.05)
    proxy.delay = 0.0
    assert opened
    assert runtime.guards()[0]._breaker.opened_by == "saturation"
    assert obs.flush()
    states = [p for p in otlp.points() if p.name == "obs.guard.breaker.state"]
    assert states[-1].value == 2
    assert states[-1].attributes == {"obs.guard.name": "payouts"}
    client.close()


def test_an_abusive_client_is_throttled_while_the_others_keep_their_throughput(
    mongo: MongoServer, guards: Callable[..., None]
) -> None:
    guards(client_rate=40.0, client_burst=10, queue_timeout=0.05)
    client = _client(mongo.port, maxPoolSize=20)
    items = client.guard_app.items
    items.insert_one({"n": 1})
    started = time.monotonic()
    with Load(items, threads=4, client="abusive-key") as abusive:
        polite = [Load(items, threads=1, client=f"polite-{n}", pause=0.05) for n in range(3)]
        for load in polite:
            load.__enter__()
        time.sleep(2.0)
        for load in polite:
            load.__exit__()
    elapsed = time.monotonic() - started
    client.close()
    for load in polite:
        assert load.rejected == 0
        assert load.admitted >= 10
    assert abusive.admitted <= 10 + 40.0 * elapsed
    assert abusive.rejected > abusive.admitted
    (guard,) = runtime.guards()
    throttled = guard.throttled_clients()
    assert list(throttled) != ["abusive-key"]
    assert len(throttled) == 1
    assert all(len(tag) == 12 for tag in throttled)


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import obs
    from obs.protection import Rejected
    status = obs.init(guard=True, traces_exporter="none", metrics_exporter="none",
                      guard_client_rate=20, guard_client_burst=5,
                      guard_redis_url=sys.argv[1], guard_client_salt="s")
    assert "shared on Redis" in status["guard"].detail, str(status)
    admitted = rejected = 0
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        try:
            with obs.guard("payouts", client="shared-key"):
                admitted += 1
        except Rejected:
            rejected += 1
    print(json.dumps([admitted, rejected]))
    """
)


def test_a_redis_budget_holds_across_processes(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    started = time.monotonic()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, redis_server.url, "1.5"],
            stdout=subprocess.PIPE,
            text=True,
            env=python_env(),
        )
        for _ in range(4)
    ]
    results = [json.loads(child.communicate(timeout=60)[0]) for child in children]
    elapsed = time.monotonic() - started
    admitted = sum(a for a, _ in results)
    assert all(rejected > 0 for _, rejected in results)
    # one budget for the four: the burst plus 20 a second, never four times that
    assert admitted <= 5 + 20 * elapsed
    assert admitted >= 20 * 1.0
    keys = [k.decode() for k in redis_client.keys("*")]
    assert len(keys) == 1
    assert keys[0].startswith("obs:guard:payouts:")
    assert "shared-key" not in keys[0]


def test_an_unreachable_redis_falls_back_to_the_process_budget() -> None:
    failures = Failures()
    unreachable = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    config = GuardConfig(client_rate=1.0, client_burst=2)
    runtime.start(config, failures=failures, shared=RedisBuckets(unreachable, 1.0, 2))
    try:
        outcomes = []
        for _ in range(4):
            try:
                with obs.guard("payouts", client="k"):
                    outcomes.append("ok")
            except Rejected:
                outcomes.append("429")
    finally:
        runtime.stop()
    assert outcomes == ["ok", "ok", "429", "429"]
    assert failures.counts() == {"guard": 1}  # then a second on the process's budget
