"""OpenTelemetry providers: the app's own when it set them up, else obs's, exporting OTLP.

obs's providers sample by the standard sampler settings, batch spans in a bounded queue
(``OTEL_BSP_*`` apply) and export metrics periodically (``OTEL_METRIC_EXPORT_*`` apply), all
on background threads: a request thread never waits for an export. Flushing and stopping
keep their deadlines (:mod:`obs.lifecycle.bounded_export`). The SDK restarts those threads
in a forked child (gunicorn and uwsgi workers); obs renews its pid and counts.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
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
from obs.export.deadline import Deadline
from obs.export.otlp_spans import SpanEncoder
from obs.internals import InternalsChanged, otel_sdk, warn_once
from obs.lifecycle import bounded_export, log_limits
from obs.lifecycle.bounded_export import BoundedMetricExporter, BoundedSpanExporter
from obs.lifecycle.prometheus_endpoint import PrometheusEndpoint
from obs.privacy.span_exceptions import ScrubbedSpanExporter
from obs.runtime.hot_metrics import HotMetrics
from obs.runtime.settings import Settings

logger = logging.getLogger("obs")
SCOPE = "obs"
__all__ = [
    "SCOPE",
    "MeterSetup",
    "Resource",
    "TracerSetup",
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
    if signal == "traces":
        return _encoding_span_exporter(exporter_class, settings, signal)
    return exporter_class(**exporter_kwargs(settings, signal))


@functools.cache
def _encoding(sdk_class: type) -> type:
    """``sdk_class`` (an SDK OTLP span exporter) sending spans encoded by obs."""
    grpc = sdk_class.__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
    mixin = otel_sdk.EncodedSpansOverGrpc if grpc else otel_sdk.EncodedSpansOverHttp

    class Encoding(mixin, sdk_class):  # type: ignore[valid-type,misc]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._obs_encoder = SpanEncoder()

        def encode_request(self, spans: Sequence[ReadableSpan]) -> bytes:
            return self._obs_encoder.encode(spans)

    Encoding.__name__ = Encoding.__qualname__ = f"Encoding{sdk_class.__name__}"
    return Encoding


def _encoding_span_exporter(sdk_class: type, settings: Settings, signal: str) -> Any:
    """The SDK's span exporter, sending the requests :mod:`obs.export.otlp_spans` writes
    (the reference encoder's bytes, about 60 us less per span); the SDK's own when its
    internals moved."""
    kwargs = exporter_kwargs(settings, signal)
    exporter = _encoding(sdk_class)(**kwargs)
    try:
        otel_sdk.check_encoded_span_exporter(exporter)
    except InternalsChanged as exc:
        warn_once(exc, "spans are encoded by the SDK's (slower) encoder")
        exporter.shutdown()
        return sdk_class(**kwargs)
    return exporter


class _HotMerge:
    """Adds obs's hot-path families (:mod:`obs.runtime.hot_metrics`) to what the SDK collected.

    The SDK hands a reader a collection only when its own instruments have data; obs always
    has some (``obs.instrumentation.errors`` reports a zero per hook), so the hot families
    travel with every collection.
    """

    hot: HotMetrics | None = None

    def received(self, data: MetricsData) -> MetricsData:
        extra = self.hot.collect(otel_sdk.temporality_preferences(self)) if self.hot else []
        if not extra or not data.resource_metrics:
            return data
        first, *rest = data.resource_metrics
        merged = ResourceMetrics(
            first.resource, _with(first.scope_metrics, extra), first.schema_url
        )
        return MetricsData([merged, *rest])


class ObsMetricReader(_HotMerge, otel_sdk.PeriodicReader):
    """The SDK's periodic OTLP reader, with obs's hot families, in the temporality the
    exporter prefers."""

    def __init__(self, exporter: Any) -> None:
        super().__init__(exporter)
        _readers.add(self)


class PrometheusReader(_HotMerge, otel_sdk.PullReader):
    """A pull reader: each scrape collects everything (cumulative) for the /metrics page."""

    def __init__(self) -> None:
        super().__init__()
        self._scraping = threading.Lock()
        _readers.add(self)

    def scrape(self) -> MetricsData:
        """Collect now and return what was collected."""
        with self._scraping:
            self.collect()
            return self.latest


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
class TracerSetup:
    """The tracer provider obs records through, and obs's exporter when obs made it."""

    provider: Any
    exporter: BoundedSpanExporter | None = None  # None: the application's provider
    processor: BatchSpanProcessor | None = None  # obs's, on obs's provider

    def detail(self) -> str:
        if self.exporter is None:
            return "the application's provider"
        return "obs's provider, exporting OTLP"

    def flush(self, deadline: Deadline) -> bool:
        bound = self.exporter.bound if self.exporter is not None else None
        return bounded_export.flush(self.provider, bound, deadline)

    def stop(self, deadline: Deadline) -> bool:
        """Flush and stop obs's provider (the application's is only flushed)."""
        if self.exporter is None:
            return self.flush(deadline)
        return bounded_export.shutdown(self.provider.shutdown, self.exporter.bound, deadline)


@dataclass
class MeterSetup:
    """The meter provider obs records through; when obs made it, its readers, its OTLP
    exporter and its /metrics endpoint."""

    provider: Any
    owned: bool = False
    readers: list[_HotMerge] = field(default_factory=list)
    exporter: BoundedMetricExporter | None = None  # when obs exports OTLP
    prometheus: PrometheusEndpoint | None = None  # when obs serves /metrics

    def detail(self) -> str:
        if not self.owned:
            return "the application's provider"
        if self.prometheus is None:
            return "obs's provider, exporting OTLP"
        where = f"Prometheus on http://{self.prometheus.host}:{self.prometheus.port}/metrics"
        return f"obs's provider, {'OTLP and ' if self.exporter is not None else ''}{where}"

    def flush(self, deadline: Deadline) -> bool:
        bound = self.exporter.bound if self.exporter is not None else None
        return bounded_export.flush(self.provider, bound, deadline)

    def stop(self, deadline: Deadline) -> bool:
        """Flush and stop obs's provider and endpoint (the application's is only flushed)."""
        if not self.owned:
            return self.flush(deadline)
        if self.prometheus is not None:
            self.prometheus.stop()
        bound = self.exporter.bound if self.exporter is not None else None
        return bounded_export.shutdown(
            lambda: self.provider.shutdown(timeout_millis=deadline.millis()), bound, deadline
        )


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

    The SDK restarts its export threads in the child, but keeps the parent's metric totals,
    which the child would export again as its own (and older SDKs keep the parent's pid).
    Both are private SDK state (:mod:`obs.internals.otel_sdk`).
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
            otel_sdk.update_resource(provider, pid)
            if isinstance(provider, MeterProvider):
                otel_sdk.forget_measurements(provider)
        except InternalsChanged as exc:
            warn_once(exc, "this forked worker may export its parent's pid or counts as its own")


def start_traces(settings: Settings, res: Resource) -> TracerSetup:
    """Use the app's tracer provider, or make obs's and make it the global one."""
    current = trace.get_tracer_provider()
    placeholders = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    if _application_provider(current, placeholders):
        return TracerSetup(current)
    exporter = BoundedSpanExporter(otlp_exporter(settings, "traces"))
    # obs stops it at exit itself, within OBS_EXIT_TIMEOUT (the SDK's own wait is unbounded).
    provider = TracerProvider(resource=res, sampler=sampler(settings), shutdown_on_exit=False)
    # Scrubbed before the bounded export: exception events and status descriptions that any
    # instrumentation records lose the values they quote.
    scrubbed = ScrubbedSpanExporter(exporter, settings.exception_detail)
    processor = BatchSpanProcessor(scrubbed)
    provider.add_span_processor(processor)
    _adopt(provider, current, placeholders, trace.set_tracer_provider)
    return TracerSetup(provider, exporter, processor)


def start_metrics(settings: Settings, res: Resource) -> MeterSetup:
    """Use the app's meter provider, or make obs's and make it the global one."""
    current = metrics.get_meter_provider()
    placeholders = otel_sdk.meter_provider_placeholders()
    if _application_provider(current, placeholders):
        return MeterSetup(current)
    setup = MeterSetup(None, owned=True)
    readers: list[Any] = []
    # The endpoint binds first: a taken port must not leave an OTLP export thread behind.
    if "prometheus" in settings.metrics_exporter:
        scraper = PrometheusReader()
        try:
            setup.prometheus = PrometheusEndpoint(
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
    try:
        if "otlp" in settings.metrics_exporter:
            setup.exporter = BoundedMetricExporter(otlp_exporter(settings, "metrics"))
            readers.insert(0, ObsMetricReader(setup.exporter))
        # obs stops it at exit itself, within OBS_EXIT_TIMEOUT.
        setup.provider = MeterProvider(resource=res, metric_readers=readers, shutdown_on_exit=False)
    except Exception:
        for reader in readers:
            reader.shutdown()
        if setup.prometheus is not None:
            setup.prometheus.stop()
        raise
    if setup.prometheus is not None:
        setup.prometheus.start()
    setup.readers = readers
    _adopt(setup.provider, current, placeholders, metrics.set_meter_provider)
    return setup
