"""What the agent exports: a snapshot of every catalog metric it holds, in OpenTelemetry's
data model, sent over OTLP on an interval, rendered on /metrics and printed by --once.

Readings (gauges and counters, the bulk: ten-odd per queue) go straight from the
:class:`~obs.agent.store.Store` into the snapshot. Routing them through the SDK's
observable instruments would hash, clean and keep every series once per reader, which
cost the agent several times its CPU target at 1,000 queues (bench/agent_queues.py);
the store already holds each series' latest value, which is all a gauge or cumulative
sum needs. OTLP requests are encoded from the store by :mod:`obs.agent.otlp`, which keeps
each series' encoded attributes (the SDK's encoder cost as much again). Histograms
(collection and profiled-operation durations, few series) keep the SDK's aggregation,
from a histogram-only meter provider with a pull reader.

OTLP follows ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``; /metrics, --once and
snapshots stay cumulative. Delta histograms come from a second reader of their own (the
SDK keeps each reader's state apart, so a scrape never takes an export's interval). Delta
counters are the increments of the store's running totals between exports, each point
starting at the export that last saw its series; a series' first reading is its baseline
(like the Datadog Agent and the Collector's cumulativetodelta processor, which drop the
first cumulative point): a server's count since its start is not one interval's work.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    InMemoryMetricReader,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from obs import catalog
from obs.agent.otlp import DeltaRun, Encoded, RequestEncoder
from obs.agent.points import Attributes, Point
from obs.agent.store import Family, Store
from obs.catalog import Emitter, Kind
from obs.export.deadline import Deadline
from obs.export.prometheus_text import Renderer
from obs.internals import InternalsChanged, otel_sdk
from obs.version import __version__

SCOPE = "obs.agent"
log = logging.getLogger("obs.agent")


# A series missing from this many exports in a row (its target gone) is forgotten; back
# after that, it starts from a new baseline.
_DELTA_MEMORY = 30


class _CounterDeltas:
    """Per-interval increments of counter totals, for delta temporality."""

    def __init__(self) -> None:
        # (metric name, attributes) -> (total at its last export, that export's time, number)
        self._last: dict[tuple[str, Attributes], tuple[float, int, int]] = {}
        self._exports = 0

    def runs(self, families: Iterable[Family], now: int) -> list[DeltaRun]:
        """The increments since each series' last export, as runs sharing a start."""
        runs: list[DeltaRun] = []
        for metric, readings in families:
            by_start: dict[int, list[tuple[Attributes, float]]] = {}
            for attributes, total in readings:
                key = (metric.name, attributes)
                last = self._last.get(key)
                self._last[key] = (total, now, self._exports)
                if last is not None:  # else: the baseline
                    by_start.setdefault(last[1], []).append((attributes, total - last[0]))
            runs.extend(DeltaRun(metric, points, start) for start, points in by_start.items())
        self._exports += 1
        oldest = self._exports - _DELTA_MEMORY
        self._last = {k: v for k, v in self._last.items() if v[2] >= oldest}
        return runs


class Exporter:
    """Snapshots of ``store`` plus the recorded histograms; OTLP requests in the temporality
    asked for (``delta_counters``, ``delta_histograms``; cumulative by default)."""

    def __init__(
        self,
        store: Store,
        resource: Resource,
        *,
        delta_counters: bool = False,
        delta_histograms: bool = False,
    ) -> None:
        self.store = store
        self.resource = resource
        self.scope = InstrumentationScope(SCOPE, __version__)
        self.started = time.time_ns()
        self._histogram_reader = InMemoryMetricReader()
        readers = [self._histogram_reader]
        self._delta_reader: InMemoryMetricReader | None = None
        if delta_histograms:
            self._delta_reader = InMemoryMetricReader(
                preferred_temporality={HistogramInstrument: AggregationTemporality.DELTA}
            )
            readers.append(self._delta_reader)
        self._deltas = _CounterDeltas() if delta_counters else None
        self._provider = MeterProvider(resource=resource, metric_readers=readers)
        meter = self._provider.get_meter(SCOPE, __version__)
        self.histograms = {
            m.name: m.create_histogram(meter)
            for m in catalog.emitted_by(Emitter.AGENT)
            if m.kind is Kind.HISTOGRAM
        }
        self.read = [m for m in catalog.emitted_by(Emitter.AGENT) if m.kind is not Kind.HISTOGRAM]
        self._encoder = RequestEncoder(resource, self.scope)
        self._renderer = Renderer()

    def observe(self, points: Iterable[Point]) -> None:
        """Record histogram samples."""
        for point in points:
            self.histograms[point.metric.name].record(point.value, dict(point.attributes))

    def families(self) -> list[Family]:
        """The readings of every gauge and counter, by metric."""
        return [(metric, self.store.readings(metric)) for metric in self.read]

    def _readings(self, now: int) -> list[Metric]:
        metrics = []
        for metric, readings in self.families():
            points = [
                NumberDataPoint(dict(labels), self.started, now, value)
                for labels, value in readings
            ]
            if not points:
                continue
            data: Gauge | Sum
            if metric.kind is Kind.GAUGE:
                data = Gauge(points)
            else:
                monotonic = metric.kind is Kind.COUNTER
                data = Sum(points, AggregationTemporality.CUMULATIVE, monotonic)
            metrics.append(Metric(metric.name, metric.description, metric.unit, data))
        return metrics

    def _histograms(self, reader: InMemoryMetricReader | None = None) -> list[Metric]:
        collected = (reader or self._histogram_reader).get_metrics_data()
        return [
            metric
            for resource_metrics in (collected.resource_metrics if collected else ())
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
            if isinstance(metric.data, HistogramData)
        ]

    def snapshot(self, now: int | None = None) -> MetricsData:
        """Every agent metric as it stands now (or stamped ``now``, in ns)."""
        metrics = self._readings(now or time.time_ns()) + self._histograms()
        metrics.sort(key=lambda m: m.name)
        scope = ScopeMetrics(self.scope, metrics, "")
        return MetricsData([ResourceMetrics(self.resource, [scope], "")])

    def encoded(self, now: int | None = None) -> Iterator[Encoded]:
        """The same as :meth:`snapshot`, as OTLP requests in the temporality asked for (for
        the one exporting thread: a delta export starts the next interval)."""
        now = now or time.time_ns()
        families = self.families()
        runs: list[DeltaRun] = []
        if self._deltas is not None:
            counters = [f for f in families if f[0].kind is Kind.COUNTER]
            families = [f for f in families if f[0].kind is not Kind.COUNTER]
            runs = self._deltas.runs(counters, now)
        histograms = self._histograms(self._delta_reader)
        return self._encoder.encode(families, histograms, self.started, now, runs)

    def prometheus_text(self) -> Iterator[bytes]:
        """The same as :meth:`snapshot`, as Prometheus text in pieces (one body: the
        pieces joined), each made when it is taken."""
        return self._renderer.render(self.families(), self._histograms())

    def shutdown(self) -> None:
        self._provider.shutdown()


