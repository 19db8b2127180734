"""CPU a pymongo command costs with obs and with its peers, all threads counted, in one run.

Each configuration runs in its own Python process (pymongo's global listeners cannot be
removed) against SecantusDB in another process. The process times blocks of commands by
its whole CPU time (``time.process_time``: the request thread and the threads that encode
and send spans), each block ending with a flush of the spans it recorded, so no export work
escapes its block. Configurations are interleaved round by round so drift on the shared
machine hits each alike. The figure is the least block (other work on the machine only
ever adds time); the difference of the medians is printed beside it as a check.

Peers (installed by the ``bench`` extra): OpenTelemetry's contrib pymongo instrumentation
with the SDK, a sampled span per command exported over OTLP; ddtrace's
``patch(pymongo=True)``, traces sent to a stand-in for the Datadog agent (an HTTP endpoint
in this process, so ddtrace really encodes and sends them). Spans go to an OTLP/gRPC sink in
this process; both sinks' receipts are checked, so a silent exporter cannot flatter a figure.

Run: ``make bench BENCH=pymongo_overhead`` (about 8 minutes). ``BENCH_OPS`` (400) commands
per block, ``BENCH_BLOCKS`` (8) blocks per process, ``BENCH_ROUNDS`` (5) rounds.

Targets, each for MongoClient and AsyncMongoClient (added = figure - the bare client's):
obs default <= 1/3 of the cheapest peer's added CPU; obs metrics only <= the do-nothing
listener + 5 us; an unsampled span <= metrics only + 3 us; obs disabled <= 1 us added.
"""

from __future__ import annotations

import json
import os
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

BASELINE = "bare client"
FLOOR = "do-nothing CommandListener"
DISABLED = "obs disabled"
METRICS = "obs metrics only"
UNSAMPLED = "obs metrics + unsampled span"
DEFAULT = "obs default (sampled span)"
OTEL = "OTel contrib + SDK, OTLP"
DDTRACE = "ddtrace patch(pymongo=True)"
SENTRY = "sentry-sdk's pymongo integration"
PEERS = (OTEL, DDTRACE)
_FLUSH_SPANS = "from opentelemetry import trace; trace.get_tracer_provider().force_flush()"

# name -> (setup run before the client is made, flush run at the end of the timed loop)
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
    "obs metrics only, no pool metrics": (
        "import obs; obs.init(traces=False, mongo_pool=False)",
        "",
    ),
    UNSAMPLED: ("import obs; obs.init(traces_sampler='always_off')", _FLUSH_SPANS),
    DEFAULT: ("import obs; obs.init()", _FLUSH_SPANS),
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
        "import ddtrace; ddtrace.patch(pymongo=True); from ddtrace.trace import tracer",
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

_SYNC = textwrap.dedent("""
    import json, sys, time
    {setup}
    import pymongo
    client = pymongo.MongoClient(sys.argv[1])
    items = client.bench.items
    for i in range(500):
        items.find_one({{"_id": i % 100}})
    ops, blocks = int(sys.argv[2]), int(sys.argv[3])
    cpu = []
    for block in range(blocks):
        started = time.process_time()
        for i in range(ops):
            items.find_one({{"_id": i % 100}})
        {flush}
        cpu.append((time.process_time() - started) / ops * 1e6)
    print(json.dumps(cpu))
""")

_ASYNC = textwrap.dedent("""
    import asyncio, json, sys, time
    {setup}
    import pymongo

    async def run():
        client = pymongo.AsyncMongoClient(sys.argv[1])
        items = client.bench.items
        for i in range(500):
            await items.find_one({{"_id": i % 100}})
        ops, blocks = int(sys.argv[2]), int(sys.argv[3])
        cpu = []
        for block in range(blocks):
            started = time.process_time()
            for i in range(ops):
                await items.find_one({{"_id": i % 100}})
            {flush}
            cpu.append((time.process_time() - started) / ops * 1e6)
        return cpu

    print(json.dumps(asyncio.run(run())))
""")
CLIENTS = {"MongoClient": _SYNC, "AsyncMongoClient": _ASYNC}

