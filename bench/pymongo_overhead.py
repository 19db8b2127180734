"""CPU a pymongo command costs with obs and with its peers, all threads counted, in one run.

Each configuration runs in its own Python process (pymongo's global listeners cannot be
removed) against SecantusDB in another process. The process makes a bare client first,
then sets its configuration up and makes the client it measures (pymongo copies the
global listeners when a client is made, so the bare client has none), and times blocks of
commands on the two clients in turn by the whole process's CPU time
(``time.process_time``: the request thread and the threads that encode and send spans),
each block ending with a flush of the spans it recorded, so no export work escapes its
block. A configuration's figure is the median, over every pair of neighbouring blocks of
every round, of the measured block minus the bare one: what differs between processes
(memory layout, the machine's load at that moment) cancels out within a pair, which the
least block of separate processes (printed beside it as a check) does not. Configurations
are interleaved round by round so drift on the shared machine hits each alike.

ddtrace patches pymongo's classes rather than registering listeners, so it traces a client
made before it as well: its pairs are one client's blocks with the patch on and with it
taken off (``unpatch()``, ``patch()`` between blocks, outside the timing).

Peers (installed by the ``bench`` extra): OpenTelemetry's contrib pymongo instrumentation
with the SDK, a sampled span per command exported over OTLP; ddtrace's
``patch(pymongo=True)``, traces sent to a stand-in for the Datadog agent (an HTTP endpoint
in this process, so ddtrace really encodes and sends them). Spans go to an OTLP/gRPC sink in
this process; both sinks' receipts are checked, so a silent exporter cannot flatter a figure.

Run: ``make bench BENCH=pymongo_overhead`` (about 15 minutes). ``BENCH_OPS`` (400) commands
per block, ``BENCH_BLOCKS`` (8) block pairs per process, ``BENCH_ROUNDS`` (5) rounds.

Targets, each for MongoClient and AsyncMongoClient (added = paired figure): obs default
<= 1/3 of the cheapest peer's added CPU; obs metrics only <= the do-nothing listener + 5 us;
an unsampled span <= metrics only + 3 us; obs disabled: no measurable cost, i.e. the 95 %
bootstrap interval of its median minus the null check's (a second bare client) reaches 1 us.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench._otlp_sink import OtlpSink
from obs.demo.servers import MongoProcess

OPS = int(os.environ.get("BENCH_OPS", "400"))  # commands per block
BLOCKS = int(os.environ.get("BENCH_BLOCKS", "8"))  # blocks per process
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))

BASELINE = "a second bare client (null check)"
FLOOR = "do-nothing CommandListener"
DISABLED = "obs disabled"
METRICS = "obs metrics only"
UNSAMPLED = "obs metrics + unsampled span"
DEFAULT = "obs default (sampled span)"
OTEL = "OTel contrib + SDK, OTLP"
DDTRACE = "ddtrace patch(pymongo=True)"
SENTRY = "sentry-sdk's pymongo integration"
PEERS = (OTEL, DDTRACE)
# ddtrace patches pymongo's classes, so it traces a client made before it too: its bare
# blocks run on the measured client with the patch taken off (statements run before a bare
# block, then before a measured block).
TOGGLED = {DDTRACE: ("ddtrace_pymongo.unpatch()", "ddtrace_pymongo.patch()")}
_FLUSH_SPANS = "from opentelemetry import trace; trace.get_tracer_provider().force_flush()"

# name -> (setup run before the measured client is made, flush run at the end of each block)
CONFIGS: dict[str, tuple[str, str]] = {
    BASELINE: ("", ""),
    FLOOR: (
        textwrap.dedent("""
            from pymongo import monitoring
            class Nothing(monitoring.CommandListener):
                def started(self, event): pass
                def succeeded(self, event): pass
                def failed(self, event): pass
            monitoring.register(Nothing())
        """),
        "",
    ),
    DISABLED: ("import obs; obs.init(enabled=False)", ""),
    # Metrics leave once a minute, whatever the traffic: a run's flush would charge a whole
    # export to a few thousand commands, so only spans are flushed.
    METRICS: ("import obs; obs.init(traces=False)", ""),
    "obs metrics + pool timings": (
        "import obs; obs.init(traces=False, mongo_pool_timings=True)",
        "",
    ),
    UNSAMPLED: ("import obs; obs.init(traces_sampler='always_off')", _FLUSH_SPANS),
    DEFAULT: ("import obs; obs.init()", _FLUSH_SPANS),
    "obs sampled span, no statement": (
        "import obs; obs.init(mongo_statement='off')",
        _FLUSH_SPANS,
    ),
    OTEL: (
        textwrap.dedent("""
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            PymongoInstrumentor().instrument()
        """),
        "provider.force_flush()",
    ),
    DDTRACE: (
        textwrap.dedent("""
            import ddtrace; ddtrace.patch(pymongo=True); from ddtrace.trace import tracer
            from ddtrace.contrib.internal.pymongo import patch as ddtrace_pymongo
        """),
        "tracer.flush()",
    ),
    # What obs switches off when it starts Sentry (breadcrumbs only, no transaction).
    SENTRY: (
        textwrap.dedent("""
            import sentry_sdk
            from sentry_sdk.integrations.pymongo import PyMongoIntegration
            sentry_sdk.init(dsn="http://k@127.0.0.1:9/1", default_integrations=False,
                            integrations=[PyMongoIntegration()])
        """),
        "",
    ),
}

# One program for both clients: the async one awaits its commands inside a coroutine.
_PROGRAM = textwrap.dedent("""
    import asyncio, json, sys, time
    import pymongo
    bare = pymongo.{client}(sys.argv[1])  # before the setup: nothing instruments it
    {{setup}}
    client = pymongo.{client}(sys.argv[1])
    {{same}}

    {define} run():
        collections = {{{{"bare": bare.bench.items, "measured": client.bench.items}}}}
        for items in collections.values():
            for i in range(500):
                {wait}items.find_one({{{{"_id": i % 100}}}})
        {{flush}}  # the exporter's first connection is not a block's work
        ops, blocks = int(sys.argv[2]), int(sys.argv[3])
        cpu = {{{{"bare": [], "measured": []}}}}
        for block in range(blocks):
            # each pair's order alternates, so neither side always follows the other
            for name in ("bare", "measured") if block % 2 else ("measured", "bare"):
                items = collections[name]
                if name == "bare":
                    {{off}}
                else:
                    {{on}}
                started = time.process_time()
                for i in range(ops):
                    {wait}items.find_one({{{{"_id": i % 100}}}})
                {{flush}}
                cpu[name].append((time.process_time() - started) / ops * 1e6)
        return cpu

    print(json.dumps({call}))