class OtlpLoop:
    """Exports a snapshot every ``interval`` seconds from a daemon thread, and once more
    at stop. A failed export is logged once until one succeeds again (the OTLP exporter
    already retries with backoff within its timeout).

    :meth:`stop` keeps its timeout whatever the collector does: the requests still to send
    get the time left (through the SDK exporter's timeout, :mod:`obs.internals.otel_sdk`),
    and an export under way past it is cancelled by closing the exporter."""

    def __init__(self, exporter: Exporter, otlp: Any, interval: float) -> None:
        self.exporter = exporter
        self.otlp = otlp
        self.interval = interval
        self.failing = False
        self._stop = threading.Event()
        self._deadline: Deadline | None = None  # once stopping: every export keeps it
        self._thread = threading.Thread(target=self._run, name="otlp-export", daemon=True)
        try:
            self._timeout: float | None = otel_sdk.export_timeout(otlp)
        except InternalsChanged:  # not an SDK OTLP exporter: its own timeout it is
            self._timeout = None

    def _send(self, export: Callable[[], Any], deadline: Deadline | None) -> bool:
        """One export, given at most the time left to ``deadline``."""
        from opentelemetry.sdk.metrics.export import MetricExportResult

        if deadline is not None and deadline.passed:
            return False
        if self._timeout is not None:
            left = self._timeout if deadline is None else deadline.remaining()
            otel_sdk.set_export_timeout(self.otlp, min(self._timeout, left))
        return export() is MetricExportResult.SUCCESS

    def export_once(self, deadline: Deadline | None = None) -> bool:
        deadline = deadline or self._deadline
        try:
            export_encoded = getattr(self.otlp, "export_encoded", None)
            if export_encoded is not None:  # obs's own exporters (obs.agent.otlp_*)
                # One request after the other; the first that fails ends this export.
                ok = all(
                    self._send(functools.partial(export_encoded, r), deadline)
                    for r in self.exporter.encoded()
                )
            else:  # any other MetricExporter
                millis = deadline.millis() if deadline is not None else 10_000
                snapshot = self.exporter.snapshot()
                ok = self._send(lambda: self.otlp.export(snapshot, timeout_millis=millis), deadline)
        except Exception as exc:  # an exporter bug must not stop the agent
            log.debug("OTLP export raised %s", type(exc).__name__)
            ok = False
        if not ok and not self.failing:
            log.warning("OTLP export failed; retrying every %.0f s", self.interval)
        elif ok and self.failing:
            log.info("OTLP export recovered")
        self.failing = not ok
        return ok

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.export_once()
            except Exception:  # its logging failed: the next export still comes
                log.debug("OTLP export loop failed", exc_info=True)

    def start(self) -> OtlpLoop:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """The export thread runs (or was stopped on purpose)."""
        return self._thread.is_alive() or self._stop.is_set()

    def stop(self, timeout: float = 5.0) -> bool:
        """Export a last snapshot and close the exporter within ``timeout`` seconds; True
        when everything was exported."""
        deadline = self._deadline = Deadline.after(timeout)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(deadline.remaining())
        ok = not self._thread.is_alive() and self.export_once(deadline)
        self.otlp.shutdown(timeout_millis=deadline.millis())
        return ok
