"""OpenTelemetry providers: the app's own when it set them up, else obs's, exporting OTLP.

obs's providers sample by the standard sampler settings, batch spans in a bounded queue
(``OTEL_BSP_*`` apply) and export metrics periodically (``OTEL_METRIC_EXPORT_*`` apply), all
on background threads: a request thread never waits for an export. The SDK restarts those
threads and renews ``process.pid`` in a forked child (gunicorn and uwsgi workers).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace

# The API's placeholder until someone sets a provider; private, but the only way to tell
# "nobody configured metrics" from "the application did".
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from obs.export import otel_env, resource
from obs.lifecycle import log_limits
from obs.lifecycle.prometheus_endpoint import PrometheusEndpoint
from obs.privacy.span_exceptions import ScrubbedSpanExporter
from obs.runtime.hot_metrics import HotMetrics
from obs.runtime.settings import Settings

logger = logging.getLogger("obs")
SCOPE = "obs"
__all__ = [
    "SCOPE",
    "Providers",
    "Resource",
    "exporter_kwargs",
    "make_resource",
    "start_metrics",
    "start_traces",
]


def make_resource(settings: Settings) -> Resource:
    return Resource.create(
        resource.attributes(
            service_name=settings.service_name,
            service_version=settings.service_version,
            environment=settings.environment,
            extra=settings.resource_attributes,
        )
    )


def sampler(settings: Settings) -> Sampler:
    """The sampler the standard ``OTEL_TRACES_SAMPLER(_ARG)`` settings name."""
    ratio = TraceIdRatioBased(settings.traces_sampler_arg)
    root: Sampler = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": ratio,
        "parentbased_always_on": ALWAYS_ON,
        "parentbased_always_off": ALWAYS_OFF,
        "parentbased_traceidratio": ratio,
    }[settings.traces_sampler]
    return ParentBased(root) if settings.traces_sampler.startswith("parentbased") else root


def exporter_kwargs(settings: Settings, signal: str) -> dict[str, Any]:
    """The OTLP exporter arguments the settings imply for ``signal`` (headers, endpoint)."""
    headers = {k: v.get_secret_value() for k, v in settings.otlp_headers.items()}
    return otel_env.exporter_kwargs(settings.otlp_endpoint, settings.otlp_protocol, headers, signal)


# signal -> (HTTP/protobuf exporter, gRPC exporter), as "module:class"
_EXPORTERS = {
    "traces": (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter:OTLPSpanExporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter:OTLPSpanExporter",
    ),
    "metrics": (
        "opentelemetry.exporter.otlp.proto.http.metric_exporter:OTLPMetricExporter",
        "opentelemetry.exporter.otlp.proto.grpc.metric_exporter:OTLPMetricExporter",
    ),
}


def otlp_exporter(settings: Settings, signal: str) -> Any:
    """The OTLP exporter of ``signal`` ("traces" or "metrics") for the configured protocol;
    only the chosen protocol's module is imported."""
    import importlib

    http, grpc = _EXPORTERS[signal]
    module, _, name = (http if settings.otlp_protocol == "http/protobuf" else grpc).partition(":")
    try:
        exporter_class = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if settings.otlp_protocol == "grpc":
            raise otel_env.GrpcMissing() from exc
        raise
    return exporter_class(**exporter_kwargs(settings, signal))


class _HotMerge:
    """Adds obs's hot-path families (:mod:`obs.runtime.hot_metrics`) to what the SDK collected.

    The SDK calls ``_receive_metrics`` only when its own instruments have data; obs always
    has some (``obs.instrumentation.errors`` reports a zero per hook), so the hot families
    travel with every collection.
    """

    hot: HotMetrics | None = None

    def _merged(self, data: MetricsData) -> MetricsData:
        preferences = getattr(self, "_instrument_class_temporality", {})  # MetricReader's
        extra = self.hot.collect(preferences) if self.hot else []
        if not extra or not data.resource_metrics:
            return data
        first, *rest = data.resource_metrics
        merged = ResourceMetrics(
            first.resource, _with(first.scope_metrics, extra), first.schema_url
        )
        return MetricsData([merged, *rest])


