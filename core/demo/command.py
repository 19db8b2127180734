"""Run the whole obs bundle on embedded servers, with no account and nothing installed:
SecantusDB (a MongoDB-compatible server) and a private Redis as child processes, an admin
API's collections seeded (users, transactions, payouts, logs, clicks), a service's traffic
through `obs.init()` (indexed and unindexed queries, an offset-paginated admin listing, KPI
lookups cached in Redis for 30 s, BullMQ export and notification queues with failing and
retrying jobs), `obs agent` watching all of it, and `obs preview` drawing the shipped
dashboards.

Ctrl-C stops everything within a few seconds (the servers and the agent run in process
groups of their own, so the demo stops them in order: traffic first, then the agent, then
the servers); the data lives in a temporary folder unless --data DIR.

Exit codes: 0 after a clean stop, 1 when something could not start.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from obs.demo.servers import (
    MongoProcess,
    RedisProcess,
    free_port,
    stop_process,
    wait_for_port,
)
from obs.export.deadline import Deadline, call_within

logger = logging.getLogger("obs.demo")
# Ctrl-C stops the demo within this many seconds (and the interpreter's exit): every step
# of the stop keeps what is left, and a server still running at the end is killed.
STOP_SECONDS = 3.5


class _Stop(threading.Event):
    """Set on Ctrl-C or SIGTERM; from then on :meth:`left` is the time the stop has left."""

    def __init__(self) -> None:
        super().__init__()
        self.deadline = Deadline.after(STOP_SECONDS)

    def set(self) -> None:
        if not self.is_set():
            self.deadline = Deadline.after(STOP_SECONDS)
        super().set()

    def left(self) -> float:
        return self.deadline.remaining() if self.is_set() else STOP_SECONDS

    def bounded(self, step: Callable[[], object]) -> Callable[[], None]:
        """``step`` as a part of the stop that keeps its deadline (past it, the step
        carries on in the background: a busy server or a slow scrape cannot hold the demo)."""

        def run() -> None:
            with suppress(TimeoutError):
                call_within(Deadline.after(self.left()), step, "obs-demo-stop")

        return run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="keep the servers' data in DIR (reused)")
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port of the preview page (default 8000; 0: any free port)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop by itself after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="threads sending the service's requests (default 2)"
    )


def _say(message: str) -> None:
    print(message, flush=True)


class _Step:
    """``with _Step("starting X"):`` prints the step, then ok or what failed."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> _Step:
        print(f"  {self.what} ...", end="", flush=True)
        self.started = time.monotonic()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        took = time.monotonic() - self.started
        print(f" {'ok' if exc is None else 'failed'} ({took:.1f} s)", flush=True)


