"""A few read-only GET routes served from a daemon thread: the agent's endpoints and a
service's ``/metrics``.

The standard library's threaded ``http.server`` is enough for a handful of routes read by
scrapers and probes; a web framework would cost more memory than everything it serves.

Example:
    >>> server = RouteServer(("127.0.0.1", 0), {"/ping": lambda: (200, "text/plain", [b"ok"])})
    >>> server.start().port > 0
    True
    >>> server.stop()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# A route answers a status, a content type and the body in pieces, written one after the
# other (a /metrics page of 1,000 queues is 1.5 MB: it is never joined first).
Route = Callable[[], tuple[int, str, list[bytes]]]


class RouteServer:
    """Serves ``routes`` (path -> :data:`Route`) on ``address``; 404 for anything else."""

    def __init__(self, address: tuple[str, int], routes: Mapping[str, Route]) -> None:
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
                pass  # a scrape every few seconds must not fill the process's log

        self.server = ThreadingHTTPServer(address, Handler)  # binds now: errors surface here
        self.server.daemon_threads = True
        self.host = str(address[0])
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
