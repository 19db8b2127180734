"""Every private name of the OpenTelemetry API, SDK and OTLP exporters that obs uses.

- The API's placeholder meter provider (``_ProxyMeterProvider``): the only way to tell
  "nobody configured metrics" from "the application did".
- A metric reader's collections (``MetricReader._receive_metrics``, the hook the SDK hands
  each collection to) and its temporality preferences (``_instrument_class_temporality``):
  obs adds its hot-path metrics to what the SDK collected.
- After a fork: a provider's resource (``_update_resource``) and the parent's measurements
  (``_measurement_consumer._reader_storages`` ... ``_attributes_aggregation``).
- An OTLP exporter's timeout (``_timeout``, the HTTP exporters' ``_client._timeout``) and
  metric preferences (``_preferred_temporality``, ``_preferred_aggregation``): up to 1.45
  the exporters take no timeout per export (open-telemetry/opentelemetry-python#2663), so
  obs sets it before each one to bound the export by a flush's or a shutdown's deadline.
- Sending an encoded request through an OTLP metric exporter's retries (``_export``,
  ``_translate_data``, ``_count_data`` over gRPC; ``_client.export``, ``_shutdown`` over
  HTTP): the agent encodes its own requests. Likewise spans encoded by obs through an
  OTLP span exporter (``_translate_data`` over gRPC; ``_client.export``, ``_shutdown``
  over HTTP).
- A tracer provider's span processors (``_active_span_processor._span_processors``) and
  span limits (``_span_limits``): obs ends its own leaf spans straight into its processor
  only while that processor is the provider's only one and no limit applies.
- The OTLP/HTTP metric exporter's transport (``_transport``): the agent sends through the
  SDK's own urllib3 transport rather than its default, requests (~4 MiB of the agent's
  memory), wherever the environment asks nothing only requests does.
- The batch processor's logger (``opentelemetry.sdk._shared_internal``), whose "Queue
  full" warnings obs rate-limits, and the API's set-once globals, which tests reset.

``tests/test_internals.py`` exercises each against the installed SDK.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from obs.internals import InternalsChanged

_logger = logging.getLogger(__name__)

LIBRARY = "opentelemetry-sdk"


def _changed(name: str, cause: BaseException) -> InternalsChanged:
    return InternalsChanged(LIBRARY, name, cause)


def meter_provider_placeholders() -> tuple[type, ...]:
    """The global meter provider's classes while nobody has set one."""
    from opentelemetry import metrics

    try:
        from opentelemetry.metrics._internal import _ProxyMeterProvider
    except ImportError as exc:
        raise _changed("opentelemetry.metrics._internal._ProxyMeterProvider", exc) from exc
    return (_ProxyMeterProvider, metrics.NoOpMeterProvider)


def temporality_preferences(reader: Any) -> Mapping[type, Any]:
    """The temporality ``reader`` asks for, by the SDK's instrument classes."""
    try:
        preferences: Mapping[type, Any] = reader._instrument_class_temporality
    except AttributeError as exc:
        raise _changed("MetricReader._instrument_class_temporality", exc) from exc
    return preferences


class _Received:
    """Passes each collection the SDK hands a reader through :meth:`received`."""

    def received(self, data: MetricsData) -> MetricsData:
        """What to do with (or add to) a collection; returns what the reader passes on."""
        return data


class PeriodicReader(_Received, PeriodicExportingMetricReader):
    """The SDK's periodic exporting reader; each collection passes :meth:`received` first."""

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        super()._receive_metrics(
            self.received(metrics_data), timeout_millis=timeout_millis, **kwargs
        )


class PullReader(_Received, MetricReader):
    """A reader that only keeps the latest collection (after :meth:`received`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latest = MetricsData([])

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self.latest = self.received(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def update_resource(provider: Any, resource: Any) -> None:
    """Merge ``resource`` into an SDK tracer or meter provider's resource."""
    try:
        update = provider._update_resource
    except AttributeError as exc:
        raise _changed(f"{type(provider).__name__}._update_resource", exc) from exc
    update(resource)