""")
CLIENTS = {
    "MongoClient": _PROGRAM.format(client="MongoClient", define="def", wait="", call="run()"),
    "AsyncMongoClient": _PROGRAM.format(
        client="AsyncMongoClient", define="async def", wait="await ", call="asyncio.run(run())"
    ),
}


class AgentSink:
    """A stand-in for the Datadog agent's trace intake: accepts every payload, counts them."""

    def __init__(self) -> None:
        self.payloads = 0
        self.bytes = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _accept(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "/traces" in self.path:
                    sink.payloads += 1
                    sink.bytes += len(body)
                self._reply(200, b'{"rate_by_service":{}}')

            do_PUT = do_POST = _accept

            def do_GET(self) -> None:
                self._reply(404, b"{}")

            def _reply(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> AgentSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _run_child(code: str, uri: str, env: dict[str, str], *args: str) -> Any:
    """The JSON a benchmark process printed last."""
    out = subprocess.run(
        [sys.executable, "-c", code, uri, str(OPS), str(BLOCKS), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _environment(otlp: OtlpSink, agent: AgentSink) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_", "DD_", "SENTRY"))
    }
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "DD_TRACE_AGENT_URL": agent.url,
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        "DD_TRACE_STARTUP_LOGS": "false",
    }
    return env


Samples = dict[tuple[str, str], dict[str, list[float]]]
# A quick look at a few rows while working: BENCH_ONLY="obs default,OTel contrib" runs the
# configurations whose names start with one of these (no PASS/MISS without all of them).
_ONLY = [part.strip() for part in os.environ.get("BENCH_ONLY", "").split(",") if part.strip()]
_CLIENTS_ONLY = os.environ.get("BENCH_CLIENTS", "MongoClient,AsyncMongoClient").split(",")


def _selected() -> dict[str, tuple[str, str]]:
    if not _ONLY:
        return CONFIGS
    return {n: c for n, c in CONFIGS.items() if any(n.startswith(o) for o in _ONLY)}


def _measure(uri: str, env: dict[str, str], otlp: OtlpSink, agent: AgentSink) -> Samples:
    samples: Samples = {}
    for round_number in range(ROUNDS):
        for client, template in CLIENTS.items():
            if client not in _CLIENTS_ONLY:
                continue
            for name, (setup, flush) in _selected().items():  # interleaved
                spans, payloads = otlp.received["spans"], agent.payloads
                off, on = TOGGLED.get(name, ("pass", "pass"))
                same = "bare = client" if name in TOGGLED else "pass"
                code = template.format(setup=setup, flush=flush, off=off, on=on, same=same)
                blocks = samples.setdefault((client, name), {"bare": [], "measured": []})
                for side, values in _run_child(code, uri, env).items():
                    blocks[side].extend(values)
                if name in (DEFAULT, OTEL) and otlp.received["spans"] - spans < OPS * BLOCKS:
                    raise RuntimeError(f"{name} ({client}) exported too few spans")
                if name == DDTRACE and agent.payloads == payloads:
                    raise RuntimeError(f"{name} ({client}) sent no traces to the agent")
        print(f"  round {round_number + 1}/{ROUNDS} done", flush=True)
    return samples


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _paired(blocks: dict[str, list[float]]) -> list[float]:
    """Each measured block minus the bare block it was paired with."""
    return [m - b for m, b in zip(blocks["measured"], blocks["bare"], strict=True)]


def _interval(measured: list[float], null: list[float]) -> tuple[float, float]:
    """A 95 % bootstrap interval of the difference of the two rows' medians: "no
    measurable cost" means this interval reaches down to 1 us."""
    rng = random.Random(0)
    differences = sorted(
        statistics.median(rng.choices(measured, k=len(measured)))
        - statistics.median(rng.choices(null, k=len(null)))
        for _ in range(2000)
    )
    return differences[50], differences[1949]


def _report(client: str, samples: Samples) -> None:
    configs = _selected()
    pairs = {name: _paired(samples[client, name]) for name in configs}
    added = {name: statistics.median(values) for name, values in pairs.items()}
    bare = min(min(samples[client, name]["bare"]) for name in configs)
    print(
        f"\n{client}: CPU added per find_one, all threads; the median of {ROUNDS} rounds x "
        f"{BLOCKS} pairs of blocks of {OPS} commands (each block with its span export), "
        f"a pair being a block on the measured client and one on a bare client of the same "
        f"process; the bare client's least block: {bare:.1f} us/op"
    )
    print(
        f"  {'configuration':<40} {'added us':>9} {'middle half of pairs':>21} "
        f"{'least blocks, across processes':>31}"
    )
    for name in configs:
        quartiles = statistics.quantiles(pairs[name], n=4)
        across = min(samples[client, name]["measured"]) - bare
        print(
            f"  {name:<40} {added[name]:+9.1f} {quartiles[0]:+10.1f} to {quartiles[2]:+7.1f} "
            f"{across:+31.1f}"
        )
    if configs is not CONFIGS:
        return
    cheapest = min(PEERS, key=lambda name: added[name])
    ratio = added[DEFAULT] / added[cheapest] if added[cheapest] > 0 else float("inf")
    low, high = _interval(pairs[DISABLED], pairs[BASELINE])
    checks = [
        (
            f"obs default <= 1/3 of the cheapest peer ({cheapest})",
            f"{added[DEFAULT]:+.1f} us = {ratio:.2f} x {added[cheapest]:+.1f} us",
            ratio <= 1 / 3,
        ),
        (
            "obs metrics only <= do-nothing listener + 5 us",
            f"{added[METRICS]:+.1f} us vs {added[FLOOR]:+.1f} + 5 us",
            added[METRICS] <= added[FLOOR] + 5,
        ),
        (
            "unsampled span <= metrics only + 3 us",
            f"{added[UNSAMPLED]:+.1f} us vs {added[METRICS]:+.1f} + 3 us",
            added[UNSAMPLED] <= added[METRICS] + 3,
        ),
        (
            "obs disabled: no measurable cost (vs the null check)",
            f"{added[DISABLED] - added[BASELINE]:+.1f} us, 95 % interval {low:+.1f} to {high:+.1f}",
            low <= 1,
        ),
    ]
    for target, figures, passed in checks:
        print(f"  {_verdict(passed)}  {target:<56} {figures}")


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="obs-bench-mongo-"))
    server = MongoProcess(None, data).start()
    otlp = OtlpSink().start()
    agent = AgentSink().start()
    try:
        import ddtrace
        import pymongo

        with pymongo.MongoClient(server.uri) as client:
            client.bench.items.drop()
            client.bench.items.insert_many([{"_id": i, "v": i} for i in range(100)])
        print(
            f"pymongo {pymongo.version}, ddtrace {ddtrace.__version__}, Python "
            f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; SecantusDB in its own process"
        )
        env = _environment(otlp, agent)
        samples = _measure(server.uri, env, otlp, agent)
        print(
            f"  the OTLP sink received {otlp.summary()}; the agent stand-in "
            f"{agent.payloads} trace payloads ({agent.bytes} bytes)"
        )
        for client_name in CLIENTS:
            if client_name in _CLIENTS_ONLY:
                _report(client_name, samples)
    finally:
        agent.stop()
        otlp.stop()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
