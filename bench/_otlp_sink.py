"""An OTLP/gRPC endpoint that counts and discards exports, so instrumented benchmark
processes pay their real export cost without a collector on the machine, and a benchmark can
check that exports really arrived (a silent exporter would flatter every figure)."""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class OtlpSink:
    """Counts the data points and spans it receives per signal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = {"metric points": 0, "spans": 0}
        sink = self

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                points = sum(
                    len(getattr(m, m.WhichOneof("data")).data_points)
                    for rm in request.resource_metrics
                    for sm in rm.scope_metrics
                    for m in sm.metrics
                )
                sink.count("metric points", points)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                sink.count("spans", spans)
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), self._server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{port}"

    def count(self, signal: str, n: int) -> None:
        with self._lock:
            self.received[signal] += n

    def summary(self) -> str:
        with self._lock:
            return ", ".join(f"{n} {signal}" for signal, n in self.received.items())

    def start(self) -> OtlpSink:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
