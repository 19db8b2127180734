"""The SDK's OTLP/gRPC metric exporter, taught to send the agent's pre-encoded requests;
imported only when the agent exports over gRPC (``obs[grpc]``)."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as SdkGrpcExporter,
)
from opentelemetry.sdk.metrics.export import MetricExportResult

from obs.agent.otlp import Encoded
from obs.internals.otel_sdk import RequestsOverGrpc


class GrpcExporter(RequestsOverGrpc, SdkGrpcExporter):
    """The SDK's OTLP/gRPC metric exporter, which also sends an :class:`Encoded` request
    (with its retries, backoff and reconnection)."""

    def export_encoded(self, encoded: Encoded) -> MetricExportResult:
        return self.send_request(encoded.request, encoded.points)
