"""The agent's HTTP endpoints: ``/metrics`` (Prometheus text), ``/healthz`` (the process
answers and every collector's thread runs; 503 lists the threads that are gone, so a
liveness probe restarts the agent) and ``/readyz`` (every target collected at least once;
503 lists those not yet).

Served by :class:`obs.export.http_server.RouteServer` (bounded connections, timeouts,
gzip); ``/metrics`` is rendered at most once a second however often it is asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from obs.export import prometheus_text as prometheus
from obs.export.http_server import RouteServer, cached


class Endpoints(RouteServer):
    """Serves the endpoints on ``address`` from a daemon thread."""

    def __init__(
        self,
        address: tuple[str, int],
        prometheus_text: Callable[[], Iterable[bytes]],
        not_ready: Callable[[], list[str]],
        dead: Callable[[], list[str]] = list,
    ) -> None:
        def metrics() -> tuple[int, str, Iterable[bytes]]:
            return 200, prometheus.CONTENT_TYPE, prometheus_text()

        def healthz() -> tuple[int, str, list[bytes]]:
            gone = dead()
            if gone:
                body = json.dumps({"healthy": False, "threads_gone": gone}).encode()
                return 503, "application/json", [body]
            return 200, "text/plain", [b"ok\n"]

        def readyz() -> tuple[int, str, list[bytes]]:
            waiting = not_ready()
            body = json.dumps({"ready": not waiting, "waiting_for": waiting}).encode()
            return (503 if waiting else 200), "application/json", [body]

        # Collections refresh the page every few seconds: one rendering a second is plenty.
        routes = {"/metrics": cached(metrics), "/healthz": healthz, "/readyz": readyz}
        super().__init__(address, routes)
