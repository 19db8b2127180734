"""The agent's HTTP endpoints: ``/metrics`` (Prometheus text), ``/healthz`` (the process
answers) and ``/readyz`` (every target collected at least once; 503 lists those not yet).

A small threaded ``http.server``: three read-only routes do not need a web framework.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from obs.agent import prometheus


class Endpoints:
    """Serves the endpoints on ``address`` from a daemon thread."""

    def __init__(
        self,
        address: tuple[str, int],
        prometheus_text: Callable[[], list[bytes]],
        not_ready: Callable[[], list[str]],
    ) -> None:
        # A route answers a status, a content type and the body in pieces, written one
        # after the other (/metrics is 1.5 MB at 1,000 queues: it is not joined first).
        def metrics() -> tuple[int, str, list[bytes]]:
            return 200, prometheus.CONTENT_TYPE, prometheus_text()

        def healthz() -> tuple[int, str, list[bytes]]:
            return 200, "text/plain", [b"ok\n"]

        def readyz() -> tuple[int, str, list[bytes]]:
            waiting = not_ready()
            body = json.dumps({"ready": not waiting, "waiting_for": waiting}).encode()
            return (503 if waiting else 200), "application/json", [body]

        routes = {"/metrics": metrics, "/healthz": healthz, "/readyz": readyz}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.split("?", 1)[0])
                status, content_type, body = route() if route else (404, "text/plain", [])
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(sum(map(len, body))))
                self.end_headers()
                for piece in body:
                    self.wfile.write(piece)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the agent's own log

        self.server = ThreadingHTTPServer(address, Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Endpoints:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
