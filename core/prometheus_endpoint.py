"""A Prometheus ``/metrics`` endpoint inside the service (``OTEL_METRICS_EXPORTER=prometheus``).

Serves the same exposition as the agent (:mod:`obs.agent.prometheus`), from a daemon thread,
so a scraper (Prometheus, the Datadog Agent's OpenMetrics check, ``obs preview``) can read the
service's own metrics without a collector.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.sdk.metrics.export import MetricsData


class PrometheusEndpoint:
    """GET /metrics on ``host:port`` (port 0: a free one, see ``.port``)."""

    def __init__(self, host: str, port: int, scrape: Callable[[], MetricsData]) -> None:
        from obs.agent import prometheus

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = prometheus.render(scrape())
                self.send_response(200)
                self.send_header("Content-Type", prometheus.CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a scrape every few seconds must not fill the service's log

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> PrometheusEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
