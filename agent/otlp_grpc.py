"""The SDK's OTLP/gRPC metric exporter, taught to send the agent's pre-encoded requests;
imported only when the agent exports over gRPC (``obs[grpc]``)."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as SdkGrpcExporter,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData

from obs.agent.otlp import Encoded


class GrpcExporter(SdkGrpcExporter):
    """The SDK's OTLP/gRPC metric exporter, which also sends an :class:`Encoded` request
    (with its retries, backoff and reconnection)."""

    def _translate_data(self, data: MetricsData | Encoded) -> ExportMetricsServiceRequest:
        if isinstance(data, Encoded):
            return data.request
        return super()._translate_data(data)

    def _count_data(self, data: MetricsData | Encoded) -> int:
        if isinstance(data, Encoded):
            return data.points
        count: int = super()._count_data(data)
        return count

    def export_encoded(self, encoded: Encoded) -> MetricExportResult:
        result: MetricExportResult = self._export(encoded)  # type: ignore[arg-type]
        return result