def forget_measurements(meter_provider: Any) -> None:
    """Drop every measurement an SDK meter provider holds (a forked child's inheritance),
    with fresh locks (the parent's may have been held at the fork)."""
    import threading

    try:
        storages = meter_provider._measurement_consumer._reader_storages
        for storage in storages.values():
            for matches in storage._instrument_view_instrument_matches.values():
                for match in matches:
                    if not hasattr(match, "_attributes_aggregation"):
                        raise AttributeError("_ViewInstrumentMatch._attributes_aggregation")
                    match._lock = threading.Lock()
                    match._attributes_aggregation = {}
    except AttributeError as exc:
        raise _changed("MeterProvider measurement storage", exc) from exc


def _timeout_owner(exporter: Any) -> Any:
    # The HTTP exporters keep their timeout on their client (1.40 on), the gRPC ones (and
    # older HTTP ones) on themselves.
    client = getattr(exporter, "_client", None)
    if isinstance(getattr(client, "_timeout", None), int | float):
        return client
    if isinstance(getattr(exporter, "_timeout", None), int | float):
        return exporter
    raise _changed(
        f"{type(exporter).__name__}._timeout",
        AttributeError("no export timeout on the exporter or its client"),
    )


def export_timeout(exporter: Any) -> float:
    """The timeout (seconds) an SDK OTLP exporter gives each export, retries included."""
    return float(_timeout_owner(exporter)._timeout)


def set_export_timeout(exporter: Any, seconds: float) -> None:
    """Make an SDK OTLP exporter's next exports (retries included) last at most
    ``seconds``; the SDK reads it as each export starts."""
    _timeout_owner(exporter)._timeout = seconds


def metric_preferences(exporter: Any) -> tuple[dict[type, Any], dict[type, Any]]:
    """A metric exporter's preferred temporality and aggregation, by instrument class."""
    try:
        return dict(exporter._preferred_temporality), dict(exporter._preferred_aggregation)
    except AttributeError as exc:
        raise _changed("MetricExporter._preferred_temporality", exc) from exc


class _Ready:
    """A request encoded elsewhere, as the gRPC exporter's ``_export`` takes its data."""

    def __init__(self, request: Any, points: int) -> None:
        self.request, self.points = request, points


class RequestsOverGrpc:
    """For a subclass of the SDK's OTLP/gRPC metric exporter: :meth:`send_request` sends a
    request encoded elsewhere with the exporter's retries, backoff and reconnection."""

    def _translate_data(self, data: Any) -> Any:
        if isinstance(data, _Ready):
            return data.request
        return super()._translate_data(data)  # type: ignore[misc]

    def _count_data(self, data: Any) -> int:
        if isinstance(data, _Ready):
            return data.points
        count: int = super()._count_data(data)  # type: ignore[misc]
        return count

    def send_request(self, request: Any, points: int) -> MetricExportResult:
        result: MetricExportResult = self._export(_Ready(request, points))  # type: ignore[attr-defined]
        return result


class RequestsOverHttp:
    """For a subclass of the SDK's OTLP/HTTP metric exporter: :meth:`send_request` sends a
    serialised request encoded elsewhere with the exporter's client (retries, backoff,
    compression, headers). The SDK's own ``_export_batch`` wants a protobuf message: handing
    it bytes would mean parsing a request only to serialise it again (a megabyte a cycle
    at 1,000 queues)."""

    def send_request(self, request: bytes, points: int) -> MetricExportResult:
        if self._shutdown:  # type: ignore[attr-defined]
            return MetricExportResult.FAILURE
        limit = getattr(self, "_max_request_size", None)  # newer SDKs bound a request
        if limit is not None and len(request) > limit:
            _logger.warning(
                "Dropping metrics batch: serialized size %d bytes exceeds max_request_size "
                "%d bytes.",
                len(request),
                limit,
            )
            return MetricExportResult.FAILURE
        result = self._client.export(request)  # type: ignore[attr-defined]
        return MetricExportResult.SUCCESS if result.success else MetricExportResult.FAILURE


