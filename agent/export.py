"""The agent's OpenTelemetry instruments, one per agent metric of the catalog.

Readings (gauges and counters) are observed from the :class:`~obs.agent.store.Store` each
time a reader collects: the OTLP exporter on its interval, the Prometheus endpoint on
each scrape, ``--once`` at the end. Observations go into histograms as they come. Every
instrument comes from a catalog entry, so nothing undeclared can be exported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Histogram, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource

from obs import __version__, catalog
from obs.agent.points import Point
from obs.agent.store import Store
from obs.catalog import Emitter, Kind, Metric

SCOPE = "obs.agent"


def _observer(store: Store, metric: Metric) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, dict(labels)) for labels, value in store.readings(metric)]

    return observe


class Exporter:
    """A meter provider feeding ``readers`` from ``store`` and recorded observations."""

    def __init__(self, store: Store, readers: Sequence[MetricReader], resource: Resource) -> None:
        self.provider = MeterProvider(resource=resource, metric_readers=list(readers))
        meter = self.provider.get_meter(SCOPE, __version__)
        self.histograms: dict[str, Histogram] = {}
        for metric in catalog.emitted_by(Emitter.AGENT):
            if metric.kind is Kind.HISTOGRAM:
                self.histograms[metric.name] = metric.create_histogram(meter)
            else:
                metric.create_observable(meter, _observer(store, metric))

    def observe(self, points: Iterable[Point]) -> None:
        """Record histogram samples."""
        for point in points:
            self.histograms[point.metric.name].record(point.value, dict(point.attributes))

    def shutdown(self, timeout: float = 5.0) -> None:
        self.provider.shutdown(timeout_millis=timeout * 1000)


def prometheus_reader() -> tuple[Any, Any]:
    """(reader, registry): a Prometheus reader on a registry of its own, for /metrics."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    return PrometheusMetricReader(registry=registry), registry
