"""The agent's BullMQ scrape against BullMQ's own ``Queue.getJobCounts()`` per queue, and
the agent's footprint as a sidecar, on a private redis-server.

1. Scrape: for 1, 100, 1,000 and 10,000 real queues (made with the ``bullmq`` package),
   the wall time of one scrape, the Redis round trips and the commands the server
   executed (its own ``INFO commandstats``), for the agent (every state, paused flag,
   oldest waiting age, metrics counts) and for ``getJobCounts()`` of every state called
   per queue (the EVALSHA of its getCounts script, which can write), in the same run.
2. Footprint: ``obs agent`` as its own process, watching 1,000 and then 10,000 queues
   and the Redis INFO at the default 15 s interval, exporting OTLP/HTTP (the default
   protocol) to a local sink every 15 s and scraped on /metrics every 15 s: RSS sampled
   every second (the peak, and where it stands at the end) and the CPU share of one core
   over the window; each also as the container image runs it (one malloc arena), and
   1,000 queues over OTLP/gRPC too, for comparison.

Run: ``make bench BENCH=agent_queues`` (``python -m bench agent_queues``): ~8 minutes.
``AGENT_BENCH_SECONDS=300`` runs each footprint part for 5 minutes instead of 60 s;
``AGENT_BENCH_SIZES=1,100`` picks the queue counts of the scrape comparison.
Targets: 1,000 queues well under a second in one round trip; at a 15 s interval with
/metrics scraped, RSS < 60 MiB and CPU < 1 % of a core at 1,000 queues, RSS < 100 MiB at
10,000 (each printed PASS or MISS).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import redis as redis_py

from bench._otlp_sink import OtlpSink
from obs.demo.servers import RedisProcess, free_port, wait_for_port

SIZES = [int(n) for n in os.environ.get("AGENT_BENCH_SIZES", "1,100,1000,10000").split(",")]
SECONDS = float(os.environ.get("AGENT_BENCH_SECONDS", "60"))
ROUNDS = 3
PREFIX = "bench"
MIB = 2**20
# (queues, RSS target, CPU target or None)
TARGETS = {1000: (60 * MIB, 0.01), 10000: (100 * MIB, None)}
# What the container image sets (Dockerfile; tests/test_agent_container.py checks it).
IMAGE_ENVIRONMENT = {"MALLOC_ARENA_MAX": "1"}


async def make_queues(url: str, names: list[str]) -> None:
    """Real queues: one waiting job each, every tenth with a delayed and a prioritized one."""
    import redis.asyncio
    from bullmq import Queue

    connection = redis.asyncio.Redis.from_url(url)
    try:
        for index, name in enumerate(names):
            queue = Queue(name, {"connection": connection, "prefix": PREFIX})
            await queue.add("job", {"n": index})
            if index % 10 == 0:
                await queue.add("later", {}, {"delay": 3_600_000})
                await queue.add("urgent", {}, {"priority": 1})
    finally:
        await connection.aclose()


async def get_job_counts(url: str, names: list[str]) -> None:
    """What an exporter built on BullMQ does: getJobCounts() of every state, per queue."""
    import redis.asyncio
    from bullmq import Queue

    states = ("wait", "paused", "active", "prioritized", "delayed", "waiting-children")
    connection = redis.asyncio.Redis.from_url(url)
    try:
        for name in names:
            queue = Queue(name, {"connection": connection, "prefix": PREFIX})
            await queue.getJobCounts(*states, "completed", "failed")
    finally:
        await connection.aclose()


def counts_per_queue(url: str, names: list[str]) -> None:
    asyncio.run(get_job_counts(url, names))


def server_commands(client: Any) -> int:
    return sum(
        int(v["calls"]) for k, v in client.info("commandstats").items() if k != "cmdstat_info"
    )


def measure(client: Any, run: Any) -> tuple[float, int]:
    """(seconds, commands the server executed) of one ``run()``."""
    client.config_resetstat()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    return seconds, server_commands(client) - 1  # minus the CONFIG RESETSTAT


def scrape_comparison(redis_server: RedisProcess) -> None:
    from obs.agent.app import redis_client
    from obs.agent.collectors.bullmq import BullMQCollector, discover
    from obs.internals import redis_py as internals

    client = redis_client(redis_server.url, timeout=30)
    # The same scrape with redis-py's own reply parser, which the agent used before hiredis
    # (a client as the agent makes one otherwise: RESP2, replies decoded).
    python = redis_py.Redis.from_url(
        redis_server.url, decode_responses=True, protocol=2, parser_class=internals.python_parser()
    )
    with internals.connection_of(client) as connection:
        print(f"the agent's replies are read by the {internals.reply_parser(connection)} parser")
    print(
        "queues  agent scrape  round trips  commands |"
        " getJobCounts  round trips  commands | speed-up"
    )
    made = 0
    for size in sorted(SIZES):
        names = [f"q{i}:{'eu' if i % 2 else 'us'}" for i in range(size)]  # ':' in names
        asyncio.run(make_queues(redis_server.url, names[made:]))
        made = max(made, size)
        collector = BullMQCollector(client, {}, [PREFIX], discovery_interval=1e9)
        discovery, scans = measure(client, lambda: discover(client, [PREFIX]))
        collector.collect()  # discovery happens here, on its own cadence
        assert len(collector.queues) == size, (len(collector.queues), size)
        agent = [measure(client, collector.collect) for _ in range(ROUNDS)]
        by_python = BullMQCollector(python, {}, [PREFIX], discovery_interval=1e9)
        by_python.collect()
        python_time = statistics.median(
            measure(client, by_python.collect)[0] for _ in range(ROUNDS)
        )
        per_queue = functools.partial(counts_per_queue, redis_server.url, names)
        bullmq = [measure(client, per_queue) for _ in range(ROUNDS)]
        agent_time = statistics.median(t for t, _ in agent)
        bullmq_time = statistics.median(t for t, _ in bullmq)
        print(
            f"{size:>6}  {agent_time * 1000:>9.1f} ms  {1:>11}  {agent[0][1]:>8} | "
            f"{bullmq_time * 1000:>9.1f} ms  {size:>11}  {bullmq[0][1]:>8} | "
            f"{bullmq_time / agent_time:>6.1f}x"
        )
        print(f"        discovery (SCAN, every 60 s): {discovery * 1000:.1f} ms, {scans} commands")
        print(f"        the same scrape read by redis-py's own parser: {python_time * 1000:.1f} ms")
    client.close()
    python.close()


def _verdict(value: float, target: float) -> str:
    return "PASS" if value < target else "MISS"


def footprint(
    redis_server: RedisProcess,
    queues: int,
    protocol: str = "http/protobuf",
    environment: dict[str, str] | None = None,
) -> None:
    """RSS and CPU of `obs agent` watching ``queues`` queues, exporting OTLP over
    ``protocol`` and scraped on /metrics every 15 s (with ``environment`` added to its
    variables)."""
    sink = OtlpSink().start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_", "DD_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint if protocol == "grpc" else sink.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OBS_AGENT_BULLMQ_PREFIXES=PREFIX,
        OBS_AGENT_EXPORT_INTERVAL="15",
    )
    env.update(environment or {})
    obs = str(Path(sys.executable).with_name("obs"))
    agent = subprocess.Popen(
        [obs, "agent", "--redis", redis_server.url, "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = psutil.Process(agent.pid)
    try:
        wait_for_port(port)
        time.sleep(2)  # imports done, first collection of every collector done
        cpu_start, wall_start = sum(process.cpu_times()[:2]), time.monotonic()
        samples: list[int] = []
        scraped = 0
        while time.monotonic() - wall_start < SECONDS:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                scraped = len(r.read())  # urllib asks for no gzip: the plain page, inflated
            for _ in range(15):
                samples.append(process.memory_info().rss)
                time.sleep(1)
        cpu = sum(process.cpu_times()[:2]) - cpu_start
        wall = time.monotonic() - wall_start
    finally:
        agent.terminate()
        agent.wait(20)
        sink.stop()
    if not sink.received["metric points"]:
        raise RuntimeError("the agent exported nothing over OTLP: the footprint would lie")
    peak, share = max(samples), cpu / wall
    over = "OTLP/gRPC" if protocol == "grpc" else "OTLP/HTTP"
    image = " ".join(f"{k}={v}" for k, v in (environment or {}).items())
    print(
        f"obs agent, {queues:,} queues, {over} every 15 s, /metrics every 15 s "
        f"({scraped / 1024:.0f} KiB), {wall:.0f} s"
        + (f", {image} (as the image)" if image else "")
        + ":"
    )
    print(f"  RSS peak {peak / MIB:.1f} MiB, at the end {samples[-1] / MIB:.1f} MiB")
    print(f"  CPU {share * 100:.2f} % of a core")
    rss_target, cpu_target = TARGETS.get(queues, (None, None))
    if protocol == "http/protobuf" and rss_target is not None:
        print(
            f"  target RSS < {rss_target / MIB:.0f} MiB: {_verdict(peak, rss_target)} "
            f"({peak / rss_target:.2f}x)"
        )
        if cpu_target is not None:
            print(
                f"  target CPU < {cpu_target * 100:.0f} % of a core: "
                f"{_verdict(share, cpu_target)} ({share / cpu_target:.2f}x)"
            )
    print(f"  the OTLP sink received {sink.summary()}")


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    redis_server = RedisProcess(None, data).start()
    try:
        scrape_comparison(redis_server)
        for queues in sorted(TARGETS):
            client = redis_py.Redis.from_url(redis_server.url)
            client.flushall()
            client.close()
            asyncio.run(make_queues(redis_server.url, [f"q{i}" for i in range(queues)]))
            footprint(redis_server, queues)
            footprint(redis_server, queues, environment=IMAGE_ENVIRONMENT)
            if queues == 1000:
                footprint(redis_server, queues, protocol="grpc")
    finally:
        redis_server.stop()
        shutil.rmtree(data, ignore_errors=True)
