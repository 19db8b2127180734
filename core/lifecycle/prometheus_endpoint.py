"""A Prometheus ``/metrics`` endpoint inside the service (``OTEL_METRICS_EXPORTER=prometheus``).

Serves the same exposition as the agent (:mod:`obs.export.prometheus_text`), so a scraper
(Prometheus, the Datadog Agent's OpenMetrics check, ``obs preview``) can read the service's
own metrics without a collector.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.metrics.export import MetricsData

from obs.export.http_server import RouteServer


class PrometheusEndpoint(RouteServer):
    """GET /metrics on ``host:port`` (port 0: a free one, see ``.port``)."""

    def __init__(self, host: str, port: int, scrape: Callable[[], MetricsData]) -> None:
        from obs.export import prometheus_text as prometheus

        def metrics() -> tuple[int, str, list[bytes]]:
            return 200, prometheus.CONTENT_TYPE, [prometheus.render(scrape())]

        super().__init__((host, port), {"/metrics": metrics})