class ObsMetricReader(_HotMerge, PeriodicExportingMetricReader):
    """The SDK's periodic OTLP reader, with obs's hot families, in the temporality the
    exporter prefers."""

    def __init__(self, exporter: Any) -> None:
        super().__init__(exporter)
        _readers.add(self)

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        super()._receive_metrics(
            self._merged(metrics_data), timeout_millis=timeout_millis, **kwargs
        )


class PrometheusReader(_HotMerge, MetricReader):
    """A pull reader: each scrape collects everything (cumulative) for the /metrics page."""

    def __init__(self) -> None:
        super().__init__()
        self._latest = MetricsData([])
        self._scraping = threading.Lock()
        _readers.add(self)

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._latest = self._merged(metrics_data)

    def scrape(self) -> MetricsData:
        """Collect now and return what was collected."""
        with self._scraping:
            self.collect()
            return self._latest

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _with(scopes: Sequence[ScopeMetrics], extra: list[Metric]) -> list[ScopeMetrics]:
    """``scopes`` with ``extra`` added to obs's scope (exporters key scopes by identity of
    name and version, so a second "obs" scope would replace the first)."""
    out = [s for s in scopes if s.scope.name != SCOPE]
    ours = [m for s in scopes if s.scope.name == SCOPE for m in s.metrics]
    return [*out, _scope([*ours, *extra])]


def _scope(metrics: list[Metric]) -> ScopeMetrics:
    from obs.version import __version__

    return ScopeMetrics(InstrumentationScope(SCOPE, __version__), metrics, "")


@dataclass
class Providers:
    """The providers obs records through, and whether obs made (and so must stop) them."""

    tracer_provider: Any = None
    meter_provider: Any = None
    owns_tracer_provider: bool = False
    owns_meter_provider: bool = False
    readers: list[_HotMerge] = field(default_factory=list)  # when obs made the meter provider
    prometheus: Any = None  # the /metrics endpoint, when one was asked for

    def detail(self, signal: str) -> str:
        owns = self.owns_tracer_provider if signal == "traces" else self.owns_meter_provider
        if not owns:
            return "the application's provider"
        if signal == "traces" or self.prometheus is None:
            return "obs's provider, exporting OTLP"
        where = f"Prometheus on http://{self.prometheus.host}:{self.prometheus.port}/metrics"
        return f"obs's provider, {'OTLP and ' if len(self.readers) > 1 else ''}{where}"

    def flush(self, timeout: float) -> bool:
        millis = int(timeout * 1000)
        ok = True
        for provider in (self.tracer_provider, self.meter_provider):
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                ok = bool(flush(millis)) and ok
        return ok

    def shutdown(self, timeout: float) -> None:
        if self.owns_tracer_provider and self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        elif self.tracer_provider is not None:
            getattr(self.tracer_provider, "force_flush", lambda _ms: True)(int(timeout * 1000))
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.owns_meter_provider and self.meter_provider is not None:
            self.meter_provider.shutdown(timeout_millis=timeout * 1000)
        elif self.meter_provider is not None:
            getattr(self.meter_provider, "force_flush", lambda _ms: True)(int(timeout * 1000))


# Providers obs made in this process. The API lets the global provider be set only once, so
# after obs.shutdown() the global one may still be an old provider of obs's: that one does
# not count as the application's.
_made_by_obs: weakref.WeakSet[Any] = weakref.WeakSet()
_readers: weakref.WeakSet[_HotMerge] = weakref.WeakSet()


def _application_provider(current: Any, placeholders: tuple[type, ...]) -> bool:
    return not isinstance(current, placeholders) and current not in _made_by_obs


