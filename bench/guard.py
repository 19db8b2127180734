"""What obs.guard costs an admitted call, and what it buys a service under overload.

1. CPU per call: a guarded call (``with obs.guard(...)`` around an empty function) against
   the bare call, obs.guard off, with a client's in-process bucket, with a bucket shared on
   a private redis-server (one round trip), and pybreaker (``breaker.call`` and
   ``breaker.calling()``), all in this process, interleaved rounds, the minimum of each
   (noise on a shared machine only adds).
2. Overload end to end: SecantusDB in its own process, a pool of 8 connections and an
   indexed ``find_one``. Four well-behaved clients call at 20 a second each while one
   abusive client calls from 16 threads as fast as it can; without and then with the guard
   (20 calls a second per client, adaptive limit). Reported: throughput and p50/p99
   latency of the well-behaved clients' calls (a call still waiting when the run ends
   counts with the time it has waited so far), and what the abusive one got through. A
   refused call costs the abusive thread a millisecond, about a 429's round trip. Every
   caller is a thread of this process, as a threaded server's workers are, so "overload"
   includes the client side's CPU and GIL.

Run: ``make bench BENCH=guard``. Goal: at most 2 us added per admitted in-process call.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import obs
from obs.demo.servers import MongoProcess, RedisProcess
from obs.protection import Rejected, runtime
from obs.protection.guard import GuardConfig

CALLS = int(os.environ.get("BENCH_CALLS", "200000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))


def _work() -> None:
    pass


def _loop(body: Callable[[], None], calls: int) -> float:
    """CPU seconds per call of ``body``."""
    started = time.process_time()
    for _ in range(calls):
        body()
    return (time.process_time() - started) / calls


def _per_call(redis_url: str) -> None:
    import pybreaker

    breaker = pybreaker.CircuitBreaker()
    guard = obs.guard

    def bare() -> None:
        _work()

    def guarded() -> None:
        with guard("payouts"):
            _work()

    def guarded_client() -> None:
        with guard("payouts", client="api-key-123"):
            _work()

    def pybreaker_call() -> None:
        breaker.call(_work)

    def pybreaker_calling() -> None:
        with breaker.calling():
            _work()

    from redis import Redis

    from obs.protection.bucket import RedisBuckets

    shared = RedisBuckets(Redis.from_url(redis_url), rate=1e9, burst=10**9)
    rows: list[tuple[str, Callable[[], None], GuardConfig | None, Any, int]] = [
        ("bare call", bare, None, None, CALLS),
        ("obs.guard off (OBS_GUARD=false)", guarded, None, None, CALLS),
        ("obs.guard on, admitted", guarded, GuardConfig(), None, CALLS),
        (
            "obs.guard on, client bucket in-process",
            guarded_client,
            GuardConfig(client_rate=1e9),
            None,
            CALLS,
        ),
        (
            "obs.guard on, client bucket on Redis",
            guarded_client,
            GuardConfig(client_rate=1e9),
            shared,
            CALLS // 50,
        ),
        ("pybreaker breaker.call(f)", pybreaker_call, None, None, CALLS),
        ("pybreaker with breaker.calling()", pybreaker_calling, None, None, CALLS),
    ]
    best: dict[str, float] = {}
    wall: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, body, config, buckets, calls in rows:
            if config is None:
                runtime.stop()
            else:
                runtime.start(config, shared=buckets)
            started = time.perf_counter()
            cpu = _loop(body, calls)
            wall[name] = min(wall.get(name, 1.0), (time.perf_counter() - started) / calls)
            best[name] = min(best.get(name, 1.0), cpu)
    runtime.stop()
    base = best["bare call"]
    print(f"CPU per call, minimum of {ROUNDS} interleaved rounds of {CALLS:,} calls")
    print(f"{'configuration':42} {'CPU':>10} {'added':>10} {'wall':>10}")
    for name, *_ in rows:
        added = best[name] - base
        cpu, per_wall = best[name] * 1e6, wall[name] * 1e6
        print(f"{name:42} {cpu:7.2f} us {added * 1e6:+7.2f} us {per_wall:7.1f} us")
    admitted = (best["obs.guard on, admitted"] - base) * 1e6
    verdict = "met" if admitted <= 2.0 else "NOT met"
    print(f"goal <= 2 us added per admitted in-process call: {admitted:.2f} us, {verdict}")


class _Client:
    """Threads calling one Mongo query as one client, counting what got through."""

    def __init__(self, items: Any, key: str, threads: int, pause: float) -> None:
        self.items = items
        self.key = key
        self.pause = pause
        self.latencies: list[tuple[float, float]] = []  # (finished, latency)
        self.refused = 0
        self.count = 0
        self._open: dict[int, float] = {}  # thread -> start of its call in progress
        self._waiting: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        now = time.perf_counter()
        self._stop.set()
        self._waiting = [now - started for started in list(self._open.values())]

    def join(self) -> None:
        for thread in self._threads:
            thread.join(120)

    def within(self, end: float) -> list[float]:
        """Latencies of the calls that finished by ``end``."""
        return [latency for finished, latency in self.latencies if finished <= end]

    def observed(self, end: float) -> list[float]:
        """:meth:`within`, plus the calls still waiting at the end with their wait so far."""
        return self.within(end) + self._waiting

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            started = self._open[me] = time.perf_counter()
            try:
                with obs.guard("search", client=self.key):
                    self.items.find_one({"n": self.count % 500})
                    self.count += 1
                finished = time.perf_counter()
                self.latencies.append((finished, finished - started))
            except Rejected:
                self.refused += 1
                time.sleep(0.001)
                continue
            finally:
                del self._open[me]
            if self.pause:
                time.sleep(self.pause)


def _overload(uri: str) -> None:
    import pymongo

    client: pymongo.MongoClient[Any] = pymongo.MongoClient(uri, maxPoolSize=8)
    items = client.bench_guard.items
    items.drop()
    items.insert_many([{"n": i, "pad": "x" * 200} for i in range(500)])
    items.create_index("n")
    print(
        f"\nOverload: 4 clients at 20 calls/s each + 1 abusive client on 16 threads, "
        f"{SECONDS:g} s each, pool of 8, an indexed find_one"
    )
    print(
        f"{'configuration':30} {'polite calls/s':>15} {'p50':>9} {'p99':>9} "
        f"{'abusive calls/s':>16} {'abusive refused':>16}"
    )
    for name, config in (
        ("without the guard", None),
        ("with obs.guard (20/s/client)", GuardConfig(client_rate=20.0, client_burst=20)),
    ):
        if config is None:
            runtime.stop()
        else:
            runtime.start(config)
        polite = [_Client(items, f"polite-{n}", 1, 0.05) for n in range(4)]
        abusive = _Client(items, "abusive", 16, 0.0)
        clients = (*polite, abusive)
        for c in clients:
            c.start()
        end = time.perf_counter() + SECONDS
        time.sleep(SECONDS)
        for c in clients:
            c.stop()
        for c in clients:
            c.join()
        latencies = sorted(x for c in polite for x in c.observed(end))
        finished = sum(len(c.within(end)) for c in polite)
        p50 = statistics.median(latencies)
        p99 = latencies[int(0.99 * (len(latencies) - 1))]
        print(
            f"{name:30} {finished / SECONDS:15.1f} {p50 * 1e3:6.1f} ms {p99 * 1e3:6.1f} ms "
            f"{len(abusive.within(end)) / SECONDS:16.1f} {abusive.refused:16,}"
        )
    runtime.stop()
    client.close()


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="obs-bench-guard-"))
    mongo = MongoProcess(None, folder / "mongo").start()
    redis = RedisProcess(None, folder / "redis").start()
    try:
        _per_call(f"redis://127.0.0.1:{redis.port}/0")
        _overload(mongo.uri)
    finally:
        redis.stop()
        mongo.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
