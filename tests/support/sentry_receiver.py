"""A local Sentry endpoint: accepts envelopes at /api/<project>/envelope/ and keeps events.

DSN: ``http://key@127.0.0.1:<port>/1``. ``status`` makes it answer with an error (e.g. 500).
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.waiting import wait_for


class SentryReceiver:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self.status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver._lock:
                    receiver.requests += 1
                if receiver.status != 200:
                    self.send_response(receiver.status)
                    self.end_headers()
                    return
                receiver._add_envelope(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.dsn = f"http://publickey@127.0.0.1:{self.port}/1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _add_envelope(self, body: bytes) -> None:
        lines = body.split(b"\n")
        # envelope: header line, then (item header, payload) pairs
        index = 1
        while index < len(lines):
            if not lines[index].strip():
                index += 1
                continue
            header = json.loads(lines[index])
            length = header.get("length")
            if length is not None:
                rest = b"\n".join(lines[index + 1 :])
                payload = rest[:length]
                consumed = payload.count(b"\n") + 1
            else:
                payload = lines[index + 1] if index + 1 < len(lines) else b""
                consumed = 1
            if header.get("type") == "event":
                with self._lock:
                    self.events.append(json.loads(payload))
            index += 1 + consumed

    def start(self) -> SentryReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for_events(self, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        def arrived() -> bool:
            with self._lock:
                return len(self.events) >= n

        wait_for(arrived, timeout)
        with self._lock:
            return list(self.events)