class EncodedSpansOverGrpc:
    """For a subclass of the SDK's OTLP/gRPC span exporter that defines
    ``encode_request(spans) -> bytes`` (a serialised ``ExportTraceServiceRequest``): each
    batch is sent as encoded, with the exporter's retries, backoff and reconnection."""

    def encode_request(self, spans: Sequence[Any]) -> bytes:
        raise NotImplementedError

    def _translate_data(self, data: Sequence[Any]) -> Any:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        return ExportTraceServiceRequest.FromString(self.encode_request(data))


class EncodedSpansOverHttp:
    """For a subclass of the SDK's OTLP/HTTP span exporter that defines
    ``encode_request(spans) -> bytes``: each batch is sent as encoded, with the exporter's
    client (retries, backoff, compression, headers)."""

    def encode_request(self, spans: Sequence[Any]) -> bytes:
        raise NotImplementedError

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._shutdown:  # type: ignore[attr-defined]
            return SpanExportResult.FAILURE
        result = self._client.export(self.encode_request(spans))  # type: ignore[attr-defined]
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE


def check_encoded_span_exporter(exporter: Any) -> None:
    """Raise :class:`InternalsChanged` unless ``exporter`` (an
    :class:`EncodedSpansOverGrpc` or :class:`EncodedSpansOverHttp` subclass) has what its
    mixin uses."""
    if isinstance(exporter, EncodedSpansOverHttp):
        client = getattr(exporter, "_client", None)
        if not callable(getattr(client, "export", None)) or not hasattr(exporter, "_shutdown"):
            raise _changed("OTLPSpanExporter._client.export", AttributeError("_client.export"))
    elif not callable(getattr(exporter, "_export", None)):
        raise _changed("OTLPSpanExporter._export", AttributeError("_export"))


def span_processors(provider: Any) -> tuple[Any, ...]:
    """The span processors of an SDK tracer provider, in order (a new tuple after each
    ``add_span_processor``)."""
    try:
        processors: tuple[Any, ...] = provider._active_span_processor._span_processors
    except AttributeError as exc:
        raise _changed("TracerProvider._active_span_processor._span_processors", exc) from exc
    return processors


def span_limits(provider: Any) -> Any:
    """An SDK tracer provider's :class:`~opentelemetry.sdk.trace.SpanLimits`."""
    try:
        return provider._span_limits
    except AttributeError as exc:
        raise _changed("TracerProvider._span_limits", exc) from exc


def span_processors_reader(provider: Any) -> Callable[[], tuple[Any, ...]]:
    """A function returning :func:`span_processors` of ``provider`` now, cheaper than
    calling that per span (a C-level attribute read of the provider's processor set)."""
    try:
        active = provider._active_span_processor
        active._span_processors  # noqa: B018 (checked now, read later)
    except AttributeError as exc:
        raise _changed("TracerProvider._active_span_processor._span_processors", exc) from exc
    return functools.partial(operator.attrgetter("_span_processors"), active)


