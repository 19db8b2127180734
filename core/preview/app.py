"""The preview as one object: store, scraper and HTTP server, started and stopped together.

``obs preview`` runs it in the foreground; ``obs demo`` embeds it.

Example:
    >>> from obs.dashboards.shipped import DASHBOARDS
    >>> preview = Preview(DASHBOARDS, ["http://127.0.0.1:9/metrics"], interval=0.1).start()
    >>> preview.url.startswith("http://127.0.0.1:")
    True
    >>> preview.wait_rounds(1, timeout=5.0)
    True
    >>> preview.stop()
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

from obs.dashboards.dashboard import Dashboard
from obs.preview.scraper import Scraper
from obs.preview.server import make_server
from obs.preview.store import Store
from obs.slos.slo import SLO

# Where a service (OTEL_METRICS_EXPORTER=prometheus) and the obs agent listen by default.
DEFAULT_SOURCES = ("http://127.0.0.1:9464/metrics", "http://127.0.0.1:9465/metrics")


class Preview:
    """Scrape ``sources`` every ``interval`` s, keep ``window`` s of at most ``max_series``
    series, serve ``dashboards`` and the status of ``slos`` on ``host:port`` (port 0: a
    free one)."""

    def __init__(
        self,
        dashboards: Sequence[Dashboard],
        sources: Sequence[str] = DEFAULT_SOURCES,
        *,
        interval: float = 5.0,
        window: float = 900.0,
        host: str = "127.0.0.1",
        port: int = 0,
        max_series: int = 10_000,
        slos: Sequence[SLO] = (),
    ) -> None:
        capacity = max(2, math.ceil(window / interval) + 1)
        self.dashboards = tuple(dashboards)
        self.slos = tuple(slos)
        self.store = Store(capacity=capacity, max_series=max_series)
        self.scraper = Scraper(self.store, sources, interval)
        self.server = make_server(host, port, self.dashboards, self.store, interval, slos=self.slos)
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="obs-preview-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> Preview:
        self.scraper.start()
        self._thread.start()
        return self

    def wait_rounds(self, rounds: int, timeout: float) -> bool:
        """Wait until ``rounds`` scrape rounds have completed; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.scraper.completed < rounds:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        self.scraper.stop()
        self.server.shutdown()
        self.server.server_close()