# obs's own work in place: one process, obs started, its listeners switched off and on
# between blocks (as obs.shutdown() and obs.init() switch them), so both halves share the
# imports, threads and heap; the "on" blocks end with their span export.
_TOGGLE = textwrap.dedent("""
    import json, sys, time
    import obs, pymongo
    from obs.instrumentation import pymongo as listener
    from opentelemetry import trace
    settings = json.loads(sys.argv[4])
    obs.init(**settings)
    client = pymongo.MongoClient(sys.argv[1])
    items = client.bench.items
    for i in range(500):
        items.find_one({"_id": i % 100})
    ops, blocks = int(sys.argv[2]), int(sys.argv[3])
    cpu = {"on": [], "off": []}
    for block in range(2 * blocks):
        on = block % 2 == 0
        listener._enabled = on
        listener._pool_enabled = on and settings.get("mongo_pool", True)
        started = time.process_time()
        for i in range(ops):
            items.find_one({"_id": i % 100})
        if on and settings.get("traces", True):
            trace.get_tracer_provider().force_flush()
        cpu["on" if on else "off"].append((time.process_time() - started) / ops * 1e6)
    print(json.dumps(cpu))
""")
IN_PLACE = {
    "metrics only": {"traces": False},
    "metrics only, no pool metrics": {"traces": False, "mongo_pool": False},
    "metrics + unsampled span": {"traces_sampler": "always_off"},
    "default (sampled span)": {},
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


def _measure(uri: str, env: dict[str, str], otlp: OtlpSink, agent: AgentSink) -> Any:
    samples: dict[tuple[str, str], list[float]] = {}
    for round_number in range(ROUNDS):
        for client, template in CLIENTS.items():
            for name, (setup, flush) in CONFIGS.items():  # interleaved
                spans, payloads = otlp.received["spans"], agent.payloads
                code = template.format(setup=setup, flush=flush)
                samples.setdefault((client, name), []).extend(_run_child(code, uri, env))
                if name in (DEFAULT, OTEL) and otlp.received["spans"] - spans < OPS * BLOCKS:
                    raise RuntimeError(f"{name} ({client}) exported too few spans")
                if name == DDTRACE and agent.payloads == payloads:
                    raise RuntimeError(f"{name} ({client}) sent no traces to the agent")
        print(f"  round {round_number + 1}/{ROUNDS} done", flush=True)
    return samples


def _in_place(uri: str, env: dict[str, str]) -> None:
    print(
        f"\nobs's own work in place (MongoClient): blocks with obs's listeners on minus off in "
        f"one process, median of {ROUNDS} rounds x {BLOCKS} block pairs"
    )
    runs: dict[str, dict[str, list[float]]] = {n: {"on": [], "off": []} for n in IN_PLACE}
    for _ in range(ROUNDS):
        for name, settings in IN_PLACE.items():
            halves = _run_child(_TOGGLE, uri, env, json.dumps(settings))
            for half, values in halves.items():
                runs[name][half].extend(values)
    for name, halves in runs.items():
        pairs = [on - off for on, off in zip(halves["on"], halves["off"], strict=True)]
        print(
            f"  {name:<40} {statistics.median(pairs):+7.1f} us/op  (least blocks: "
            f"{min(halves['on']) - min(halves['off']):+.1f})"
        )


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _report(client: str, samples: dict[tuple[str, str], list[float]]) -> None:
    best = {name: min(samples[client, name]) for name in CONFIGS}
    base = best[BASELINE]
    added = {name: value - base for name, value in best.items()}
    print(
        f"\n{client}: CPU per find_one, all threads, the least of {ROUNDS} rounds x {BLOCKS} "
        f"blocks of {OPS} commands (each block with its span export)"
    )
    middle = statistics.median(samples[client, BASELINE])
    print(f"  {'configuration':<40} {'CPU us/op':>9} {'added us':>9} {'added, medians':>15}")
    for name in CONFIGS:
        median = statistics.median(samples[client, name])
        print(f"  {name:<40} {best[name]:9.1f} {added[name]:+9.1f} {median - middle:+15.1f}")
    cheapest = min(PEERS, key=lambda name: added[name])
    ratio = added[DEFAULT] / added[cheapest] if added[cheapest] > 0 else float("inf")
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
            "obs disabled: <= 1 us added",
            f"{added[DISABLED]:+.1f} us",
            added[DISABLED] <= 1,
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
            _report(client_name, samples)
        _in_place(server.uri, env)
    finally:
        agent.stop()
        otlp.stop()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
