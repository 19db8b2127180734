"""The SDK's OTLP/gRPC metric exporter, taught to send the agent's pre-encoded requests;
imported only when the agent exports over gRPC (``obs[grpc]``)."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as SdkGrpcExporter,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics.export import MetricExportResult

from obs.agent.otlp import Encoded
from obs.internals.otel_sdk import RequestsOverGrpc


class GrpcExporter(RequestsOverGrpc, SdkGrpcExporter):
    """The SDK's OTLP/gRPC metric exporter, which also sends an :class:`Encoded` request
    (with its retries, backoff and reconnection). gRPC's stub serialises a message, so the
    request is parsed back into one here; over HTTP its bytes go as they are."""

    def export_encoded(self, encoded: Encoded) -> MetricExportResult:
        request = ExportMetricsServiceRequest.FromString(encoded.request)
        return self.send_request(request, encoded.points)