def _adopt(provider: Any, current: Any, placeholders: tuple[type, ...], setter: Any) -> None:
    if not _made_by_obs and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    log_limits.install()
    _made_by_obs.add(provider)
    if isinstance(current, placeholders):
        setter(provider)


def _after_fork_in_child() -> None:
    """A pre-fork worker is its own process: give it its own pid and no inherited counts.

    The SDK restarts its export threads in the child, but keeps the parent's resource
    (obs sets process.pid itself) and the parent's metric totals, which the child would
    export again as its own. Both are private SDK state; if a future SDK moves them, the
    child keeps working and only this cleanup is skipped (tests/test_otel.py notices).
    """
    pid = Resource({"process.pid": os.getpid()})
    if any(isinstance(reader, PrometheusReader) for reader in _readers):
        logger.warning(
            "obs: this forked worker's metrics are not on the Prometheus endpoint, which "
            "belongs to the process that called obs.init(); with pre-fork servers export "
            "OTLP, or call obs.init() in each worker (OTEL_EXPORTER_PROMETHEUS_PORT=0)"
        )
    for reader in list(_readers):
        if reader.hot is not None:
            reader.hot.reset()
    for provider in list(_made_by_obs):
        try:
            provider._update_resource(pid)
            consumer = getattr(provider, "_measurement_consumer", None)
            for storage in getattr(consumer, "_reader_storages", {}).values():
                for matches in storage._instrument_view_instrument_matches.values():
                    for match in matches:
                        match._lock = threading.Lock()
                        match._attributes_aggregation = {}
        except Exception as exc:  # pragma: no cover - only on an SDK whose internals moved
            logger.debug("obs: could not renew OpenTelemetry state after fork: %s", exc)


def start_traces(settings: Settings, providers: Providers, res: Resource) -> None:
    """Use the app's tracer provider, or make obs's and make it the global one."""
    current = trace.get_tracer_provider()
    placeholders = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    if _application_provider(current, placeholders):
        providers.tracer_provider = current
        return
    provider = TracerProvider(resource=res, sampler=sampler(settings))
    exporter = ScrubbedSpanExporter(otlp_exporter(settings, "traces"), settings.exception_detail)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    providers.tracer_provider = provider
    providers.owns_tracer_provider = True
    _adopt(provider, current, placeholders, trace.set_tracer_provider)


def start_metrics(settings: Settings, providers: Providers, res: Resource) -> None:
    """Use the app's meter provider, or make obs's and make it the global one."""
    current = metrics.get_meter_provider()
    placeholders = (_ProxyMeterProvider, metrics.NoOpMeterProvider)
    if _application_provider(current, placeholders):
        providers.meter_provider = current
        return
    readers: list[Any] = []
    # The endpoint binds first: a taken port must not leave an OTLP export thread behind.
    if "prometheus" in settings.metrics_exporter:
        scraper = PrometheusReader()
        try:
            providers.prometheus = PrometheusEndpoint(
                settings.prometheus_host, settings.prometheus_port, scraper.scrape
            )
            readers.append(scraper)
        except OSError as exc:
            if "otlp" not in settings.metrics_exporter:
                raise
            # A second pre-fork worker finds the port taken: it still exports over OTLP.
            logger.warning(
                "obs: no Prometheus endpoint on %s:%s (%s); metrics go over OTLP only",
                settings.prometheus_host,
                settings.prometheus_port,
                exc,
            )
    if "otlp" in settings.metrics_exporter:
        readers.insert(0, ObsMetricReader(otlp_exporter(settings, "metrics")))
    try:
        provider = MeterProvider(resource=res, metric_readers=readers)
    except Exception:
        for reader in readers:
            reader.shutdown()
        if providers.prometheus is not None:
            providers.prometheus.stop()
            providers.prometheus = None
        raise
    if providers.prometheus is not None:
        providers.prometheus.start()
    providers.meter_provider = provider
    providers.owns_meter_provider = True
    providers.readers = readers
    _adopt(provider, current, placeholders, metrics.set_meter_provider)
