"""A Prometheus ``/metrics`` endpoint inside the service (``OTEL_METRICS_EXPORTER=prometheus``).

Serves the same exposition as the agent (:mod:`obs.export.prometheus_text`), so a scraper
(Prometheus, the Datadog Agent's OpenMetrics check, ``obs preview``) can read the service's
own metrics without a collector.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from opentelemetry.sdk.metrics.export import MetricsData

from obs.export.http_server import RouteServer, cached


class PrometheusEndpoint(RouteServer):
    """GET /metrics on ``host:port`` (port 0: a free one, see ``.port``).

    A scrape collects every instrument of the service, so the page is rendered at most once
    per ``max_age`` seconds and shared by every scrape in between: a scraper asking hundreds
    of times a second costs the service one collection a second.
    """

    def __init__(
        self,
        host: str,
        port: int,
        scrape: Callable[[], MetricsData],
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from obs.export import prometheus_text as prometheus

        def metrics() -> tuple[int, str, list[bytes]]:
            return 200, prometheus.CONTENT_TYPE, [prometheus.render(scrape())]

        super().__init__((host, port), {"/metrics": cached(metrics, max_age, clock)})
