"""An in-process OTLP receiver (gRPC and HTTP/protobuf) that keeps what arrives.

Tests assert on what really crossed the wire: metric names, units, attributes, histogram
counts, spans and resource attributes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass(frozen=True)
class Point:
    """One data point of one metric, flattened."""

    name: str
    kind: str  # sum, gauge, histogram
    unit: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    value: float | None = None  # sum and gauge
    count: int | None = None  # histogram
    sum: float | None = None  # histogram
    monotonic: bool | None = None
    bounds: tuple[float, ...] = ()
    temporality: int | None = None  # sums and histograms: 1 delta, 2 cumulative
    start: int = 0  # start_time_unix_nano
    time: int = 0  # time_unix_nano


@dataclass(frozen=True)
class Span:
    name: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    trace_id: str
    span_id: str
    parent_span_id: str
    status_code: int
    events: tuple[str, ...]
    event_attributes: tuple[dict[str, Any], ...] = ()
    status_message: str = ""


class Receiver:
    """Collects OTLP exports; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.fail_with: int | None = None  # HTTP status / gRPC refusal to simulate

    def clear(self) -> None:
        with self._lock:
            self.metric_requests.clear()
            self.trace_requests.clear()
            self.headers.clear()

    def add_metrics(self, request: Any, headers: dict[str, str]) -> None:
        with self._lock:
            self.metric_requests.append(request)
            self.headers.append(headers)

    def add_traces(self, request: Any, headers: dict[str, str]) -> None:
        with self._lock:
            self.trace_requests.append(request)
            self.headers.append(headers)

    def points(self, name: str | None = None) -> list[Point]:
        with self._lock:
            requests = list(self.metric_requests)
        out = []
        for request in requests:
            for rm in request.resource_metrics:
                resource = attributes(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if name is None or metric.name == name:
                            out.extend(_points(metric, resource))
        return out

    def exported(self) -> bytes:
        """Every export request received, serialized: what left the process, byte for byte."""
        with self._lock:
            requests = [*self.trace_requests, *self.metric_requests]
        return b"".join(r.SerializeToString() for r in requests)

    def spans(self, name: str | None = None) -> list[Span]:
        with self._lock:
            requests = list(self.trace_requests)
        out = []
        for request in requests:
            for rs in request.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        if name is None or s.name == name:
                            out.append(
                                Span(
                                    s.name,
                                    s.kind,
                                    attributes(s.attributes),
                                    resource,
                                    s.trace_id.hex(),
                                    s.span_id.hex(),
                                    s.parent_span_id.hex(),
                                    s.status.code,
                                    tuple(e.name for e in s.events),
                                    tuple(attributes(e.attributes) for e in s.events),
                                    s.status.message,
                                )
                            )
        return out


def _points(metric: Any, resource: dict[str, Any]) -> Iterator[Point]:
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind)
    for dp in data.data_points:
        attrs = attributes(dp.attributes)
        if kind == "histogram":
            yield Point(
                metric.name,
                kind,
                metric.unit,
                attrs,
                resource,
                count=dp.count,
                sum=dp.sum,
                bounds=tuple(dp.explicit_bounds),
                temporality=data.aggregation_temporality,
                start=dp.start_time_unix_nano,
                time=dp.time_unix_nano,
            )
        else:
            value = dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int
            monotonic = data.is_monotonic if kind == "sum" else None
            yield Point(
                metric.name,
                kind,
                metric.unit,
                attrs,
                resource,
                value=value,
                monotonic=monotonic,
                temporality=data.aggregation_temporality if kind == "sum" else None,
                start=dp.start_time_unix_nano,
                time=dp.time_unix_nano,
            )


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        if self.receiver.fail_with:
            context.abort(grpc.StatusCode.UNAVAILABLE, "receiver told to fail")
        self.receiver.add_metrics(request, dict(context.invocation_metadata()))
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        if self.receiver.fail_with:
            context.abort(grpc.StatusCode.UNAVAILABLE, "receiver told to fail")
        self.receiver.add_traces(request, dict(context.invocation_metadata()))
        return trace_service_pb2.ExportTraceServiceResponse()


class GrpcReceiver(Receiver):
    """OTLP/gRPC on 127.0.0.1:<free port>."""

    def __init__(self) -> None:
        super().__init__()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), self.server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(self), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> GrpcReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None)


class HttpReceiver(Receiver):
    """OTLP/HTTP (protobuf) on 127.0.0.1:<free port>: POST /v1/metrics and /v1/traces."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.fail_with:
                    self.send_response(receiver.fail_with)
                    self.end_headers()
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path == "/v1/metrics":
                    request = metrics_service_pb2.ExportMetricsServiceRequest()
                    request.ParseFromString(body)
                    receiver.add_metrics(request, headers)
                elif self.path == "/v1/traces":
                    request = trace_service_pb2.ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    receiver.add_traces(request, headers)
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["GrpcReceiver", "HttpReceiver", "KeyValue", "Point", "Receiver", "Span"]
