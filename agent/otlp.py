"""The agent's OTLP export: requests encoded from the store with each attribute encoded
once, and the SDK's OTLP exporters (gRPC, HTTP) taught to send such a request.

The SDK's ``encode_metrics`` builds a KeyValue and an AnyValue message per attribute and
a NumberDataPoint per point from Python on every export: at 1,000 queues (10,000 points)
that was 0.18 s of CPU per export, about as much as the scrape it exports, and its
message arena added ~14 MiB to the agent's peak memory. The attributes are few distinct
(key, value) pairs (a queue's name, a state, the server) shared by many points, so each
pair's encoding (made with the protobuf classes) is kept while some series has it; a
point is its pairs' kept bytes, then its timestamps and value, fixed-size fields. The
envelope (resource, scope, each metric's name, description and unit, histograms) is
encoded by the SDK's own encoder and the protobuf classes; the points are written here
because no library writes a repeated field from kept pieces. Each request of at most
``MAX_POINTS_PER_REQUEST`` points is parsed into the message the exporters send only
when its turn comes.

Example:
    >>> varint(1), varint(300), _field(1, b"abc")
    (b'\\x01', b'\\xac\\x02', b'\\n\\x03abc')
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb2
from opentelemetry.sdk.metrics.export import Metric as SdkMetric
from opentelemetry.sdk.metrics.export import (
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from obs.agent.otlp_settings import OtlpSettings
from obs.agent.points import Attributes, AttributeValue
from obs.agent.store import Family
from obs.catalog import Kind, Metric
from obs.export.otel_env import GrpcMissing, exporter_kwargs
from obs.export.protobuf_wire import varint

_LENGTH_DELIMITED, _FIXED64 = 2, 1
_DATA_POINTS = pb2.Gauge.DESCRIPTOR.fields_by_name["data_points"].number
_POINT = pb2.NumberDataPoint.DESCRIPTOR.fields_by_name
_METRIC = pb2.Metric.DESCRIPTOR.fields_by_name
_START = _POINT["start_time_unix_nano"].number << 3 | _FIXED64
_TIME = _POINT["time_unix_nano"].number << 3 | _FIXED64
_AS_DOUBLE = _POINT["as_double"].number << 3 | _FIXED64
# A sum's points carry start_time_unix_nano and time_unix_nano (fixed64), a gauge's only
# the time (as the SDK encodes them); both then the tag of as_double and its 8 bytes.
_SUM_STAMPS = struct.Struct("<BQBQB")
_GAUGE_STAMPS = struct.Struct("<BQB")
_DOUBLE = struct.Struct("<d").pack


def _tag(number: int, wire_type: int) -> int:
    return number << 3 | wire_type


def _field(number: int, body: bytes) -> bytes:
    """A length-delimited field (a message or string) of protobuf's wire format."""
    return varint(_tag(number, _LENGTH_DELIMITED)) + varint(len(body)) + body


def _any_value(value: AttributeValue) -> AnyValue:
    # The same mapping as the SDK's encoder: bool before int, since bool is an int.
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(double_value=value)


_ATTRIBUTE = _POINT["attributes"].number


def _attribute(pair: tuple[str, AttributeValue]) -> bytes:
    """One attribute as a data point's field (a KeyValue message)."""
    key, value = pair
    encoded: bytes = KeyValue(key=key, value=_any_value(value)).SerializeToString()
    return _field(_ATTRIBUTE, encoded)


def _metric_head(metric: Metric) -> bytes:
    head: bytes = pb2.Metric(
        name=metric.name, description=metric.description, unit=metric.unit
    ).SerializeToString()
    return head


