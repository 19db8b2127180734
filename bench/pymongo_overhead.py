"""CPU time obs adds to each pymongo command, against doing nothing, in the same run.

Two measurements:

1. End to end: each configuration runs in its own Python process (pymongo's global
   listeners cannot be removed) against SecantusDB running as a separate process, and
   reports the CPU time per ``find_one`` of the request thread, and apart from it the CPU
   the background threads spent exporting spans and metrics. Added cost = configuration
   minus the no-instrumentation baseline, on the request thread.
2. Hooks alone: obs's listener methods called directly with real pymongo events, which
   isolates obs's own work from the event objects pymongo builds when any listener exists.

Run: ``make bench BENCH=pymongo_overhead`` (``python -m bench pymongo_overhead``).
Targets (issue 2): <= 8 us per command with metrics only, <= 25 us with a sampled span,
<= 1 us with obs disabled.
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
import time
from pathlib import Path

from bench._otlp_sink import OtlpSink
from obs.demo.servers import MongoProcess

OPS = int(os.environ.get("BENCH_OPS", "4000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))

# name -> setup code run in the child before the client is made
CONFIGS: dict[str, str] = {
    "baseline (no instrumentation)": "",
    "obs disabled (OBS_ENABLED=false)": "import obs; obs.init(enabled=False)",
    "obs metrics only (OBS_TRACES=false)": "import obs; obs.init(traces=False)",
    "obs metrics only, no pool metrics": "import obs; obs.init(traces=False, mongo_pool=False)",
    "obs metrics + unsampled span": "import obs; obs.init(traces_sampler='always_off')",
    "obs metrics + sampled span": "import obs; obs.init(traces_sampler='always_on')",
    "OTel contrib pymongo, sampled span": textwrap.dedent("""
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
    "sentry-sdk pymongo integration (no span)": textwrap.dedent("""
        import sentry_sdk
        sentry_sdk.init(dsn='http://k@127.0.0.1:9/1', default_integrations=False,
                        integrations=[__import__('sentry_sdk.integrations.pymongo',
                                      fromlist=['x']).PyMongoIntegration()])
    """),
}

_CHILD = textwrap.dedent("""
    import json, sys, time
    {setup}
    import pymongo
    client = pymongo.MongoClient(sys.argv[1])
    items = client.bench.items
    for i in range(500):
        items.find_one({{"_id": i % 100}})
    ops = int(sys.argv[2])
    thread, process = time.thread_time(), time.process_time()
    for i in range(ops):
        items.find_one({{"_id": i % 100}})
    thread, process = time.thread_time() - thread, time.process_time() - process
    print(json.dumps({{"request_us": thread / ops * 1e6,
                      "background_us": (process - thread) / ops * 1e6}}))
""")


def _run_child(setup: str, uri: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(setup=setup), uri, str(OPS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _end_to_end(uri: str, sink_endpoint: str) -> dict[str, tuple[float, float]]:
    """Per configuration: (request-thread CPU per op, background-thread CPU per op).

    The request thread's figure is the minimum over rounds (noise on a shared machine only
    ever adds time); the background figure (span and metric export) is the median.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_", "SENTRY"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink_endpoint
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    for round_number in range(ROUNDS):
        for name, setup in CONFIGS.items():  # interleaved, so drift hits every config alike
            samples[name].append(_run_child(setup, uri, env))
        print(f"  round {round_number + 1}/{ROUNDS} done", flush=True)
    return {
        name: (
            min(r["request_us"] for r in runs),
            statistics.median(r["background_us"] for r in runs),
        )
        for name, runs in samples.items()
    }


def _hooks_alone() -> dict[str, float]:
    """us of obs's own listener work per command, events prebuilt by pymongo's classes."""
    import datetime

    from pymongo import monitoring

    import obs
    from obs.instrumentation import pymongo as listener

    command = {
        "find": "items",
        "filter": {"_id": 7},
        "limit": 1,
        "singleBatch": True,
        "lsid": {"id": b"x" * 16},
        "$db": "bench",
    }
    reply = {"ok": 1, "cursor": {"firstBatch": [], "id": 0, "ns": "bench.items"}}
    address = ("127.0.0.1", 27017)
    results = {}
    for name, settings in (
        ("metrics only", {"traces": False}),
        ("metrics + unsampled span", {"traces_sampler": "always_off"}),
        ("metrics + sampled span", {"traces_sampler": "always_on"}),
    ):
        obs.init(otlp_endpoint=os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"], **settings)
        n = 20_000
        started = [
            monitoring.CommandStartedEvent(command, "bench", i, address, i) for i in range(n)
        ]
        done = [
            monitoring.CommandSucceededEvent(
                datetime.timedelta(microseconds=800),
                reply,
                "find",
                i,
                address,
                i,
                database_name="bench",
            )
            for i in range(n)
        ]
        on_start, on_success = listener.COMMANDS.started, listener.COMMANDS.succeeded
        cpu = time.process_time()
        for i in range(n):
            on_start(started[i])
            on_success(done[i])
        results[name] = (time.process_time() - cpu) / n * 1e6
        obs.shutdown()
    return results


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="obs-bench-mongo-"))
    server = MongoProcess(None, data).start()
    sink = OtlpSink().start()
    try:
        uri = server.uri
        import pymongo

        with pymongo.MongoClient(uri) as client:
            client.bench.items.drop()
            client.bench.items.insert_many([{"_id": i, "v": i} for i in range(100)])
        print(
            f"End to end: CPU per find_one on the request thread (min of {ROUNDS} rounds x "
            f"{OPS} ops) and on background threads (median), SecantusDB in its own process"
        )
        results = _end_to_end(uri, sink.endpoint)
        print(f"  the OTLP sink received {sink.summary()}")
        if not sink.received["spans"] or not sink.received["metric points"]:
            raise RuntimeError("the instrumented runs exported nothing: the figures would lie")
        base = results["baseline (no instrumentation)"][0]
        for name, (request, background) in results.items():
            print(
                f"  {name:<42} {request:7.1f} us/op  added {request - base:+6.1f} us "
                f"(x{request / base:.3f})  background {background:5.1f} us/op"
            )
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
        print("Hooks alone: obs's listener work per command (started + succeeded)")
        for name, value in _hooks_alone().items():
            print(
                f"  {name:<42} {value:8.2f} us/op  ({value / base * 100:.1f} % of a "
                "baseline command)"
            )
    finally:
        sink.stop()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
