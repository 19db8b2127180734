"""A Prometheus text endpoint whose series a test writes, for ``obs preview`` tests.

Instruments are made from catalog entries with the OpenTelemetry SDK and the exposition is
rendered by obs's own writer (:mod:`obs.export.prometheus_text`, the one the agent and
``OTEL_METRICS_EXPORTER=prometheus`` serve), so the names and labels are exactly what obs
emits. Before each scrape ``on_scrape(n)`` records that scrape's increments, and every
sample carries the timestamp ``start + n * step`` seconds: the scraper sees exactly
``step`` seconds between scrapes, so rates are known to the digit. After ``live_scrapes``
scrapes the endpoint freezes: it serves the last text again, timestamps included, which a
scraper takes as "nothing new" (as Prometheus does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from obs.catalog import Kind, Metric
from obs.export.prometheus_text import CONTENT_TYPE, render

Attributes = Mapping[str, str]
_NONE: Attributes = {}


class MetricsSource:
    """GET /metrics on a free port of 127.0.0.1."""

    def __init__(
        self,
        on_scrape: Callable[[MetricsSource, int], None],
        *,
        step: float = 10.0,
        start: float = 1_700_000_000.0,
        live_scrapes: int | None = None,
    ) -> None:
        self.on_scrape = on_scrape
        self.step = step
        self.start_time = start
        self.live_scrapes = live_scrapes
        self.scrapes = 0
        self._reader = InMemoryMetricReader()
        self._meter = MeterProvider(metric_readers=[self._reader]).get_meter("test")
        self._instruments: dict[str, Any] = {}
        self._last = b""
        self._lock = threading.Lock()
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                body = source.body()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> MetricsSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def body(self) -> bytes:
        """The exposition for the next scrape (frozen after ``live_scrapes``)."""
        with self._lock:
            if self.live_scrapes is not None and self.scrapes >= self.live_scrapes:
                self.scrapes += 1
                return self._last
            self.on_scrape(self, self.scrapes)
            millis = int((self.start_time + self.scrapes * self.step) * 1000)
            self.scrapes += 1
            lines = render(self._reader.get_metrics_data()).decode().splitlines()
            self._last = "".join(
                f"{line}\n" if line.startswith("#") else f"{line} {millis}\n" for line in lines
            ).encode()
            return self._last

    def _instrument(self, metric: Metric) -> Any:
        if metric.name not in self._instruments:
            create = {
                Kind.COUNTER: metric.create_counter,
                Kind.UP_DOWN_COUNTER: metric.create_up_down_counter,
                Kind.HISTOGRAM: metric.create_histogram,
                Kind.GAUGE: metric.create_gauge,
            }[metric.kind]
            self._instruments[metric.name] = create(self._meter)
        return self._instruments[metric.name]

    def add(self, metric: Metric, amount: float, attributes: Attributes = _NONE) -> None:
        """Add to a counter or an up-down counter."""
        self._instrument(metric).add(amount, dict(attributes))

    def set(self, metric: Metric, value: float, attributes: Attributes = _NONE) -> None:
        """Set a gauge."""
        self._instrument(metric).set(value, dict(attributes))

    def record(
        self, metric: Metric, value: float, times: int = 1, attributes: Attributes = _NONE
    ) -> None:
        """Record ``value`` into a histogram ``times`` times."""
        instrument = self._instrument(metric)
        for _ in range(times):
            instrument.record(value, dict(attributes))
