"""The SDK's OTLP/HTTP metric exporter, taught to send the agent's pre-encoded requests."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as SdkHttpExporter,
)
from opentelemetry.sdk.metrics.export import MetricExportResult

from obs.agent.otlp import Encoded
from obs.internals.otel_sdk import RequestsOverHttp


class HttpExporter(RequestsOverHttp, SdkHttpExporter):
    """The SDK's OTLP/HTTP metric exporter, which also sends an :class:`Encoded` request."""

    def export_encoded(self, encoded: Encoded) -> MetricExportResult:
        return self.send_request(encoded.request, encoded.points)