def _agent(mongo_uri: str, redis_url: str, port: int) -> subprocess.Popen[bytes]:
    """`obs agent` as its own process, the way it runs beside a service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_"))}
    env.update(
        OTEL_METRICS_EXPORTER="none",  # no collector here: the preview reads /metrics
        OBS_AGENT_MONGO_PROFILER_LEVEL="2",  # the demo's own database: profile everything
        OBS_AGENT_REDIS_INFO__INTERVAL="5",
        OBS_AGENT_BULLMQ__INTERVAL="5",
        OBS_AGENT_BULLMQ_DISCOVERY_INTERVAL="5",
        OBS_AGENT_MONGO_PROFILE__INTERVAL="5",
        OBS_AGENT_MONGO_CURRENTOP__INTERVAL="5",
    )
    command = [
        sys.executable,
        "-m",
        "obs.cli",
        "agent",
        "--mongo",
        mongo_uri,
        "--redis",
        redis_url,
        "--listen",
        f"127.0.0.1:{port}",
    ]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the demo, which stops the agent in turn
    )


def _join(threads: list[threading.Thread], stop: _Stop) -> None:
    for thread in threads:
        thread.join(stop.left())


def run(args: argparse.Namespace) -> int:
    from obs.demo import summary

    logging.getLogger("obs").setLevel(logging.WARNING)
    data = args.data or Path(tempfile.mkdtemp(prefix="obs-demo-"))
    stop = _Stop()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _say("obs demo: the whole bundle on embedded servers")
    with ExitStack() as cleanup:
        if args.data is None:
            cleanup.callback(shutil.rmtree, data, True)
        try:
            mongo_uri, redis_url = _start_servers(cleanup, data, stop)
            service = _start_service(cleanup, mongo_uri, redis_url, stop, args.threads)
            agent_port = free_port()
            with _Step(f"starting obs agent on 127.0.0.1:{agent_port}"):
                agent = _agent(mongo_uri, redis_url, agent_port)
                cleanup.callback(lambda: stop_process(agent, stop.left()))
                wait_for_port(agent_port)
            with _Step("starting obs preview"):
                preview = summary.start_preview(
                    [service, f"http://127.0.0.1:{agent_port}/metrics"], args.port
                )
                cleanup.callback(stop.bounded(preview.stop))
            cleanup.callback(stop.set)  # however the demo ends, its stop starts the clock
        except Exception as exc:
            _say(f"obs demo: could not start: {exc}")
            stop.set()
            return 1
        _say(f"\nOpen {preview.url} for the dashboards. Ctrl-C stops the demo.\n")
        return _live(preview, stop, args.seconds)


def _start_servers(cleanup: ExitStack, data: Path, stop: _Stop) -> tuple[str, str]:
    """SecantusDB and Redis child processes; returns their URI and URL."""
    with _Step("starting SecantusDB (MongoDB-compatible)"):
        mongo = MongoProcess(None, data / "mongo", own_group=True).start()
        cleanup.callback(lambda: mongo.stop(stop.left()))
    _say(f"    {mongo.uri}")
    with _Step("starting a private Redis"):
        cache = RedisProcess(None, data / "redis", own_group=True).start()
        cleanup.callback(lambda: cache.stop(stop.left()))
    _say(f"    {cache.url}")
    return mongo.uri, cache.url


def _start_service(
    cleanup: ExitStack, mongo_uri: str, redis_url: str, stop: _Stop, threads: int
) -> str:
    """The instrumented demo service: obs.init(), seeded data, traffic and queue workers.
    Returns the URL of the service's own /metrics."""
    import pymongo
    import redis

    import obs
    from obs.demo import seed, workload

    port = free_port()
    with _Step(f"obs.init() in the demo service (/metrics on 127.0.0.1:{port})"):
        status = obs.init(
            service_name="obs-demo",
            environment="demo",
            traces_exporter="none",  # no collector in the demo: metrics go to /metrics
            metrics_exporter="prometheus",
            prometheus_host="127.0.0.1",
            prometheus_port=port,
            cache_prefixes={"kpi:": "kpi", "lb:": "leaderboard"},
            instrumentations=False,
            guard=True,  # every request through obs.guard; one API key bursts
            guard_client_rate=20,
        )
        cleanup.callback(lambda: obs.shutdown(stop.left()))
        if not status["metrics"].on:
            raise RuntimeError(status["metrics"].detail)
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo_uri)
    cleanup.callback(stop.bounded(client.close))
    cache = redis.Redis.from_url(redis_url)
    cleanup.callback(stop.bounded(cache.close))
    with _Step("seeding users, transactions, payouts, logs, clicks"):
        counts = seed.seed(client.app)
    _say("    " + ", ".join(f"{n} {name}" for name, n in counts.items()))
    started = time.monotonic()
    workers = [
        threading.Thread(
            target=workload.run_queues, args=(redis_url, stop), name="demo-queues", daemon=True
        ),
        *(
            threading.Thread(
                target=workload.run_mongo_traffic,
                args=(
                    workload.MongoTraffic(client.app, cache, random.Random(n)),
                    stop,
                    0.02,
                    f"api-key-{n}",
                ),
                name=f"demo-traffic-{n}",
                daemon=True,
            )
            for n in range(threads)
        ),
        threading.Thread(
            target=workload.run_mongo_traffic,
            args=(
                workload.MongoTraffic(client.app, cache, random.Random(threads)),
                stop,
                0.002,  # a refused call returns at once: flood, without spinning a core
                "api-key-flood",
                lambda: workload.in_burst(time.monotonic() - started),
            ),
            name="demo-burst",
            daemon=True,
        ),
    ]
    cleanup.callback(_join, workers, stop)
    cleanup.callback(stop.set)
    with _Step("starting the service's traffic and queue workers"):
        for thread in workers:
            thread.start()
    return f"http://127.0.0.1:{port}/metrics"


def _live(preview: Any, stop: _Stop, seconds: float) -> int:
    from obs.demo import summary

    deadline = time.monotonic() + seconds if seconds else None
    try:
        while not stop.wait(5):
            _say(summary.line(preview))
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    _say("stopping ...")
    stop.set()
    return 0