def current_span_reader() -> Callable[[], Any]:
    """A function returning the current span (None when there is none), as
    ``opentelemetry.trace.get_current_span`` finds it but with one call instead of four:
    the API's context variable read directly, when the runtime context is the default
    (contextvars) one; otherwise the API's own function."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    try:
        runtime: Any = otel_context._RUNTIME_CONTEXT
        key = trace.propagation._SPAN_KEY
        variable = runtime._current_context
    except AttributeError as exc:
        raise _changed(f"opentelemetry.context.{exc.name}", exc) from exc
    if type(runtime) is not ContextVarsRuntimeContext:
        return trace.get_current_span
    get = variable.get

    def current() -> Any:
        return get().get(key)

    return current


def batch_emit(processor: Any) -> Any:
    """The method a :class:`~opentelemetry.sdk.trace.export.BatchSpanProcessor` queues an
    ended span with, after its ``on_end`` has checked that the span is sampled."""
    try:
        return processor._batch_processor.emit
    except AttributeError as exc:
        raise _changed("BatchSpanProcessor._batch_processor.emit", exc) from exc


def parent_based_delegates(sampler: Any) -> tuple[Any, Any, Any, Any, Any]:
    """A :class:`~opentelemetry.sdk.trace.sampling.ParentBased` sampler's root, then its
    delegates for a remote parent sampled / not sampled and a local parent sampled / not."""
    try:
        return (
            sampler._root,
            sampler._remote_parent_sampled,
            sampler._remote_parent_not_sampled,
            sampler._local_parent_sampled,
            sampler._local_parent_not_sampled,
        )
    except AttributeError as exc:
        raise _changed(f"ParentBased.{exc.name}", exc) from exc


# What requests (the SDK's default HTTP transport) reads from the environment and urllib3
# cannot be given: proxies, a .netrc's credentials, a credential provider's session
# (OpenTelemetry's variables).
_REQUESTS_ONLY = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NETRC",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER",
)


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    return next((environ[name] for name in names if environ.get(name)), None)


def urllib3_metric_transport(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Arguments that make an SDK OTLP/HTTP metric exporter send through the SDK's urllib3
    transport, verifying and presenting certificates as its default (requests) transport
    would from the same variables (requests' own ``REQUESTS_CA_BUNDLE`` and
    ``CURL_CA_BUNDLE`` included); empty (the default transport) where the environment asks
    for something only requests does (a proxy, a .netrc, a credential provider).

    Example:
        >>> urllib3_metric_transport({"HTTPS_PROXY": "http://proxy:3128"})
        {}
    """
    import os
    from pathlib import Path

    env = os.environ if environ is None else environ
    if any(env.get(name) or env.get(name.lower()) for name in _REQUESTS_ONLY):
        return {}
    try:
        netrc = any((Path.home() / name).exists() for name in (".netrc", "_netrc"))
    except RuntimeError:  # no home directory: no .netrc either
        netrc = False
    if netrc:
        return {}
    try:
        from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
    except ImportError as exc:
        raise _changed("opentelemetry.exporter.http.transport._urllib3", exc) from exc
    # requests puts its own variables before the session's CA file, which the SDK sets.
    verify: bool | str = (
        _first(
            env,
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        )
        or _default_ca_bundle()
    )
    key = _first(env, "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY")
    certificate = _first(
        env,
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    )
    cert = (certificate, key) if certificate and key else certificate
    return {"_transport": Urllib3HTTPTransport(verify=verify, cert=cert)}


def _default_ca_bundle() -> bool | str:
    """The CA bundle requests verifies with by default (certifi's), else the system's."""
    try:
        import certifi
    except ImportError:
        return True
    where: str = certifi.where()
    return where


def batch_processor_logger() -> str:
    """The name of the logger the SDK's batch span processor warns through ("Queue full")."""
    try:
        from opentelemetry.sdk import _shared_internal

        name: str = _shared_internal._logger.name
    except (ImportError, AttributeError) as exc:
        raise _changed("opentelemetry.sdk._shared_internal._logger", exc) from exc
    return name


def reset_global_providers() -> None:
    """Let the global tracer and meter providers be set again (for tests, as
    opentelemetry-test-utils does)."""
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        raise _changed("opentelemetry.trace._TRACER_PROVIDER", LookupError("not reset"))
    if metrics.get_meter_provider() is not metrics_internal._PROXY_METER_PROVIDER:
        raise _changed("opentelemetry.metrics._internal._METER_PROVIDER", LookupError("not reset"))
