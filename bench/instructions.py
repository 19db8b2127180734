"""Instructions per pymongo command on the request thread, and per span on the export
thread, counted by valgrind's callgrind: figures the machine's load does not move.

The paired CPU benchmark (``pymongo_overhead``) measures what a user pays, but on a shared
VM its pairs spread by tens of microseconds on a bad day; this one counts the instructions
the same work executes, so a change of a few percent is seen on any day. It is a guide,
not the target: it leaves out pymongo's own work, the export thread's gRPC send, and what
cache misses cost between pymongo's steps (the reason in-flow microseconds run three to
four times a tight loop's).

Method: a real ``find_one`` against SecantusDB is recorded (its started and succeeded
events, pickled). Each configuration then runs in its own process under callgrind, once
with no command and once with ``BENCH_COMMANDS`` (4,000) calls of its listener's
``started`` and ``succeeded`` on those events; the difference over the count is the
figure; the masked statement is also counted alone. No span is exported during the count
(the batch processor waits an hour and holds every span). The peer is OpenTelemetry's
contrib listener with the SDK and a batch processor; the floor a listener whose methods
do nothing. Span encoding: 512 leaf spans like a ``find_one``'s, encoded by obs's encoder
and by the SDK's reference encoder.

Run: ``make bench BENCH=instructions`` (about 5 minutes; skipped without valgrind).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from obs.demo.servers import MongoProcess

COMMANDS = int(os.environ.get("BENCH_COMMANDS", "4000"))
ENCODES = int(os.environ.get("BENCH_ENCODES", "20"))  # batches of 512 spans

FLOOR = "do-nothing CommandListener"
CONTRIB = "OTel contrib + SDK (request thread)"
# name -> setup; the setup binds `listener` (the object whose started/succeeded run)
LISTENERS = {
    FLOOR: """
        from pymongo import monitoring
        class Nothing(monitoring.CommandListener):
            def started(self, event): pass
            def succeeded(self, event): pass
            def failed(self, event): pass
        listener = Nothing()
    """,
    "obs metrics only": "import obs; obs.init(traces=False)",
    "obs metrics + unsampled span": "import obs; obs.init(traces_sampler='always_off')",
    "obs default (sampled span)": "import obs; obs.init()",
    "obs sampled span, no statement": "import obs; obs.init(mongo_statement='off')",
    CONTRIB: """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
        from pymongo import monitoring
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        PymongoInstrumentor().instrument()
        listener = monitoring._LISTENERS.command_listeners[-1]  # the one it registered
    """,
}
_LISTENER_PROGRAM = """
import os, pickle, sys
started, succeeded = pickle.load(open(sys.argv[1], "rb"))
{setup}
if "listener" not in globals():
    from obs.instrumentation.pymongo import COMMANDS as listener
def run(n):
    for _ in range(n):
        listener.started(started)
        listener.succeeded(succeeded)
run(1)  # the first command binds its attributes
run(int(sys.argv[2]))
os._exit(0)  # no exit handlers: they would export
"""
ENCODERS = {
    "obs SpanEncoder": "encode = SpanEncoder().encode; batch = spans",
    "SDK encode_spans (reference)": (
        "batch = [s.readable() for s in spans]\n"
        "encode = lambda b: encode_spans(b).SerializeToString()"
    ),
}
_ENCODER_PROGRAM = """
import os, sys
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from obs.export.otlp_spans import SpanEncoder
from random import getrandbits
from obs.runtime.leaf_spans import LeafSpan, LeafTracer
tracer = LeafTracer(TracerProvider(resource=Resource({{"service.name": "shop"}})), "obs", "1")
attributes = {{"db.system.name": "mongodb", "db.namespace": "bench",
    "db.operation.name": "find", "db.collection.name": "items",
    "server.address": "127.0.0.1", "server.port": 27017}}
spans = []
for _ in range(512):  # as LeafTracer.leaf makes them for a sampled root span
    span = LeafSpan(tracer, "find items", getrandbits(128), getrandbits(64), 1, None, None,
                    attributes)
    span.set_attribute("db.query.text", '{{"find":"items","filter":{{"_id":"?"}},"limit":"?"}}')
    span.end_time = span.start_time + 250_000
    spans.append(span)
{setup}
encode(batch)
for _ in range(int(sys.argv[2])):
    encode(batch)