def _data_tail(metric: Metric, delta: bool = False) -> bytes:
    """What follows the points in the metric's data: a sum's temporality and monotonicity."""
    if metric.kind is Kind.GAUGE:
        return b""
    monotonic = metric.kind is Kind.COUNTER
    temporality = (
        pb2.AGGREGATION_TEMPORALITY_DELTA if delta else pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    tail: bytes = pb2.Sum(
        aggregation_temporality=temporality, is_monotonic=monotonic
    ).SerializeToString()
    return tail


@dataclass(frozen=True)
class DeltaRun:
    """Points of one sum metric that cover the same interval: per-interval increments from
    ``start`` (the export that last saw these series) to the export's time."""

    metric: Metric
    readings: Sequence[tuple[Attributes, float]]
    start: int


@dataclass(frozen=True)
class Encoded:
    """A serialised ``ExportMetricsServiceRequest`` ready for an exporter, and how many
    points it carries."""

    request: bytes
    points: int


@dataclass(frozen=True)
class _Piece:
    """An encoded Metric message: one metric's points, or a run of them."""

    name: str
    body: bytes
    points: int


_SCOPE_METRICS = pb2.ScopeMetrics.DESCRIPTOR.fields_by_name["metrics"].number
_RESOURCE_SCOPES = pb2.ResourceMetrics.DESCRIPTOR.fields_by_name["scope_metrics"].number
_REQUEST_RESOURCES = ExportMetricsServiceRequest.DESCRIPTOR.fields_by_name[
    "resource_metrics"
].number
# Requests of at most this many points: a request's message (and the gRPC buffers that
# carry it) is the largest thing an export holds at once, so smaller requests keep the
# agent's peak memory low; one request of 10,000 queues (~16 MB) would also pass the
# 4 MiB a gRPC server accepts by default.
MAX_POINTS_PER_REQUEST = 1000


class RequestEncoder:
    """Encodes readings (and the SDK's histograms) into OTLP requests of at most
    ``max_points`` points each, keeping the encoded attributes of the series it saw last
    time; series that are gone are dropped."""

    def __init__(
        self,
        resource: Resource,
        scope: InstrumentationScope,
        max_points: int = MAX_POINTS_PER_REQUEST,
    ) -> None:
        empty = encode_metrics(
            MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, [], "")], "")])
        )
        resource_metrics = empty.resource_metrics[0]
        scope_metrics = resource_metrics.scope_metrics[0]
        scope_metrics.ClearField("metrics")
        resource_metrics.ClearField("scope_metrics")
        self._scope_head = scope_metrics.SerializeToString()  # the scope and its schema URL
        self._resource_head = resource_metrics.SerializeToString()
        self._resource, self._scope = resource, scope
        self.max_points = max_points
        self._attributes: dict[tuple[str, AttributeValue], bytes] = {}
        self._lengths: dict[int, bytes] = {}  # varints of point sizes, a few hundred

    def _family(
        self,
        metric: Metric,
        readings: Sequence[tuple[Attributes, float]],
        stamps: bytes,
        seen: dict[tuple[str, AttributeValue], bytes],
        delta: bool = False,
    ) -> Iterator[_Piece]:
        """The pieces of one metric, at most ``max_points`` points each."""
        kept, lengths = self._attributes, self._lengths
        point_tag = varint(_tag(_DATA_POINTS, _LENGTH_DELIMITED))
        fixed = len(stamps) + 8
        head, tail = _metric_head(metric), _data_tail(metric, delta)
        data = _METRIC["gauge" if metric.kind is Kind.GAUGE else "sum"].number
        for first in range(0, len(readings), self.max_points):
            run = readings[first : first + self.max_points]
            parts: list[bytes] = []
            append = parts.append
            for attributes, value in run:
                try:
                    encoded = b"".join([seen[pair] for pair in attributes])
                except KeyError:  # a pair this export meets for the first time
                    for pair in attributes:
                        if pair not in seen:
                            seen[pair] = kept.get(pair) or _attribute(pair)
                    encoded = b"".join([seen[pair] for pair in attributes])
                size = len(encoded) + fixed
                append(point_tag)
                length = lengths.get(size)
                if length is None:
                    length = lengths[size] = varint(size)
                append(length)
                append(encoded)
                append(stamps)
                append(_DOUBLE(value))
            append(tail)
            yield _Piece(metric.name, head + _field(data, b"".join(parts)), len(run))

    def _histograms(self, histograms: Sequence[SdkMetric]) -> Iterator[_Piece]:
        data = MetricsData(
            [ResourceMetrics(self._resource, [ScopeMetrics(self._scope, list(histograms), "")], "")]
        )
        for metric in encode_metrics(data).resource_metrics[0].scope_metrics[0].metrics:
            yield _Piece(metric.name, metric.SerializeToString(), len(metric.histogram.data_points))

    def _request(self, pieces: Sequence[_Piece]) -> Encoded:
        scope = self._scope_head + b"".join(_field(_SCOPE_METRICS, p.body) for p in pieces)
        resource = self._resource_head + _field(_RESOURCE_SCOPES, scope)
        return Encoded(_field(_REQUEST_RESOURCES, resource), sum(p.points for p in pieces))

    def _requests(self, pieces: Iterable[_Piece]) -> Iterator[Encoded]:
        batch: list[_Piece] = []
        for piece in pieces:
            if batch and sum(p.points for p in batch) + piece.points > self.max_points:
                yield self._request(batch)
                batch = []
            batch.append(piece)
        if batch:
            yield self._request(batch)

    def encode(
        self,
        families: Iterable[Family],
        histograms: Sequence[SdkMetric],
        start: int,
        now: int,
        deltas: Iterable[DeltaRun] = (),
    ) -> Iterator[Encoded]:
        """The requests of ``families`` (readings by metric), ``histograms`` (the SDK's,
        in whatever temporality their reader keeps) and ``deltas`` (delta sums, each run
        stamped from its own start), in the order of their names; the families' points are
        stamped ``start`` .. ``now``. Lazy: each request is encoded when it is taken, so an
        export holds one request at a time; take them from one thread."""
        gauge_stamps = _GAUGE_STAMPS.pack(_TIME, now, _AS_DOUBLE)
        sum_stamps = _SUM_STAMPS.pack(_START, start, _TIME, now, _AS_DOUBLE)
        seen: dict[tuple[str, AttributeValue], bytes] = {}
        metrics: list[tuple[str, Iterable[_Piece]]] = []
        if histograms:
            metrics += [(piece.name, [piece]) for piece in self._histograms(histograms)]
        for metric, readings in families:
            stamps = gauge_stamps if metric.kind is Kind.GAUGE else sum_stamps
            metrics.append((metric.name, self._family(metric, readings, stamps, seen)))
        for run in deltas:
            stamps = _SUM_STAMPS.pack(_START, run.start, _TIME, now, _AS_DOUBLE)
            pieces = self._family(run.metric, run.readings, stamps, seen, delta=True)
            metrics.append((run.metric.name, pieces))
        metrics.sort(key=lambda named: named[0])
        yield from self._requests(piece for _, pieces in metrics for piece in pieces)
        self._attributes = seen  # what this export used; attributes now gone are dropped


class OtlpSender(Protocol):
    """An SDK metric exporter that also sends an :class:`Encoded` request."""

    def export_encoded(self, encoded: Encoded) -> MetricExportResult: ...

    def export(self, metrics_data: MetricsData, **kwargs: Any) -> MetricExportResult: ...

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None: ...


def otlp_exporter(settings: OtlpSettings) -> OtlpSender:
    """The OTLP exporter the settings name (protocol, endpoint, headers), able to send the
    agent's pre-encoded requests. Only the chosen protocol's modules are imported: gRPC
    costs the agent memory it does not need when OTLP/HTTP is used."""
    kwargs = exporter_kwargs(
        settings.endpoint, settings.protocol, settings.plain_headers(), "metrics"
    )
    if settings.protocol == "http/protobuf":
        from obs.agent.otlp_http import HttpExporter
        from obs.internals.otel_sdk import urllib3_metric_transport

        return HttpExporter(**kwargs, **urllib3_metric_transport())
    try:
        from obs.agent.otlp_grpc import GrpcExporter
    except ModuleNotFoundError as exc:
        raise GrpcMissing() from exc
    return GrpcExporter(**kwargs)
