"""An OTLP endpoint (gRPC, and HTTP on ``http_endpoint``) that counts and discards exports,
so instrumented benchmark processes pay their real export cost without a collector on the
machine, and a benchmark can check that exports really arrived (a silent exporter would
flatter every figure)."""

from __future__ import annotations

import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

        def metric_points(request: Any) -> None:
            points = sum(
                len(getattr(m, m.WhichOneof("data")).data_points)
                for rm in request.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            )
            sink.count("metric points", points)

        def spans(request: Any) -> None:
            sink.count(
                "spans",
                sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans),
            )

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                metric_points(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                spans(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class Http(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/metrics":
                    metric_points(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body))
                elif self.path == "/v1/traces":
                    spans(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
        self.http_endpoint = f"http://127.0.0.1:{self._http.server_address[1]}"

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
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
        self._http.shutdown()
        self._http.server_close()
