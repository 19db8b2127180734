"""obs preview's cost: reading a big scrape, and drawing a dashboard over a full window.

An agent watching 1,000 BullMQ queues exposes 12,000 series (eight states, paused flag,
oldest age, completed and failed counts per queue), rendered here by obs's own writer.

1. Reading one scrape: prometheus_client's parser alone (the baseline, in the same run),
   then obs's read (parser plus the catalog mapping), then recording it in the store.
2. Drawing: the page model of the BullMQ dashboard (every widget evaluated) over a full
   default window (15 min at a 5 s interval: 181 rounds) of those 12,000 series, and the
   store's memory (tracemalloc) for that window.

Run: ``make bench BENCH=preview`` (``python -m bench preview``): ~1 minute.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from obs import catalog
from obs.catalog import attr
from obs.dashboards import queues
from obs.export.prometheus_text import render
from obs.preview.mapping import SampleNames
from obs.preview.model import dashboard_model
from obs.preview.scrape import parse
from obs.preview.store import Store

QUEUES = 1000
STATES = (
    "wait",
    "active",
    "paused",
    "prioritized",
    "delayed",
    "waiting-children",
    "completed",
    "failed",
)
ROUNDS = 181


def exposition(step: int) -> str:
    """The agent's /metrics for QUEUES queues after ``step`` scrapes."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("bench")
    jobs = catalog.BULLMQ_QUEUE_JOBS.create_gauge(meter)
    paused = catalog.BULLMQ_QUEUE_PAUSED.create_gauge(meter)
    age = catalog.BULLMQ_OLDEST_WAITING_AGE.create_gauge(meter)
    completed = catalog.BULLMQ_JOBS_COMPLETED.create_counter(meter)
    failed = catalog.BULLMQ_JOBS_FAILED.create_counter(meter)
    for q in range(QUEUES):
        queue = {attr.SERVER_ADDRESS: "redis", attr.QUEUE_PREFIX: "bull", attr.QUEUE_NAME: f"q{q}"}
        for i, state in enumerate(STATES):
            jobs.set(q % 7 + i + step % 3, {**queue, attr.QUEUE_STATE: state})
        paused.set(0, queue)
        age.set(step % 11, queue)
        completed.add(1 + step * 5, queue)
        failed.add(step, queue)
    return render(reader.get_metrics_data()).decode()


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    names = SampleNames(catalog.CATALOG.values())
    text = exposition(1)
    samples = sum(len(f.samples) for f in text_string_to_metric_families(text))
    print(f"one scrape: {samples} samples, {len(text) / 1e6:.1f} MB of text")
    baseline = best_of(5, lambda: [f.samples for f in text_string_to_metric_families(text)])
    obs_read = best_of(5, lambda: parse(text, names))
    print(f"  prometheus_client parser alone  {baseline * 1000:7.0f} ms  (baseline)")
    print(
        f"  obs read (parser + mapping)     {obs_read * 1000:7.0f} ms  {obs_read / baseline:.2f}x"
    )
    scrapes = [parse(exposition(step), names) for step in range(3)]
    store = Store(capacity=ROUNDS, max_series=20_000)
    tracemalloc.start()
    record_times = []
    for r in range(ROUNDS):
        index = store.begin_round(float(r * 5))
        started = time.perf_counter()
        store.add(index, "agent", scrapes[r % 3], float(r * 5))
        record_times.append(time.perf_counter() - started)
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"  recording it in the store       {statistics.median(record_times) * 1000:7.0f} ms  "
        f"{statistics.median(record_times) / baseline:.2f}x"
    )
    print(f"full window: {store.series_count()} series x {ROUNDS} rounds")
    print(
        f"  store memory                    {memory / 2**20:7.0f} MiB  "
        f"({memory / store.series_count() / ROUNDS:.0f} bytes per point)"
    )
    drawing = best_of(3, lambda: dashboard_model(queues.DASHBOARD, store, {}))
    print(f"  page model of obs.queues        {drawing * 1000:7.0f} ms  {drawing / baseline:.2f}x")


if __name__ == "__main__":
    main()
