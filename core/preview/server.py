"""The preview's HTTP server: the page, its script and style, and the JSON it draws.

Routes (GET only):

- ``/`` and ``/d/<key>``: the page (it reads the path to know which dashboard to draw);
- ``/static/<file>``: the script and style shipped in the package (nothing from a CDN);
- ``/api/dashboards``: key, title and description of every dashboard;
- ``/api/dashboards/<key>?var=value``: the dashboard evaluated (:mod:`obs.preview.model`);
- ``/api/slos``: every SLO's status over the data held (:mod:`obs.preview.slo`);
- ``/api/status``: rounds held, series count and each source's state.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from obs.dashboards.dashboard import Dashboard
from obs.preview.model import dashboard_model
from obs.preview.slo import slo_status
from obs.preview.store import Store
from obs.slos.slo import SLO

log = logging.getLogger("obs.preview")
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def _static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("obs.preview") / "static"
    files: dict[str, tuple[bytes, str]] = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if suffix in _STATIC_TYPES:
            files[item.name] = (item.read_bytes(), _STATIC_TYPES[suffix])
    return files


def status(store: Store, interval: float) -> dict[str, Any]:
    """What the page shows about the data: rounds held, series, sources and their errors."""
    return {
        "interval": interval,
        "rounds": len(store.rounds()),
        "series": store.series_count(),
        "sources": [
            {
                "url": s.url,
                "ok": s.error is None and s.last_success is not None,
                "error": s.error,
                "last_success": s.last_success,
                "series": s.series,
                "ignored": s.ignored,
                "refused": s.refused,
            }
            for s in store.sources()
        ],
    }


def make_server(
    host: str,
    port: int,
    dashboards: Sequence[Dashboard],
    store: Store,
    interval: float,
    *,
    slos: Sequence[SLO] = (),
) -> ThreadingHTTPServer:
    """A server (not yet serving) for ``dashboards`` and ``slos`` over ``store``."""
    by_key = {d.key: d for d in dashboards}
    static = _static()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                self._route()
            except Exception as exc:  # a page that cannot be built answers, never hangs up
                log.warning("obs preview: %s failed", self.path, exc_info=True)
                body = json.dumps({"error": type(exc).__name__}).encode()
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def _route(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            path = url.path
            if path == "/" or path.startswith("/d/"):
                self._send(*static["index.html"])
            elif path.startswith("/static/") and path[8:] in static:
                self._send(*static[path[8:]])
            elif path == "/api/dashboards":
                self._json(
                    [
                        {"key": d.key, "title": d.title, "description": d.description}
                        for d in dashboards
                    ]
                )
            elif path.startswith("/api/dashboards/") and path[16:] in by_key:
                choices = dict(urllib.parse.parse_qsl(url.query))
                self._json(dashboard_model(by_key[path[16:]], store, choices))
            elif path == "/api/slos":
                self._json([slo_status(slo, store, None).as_json() for slo in slos])
            elif path == "/api/status":
                self._json(status(store, interval))
            else:
                self.send_error(404)

        def _json(self, value: Any) -> None:
            body = json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
            self._send(body, "application/json")

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