os._exit(0)
"""
_VALGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")
# The masked statement of the recorded command: its skeleton, then the cached text.
_STATEMENT_PROGRAM = """
import os, pickle, sys
from obs.mongo_queries.masking import masked_text
started, succeeded = pickle.load(open(sys.argv[1], "rb"))
command = started.command
def run(n):
    for _ in range(n):
        masked_text(command)
run(1)
run(int(sys.argv[2]))
os._exit(0)
"""
_COLLECTED = re.compile(r"Collected : (\d+)")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_"))}
    return env | {
        "PYTHONHASHSEED": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
        "OTEL_BSP_SCHEDULE_DELAY": "3600000",
        "OTEL_BSP_MAX_QUEUE_SIZE": "1000000",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1000000",
    }


def _instructions(program: str, argument: str, count: int) -> int:
    out = subprocess.run(
        [*_VALGRIND, sys.executable, "-c", program, argument, str(count)],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=900,
        check=False,
    )
    found = _COLLECTED.search(out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def _per_unit(program: str, argument: str, count: int, unit: int = 1) -> float:
    """Instructions per unit of work: a run with ``count`` units minus one with none."""
    with ThreadPoolExecutor(2) as pool:
        none, some = pool.map(lambda n: _instructions(program, argument, n), (0, count))
    return (some - none) / (count * unit)


def _record_events(path: Path) -> None:
    import pymongo
    from pymongo import monitoring

    class Recording(monitoring.CommandListener):
        def __init__(self) -> None:
            self.events: list[object] = []

        def started(self, event: object) -> None:
            self.events.append(event)

        succeeded = failed = started

    server = MongoProcess(None, Path(tempfile.mkdtemp(prefix="obs-bench-mongo-"))).start()
    try:
        recording = Recording()
        with pymongo.MongoClient(server.uri, event_listeners=[recording]) as client:
            client.bench.items.insert_many([{"_id": i, "v": i} for i in range(100)])
            client.bench.items.find_one({"_id": 42})
            found = recording.events[-2:]  # before close() sends endSessions
        if [event.command_name for event in found] != ["find", "find"]:  # type: ignore[attr-defined]
            raise RuntimeError(f"recorded {found} instead of a find")
        path.write_bytes(pickle.dumps(tuple(found)))
    finally:
        server.stop()


def main() -> None:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: skipped (apt-get install valgrind)")
        return
    events = Path(tempfile.mkdtemp(prefix="obs-bench-events-")) / "find_one.pickle"
    _record_events(events)
    print(f"per find_one, request thread, {COMMANDS} commands on recorded events")
    print(f"  {'configuration':40s} {'instructions':>12s} {'x floor':>8s} {'x contrib':>10s}")
    figures = {
        name: _per_unit(
            _LISTENER_PROGRAM.format(setup=textwrap.dedent(setup)), str(events), COMMANDS
        )
        for name, setup in LISTENERS.items()
    }
    for name, figure in figures.items():
        print(
            f"  {name:40s} {figure:12,.0f} {figure / figures[FLOOR]:8.1f}"
            f" {figure / figures[CONTRIB]:10.2f}"
        )
    statement = _per_unit(_STATEMENT_PROGRAM, str(events), COMMANDS * 5)
    print(f"  {'of which the masked statement':40s} {statement:12,.0f}")
    print(f"per leaf span, the export thread's encoding, {ENCODES} batches of 512")
    encoded = {
        name: _per_unit(_ENCODER_PROGRAM.format(setup=setup), "-", ENCODES, unit=512)
        for name, setup in ENCODERS.items()
    }
    reference = encoded["SDK encode_spans (reference)"]
    for name, figure in encoded.items():
        print(f"  {name:40s} {figure:12,.0f} {figure / reference:8.2f} x the reference")
    print("  (obs's encoder writes the reference's bytes: tests/test_otlp_spans.py)")
