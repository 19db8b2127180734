"""OpenTelemetry instrumentations installed beside obs are enabled by obs.init(), except
pymongo's (replaced by obs) and the ones the standard variable disables."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pymongo
import pytest

import obs
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver
from support.servers import MongoServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]


@pytest.fixture
def web() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_installed_instrumentations_are_enabled(
    start_obs: StartObs, otlp: GrpcReceiver, web: str
) -> None:
    status = start_obs()
    assert "urllib" in status["instrumentations"].detail
    assert urllib.request.urlopen(web).read() == b"ok"
    assert obs.flush()
    assert [s.name for s in otlp.spans() if s.name == "GET"] == ["GET"]


def test_the_standard_variable_disables_one(
    start_obs: StartObs, otlp: GrpcReceiver, web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "urllib")
    status = start_obs()
    assert "urllib" not in status["instrumentations"].detail
    urllib.request.urlopen(web).read()
    assert obs.flush()
    assert [s for s in otlp.spans() if s.name == "GET"] == []


def test_pymongos_contrib_instrumentation_is_not_doubled(
    start_obs: StartObs, otlp: GrpcReceiver, mongo: MongoServer
) -> None:
    start_obs()
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    client.installed_app.t.find_one({"secret": "value-123"})
    client.close()
    assert obs.flush()
    finds = [s for s in otlp.spans() if "find" in s.name]
    assert [s.name for s in finds] == ["find t"]  # obs's only; contrib would add another
    assert "value-123" not in str([s.attributes for s in otlp.spans()])


def test_shutdown_uninstruments(start_obs: StartObs, otlp: GrpcReceiver, web: str) -> None:
    start_obs()
    obs.shutdown()
    otlp.clear()
    urllib.request.urlopen(web).read()
    assert otlp.spans() == []
