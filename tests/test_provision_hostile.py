"""obs provision against an API that misbehaves: absurd rate-limit headers, huge waits,
paging ignored, replies trickled or huge, bodies of the wrong shape. Each ends in one clear
error (or a correct result), never a traceback, a hang or unbounded memory."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from obs.provision.client import DatadogClient, DatadogError, Endpoint
from obs.provision.pacing import Pacer
from support.datadog_standin import API_KEY, APP_KEY, DatadogStandIn
from support.provision_run import provision, write_definitions


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between single bytes of the body


class Scripted:
    """An HTTP server answering each request with ``answer(method, path, query)``."""

    def __init__(self, answer: Callable[[str, str, dict[str, str]], Reply]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.requests.append((self.command, parts.path, query))
                reply = owner.answer(self.command, parts.path, query)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if not reply.trickle:
                        self.wfile.write(reply.body)
                        return
                    for byte in reply.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(reply.trickle)
                except OSError:
                    pass  # the client gave up

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[..., Reply]], Scripted]]:
    servers: list[Scripted] = []

    def start(answer: Callable[..., Reply]) -> Scripted:
        servers.append(Scripted(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def client(url: str, **options: Any) -> tuple[DatadogClient, list[float], list[str]]:
    slept: list[float] = []
    said: list[str] = []
    made = DatadogClient(
        Endpoint(url, API_KEY, APP_KEY),
        sleep=slept.append,
        notify=said.append,
        backoff=0.001,
        **options,
    )
    return made, slept, said


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "1e400", "soon"])
def test_absurd_rate_limit_headers_neither_crash_nor_hang(
    scripted: Callable[..., Scripted], value: str
) -> None:
    headers = {
        "X-RateLimit-Name": "monitors",
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": value,
    }
    calls = []

    def answer(method: str, path: str, query: dict[str, str]) -> Reply:
        calls.append(path)
        if len(calls) == 1:
            return Reply(429, b'{"errors": ["slow down"]}', {**headers, "Retry-After": value})
        return Reply(200, b"[]", headers)  # the same headers on a success

    made, slept, _ = client(scripted(answer).url)
    assert made.get("/api/v1/monitor") == []
    assert made.get("/api/v1/monitor") == []
    assert all(0 <= s <= 300 for s in slept), slept


def test_a_huge_retry_after_fails_cleanly_and_waits_are_said(
    scripted: Callable[..., Scripted],
) -> None:
    def answer(method: str, path: str, query: dict[str, str]) -> Reply:
        return Reply(429, b'{"errors": ["Rate limit exceeded"]}', {"Retry-After": "100000"})

    made, slept, _ = client(scripted(answer).url, max_wait=120)
    with pytest.raises(DatadogError, match=r"asks to wait 100000 s, longer than the 120 s"):
        made.get("/api/v1/dashboard")
    assert slept == []
    # A wait within the cap is taken, and said on stderr.
    said: list[str] = []
    pacer = Pacer(sleep=lambda s: None, notify=said.append, max_wait=120)
    pacer.wait(30, "Datadog's rate limit on GET /api/v1/dashboard (429)")
    assert said == [
        "obs provision: waiting 30 s for Datadog's rate limit on GET /api/v1/dashboard (429)"
    ]
    pacer.wait(10_000, "pacing")
    assert pacer.waited == 150


def test_the_wait_cap_is_a_setting(standin: DatadogStandIn, tmp_path: Path) -> None:
    bad = provision(standin, "plan", OBS_PROVISION_MAX_WAIT="forever")
    assert bad.rc == 1
    assert "OBS_PROVISION_MAX_WAIT: 'forever' is not a number of seconds" in bad.err
    standin.inject("429", "GET", "/api/v1/dashboard")
    run = provision(standin, "plan", "--no-defaults", OBS_PROVISION_MAX_WAIT="0")
    assert run.rc == 1
    assert "longer than the 0 s obs waits (OBS_PROVISION_MAX_WAIT)" in run.err


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn().start()
    yield server
    server.stop()


def test_an_api_ignoring_paging_is_read_once(standin: DatadogStandIn, tmp_path: Path) -> None:
    for i in range(150):  # more than a page of each
        standin.put_dashboard({"title": f"d{i}", "layout_type": "ordered", "widgets": []})
        standin.put_slo(
            {
                "type": "metric",
                "name": f"s{i}",
                "query": {"numerator": "sum:a{*}.as_count()", "denominator": "sum:a{*}.as_count()"},
                "thresholds": [{"timeframe": "30d", "target": 99}],
                "tags": ["managed-by:obs", f"obs-id:s{i}"],
            }
        )
        standin.put_monitor(
            {
                "type": "query alert",
                "name": f"m{i}",
                "query": "avg(last_5m):avg:redis.memory.used{*} > 1",
                "options": {"thresholds": {"critical": 1}},
                "tags": ["managed-by:obs", f"obs-id:m{i}"],
            }
        )
    standin.ignore_paging = True
    started = time.monotonic()
    run = provision(standin, "plan", "--no-defaults", "--project", "p")
    assert run.rc == 0, run.text
    assert time.monotonic() - started < 30
    assert standin.count("GET") <= 6  # a page, the same page again, for each list


def test_a_trickled_reply_times_out(scripted: Callable[..., Scripted]) -> None:
    body = json.dumps({"dashboards": []}).encode() + b" " * 200

    def answer(method: str, path: str, query: dict[str, str]) -> Reply:
        return Reply(200, body, trickle=0.05)

    made, _, _ = client(scripted(answer).url, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(DatadogError, match=r"no complete reply within 1 s"):
        made.get("/api/v1/dashboard")
    assert time.monotonic() - started < 3


def test_a_huge_reply_is_refused_without_reading_it_all(
    scripted: Callable[..., Scripted],
) -> None:
    huge = b"[" + b"0," * (3 * 2**20) + b"0]"

    def answer(method: str, path: str, query: dict[str, str]) -> Reply:
        return Reply(200, huge)

    made, _, _ = client(scripted(answer).url, max_body=2**20)
    with pytest.raises(DatadogError, match=r"larger than 1 MiB"):
        made.get("/api/v1/monitor")


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/v1/monitor", {"monitors": []}, "GET /api/v1/monitor: expected a list, got dict"),
        (
            "/api/v1/monitor",
            [{"name": "no id", "tags": ["managed-by:obs"]}],
            "GET /api/v1/monitor[0]: no valid monitor id (got NoneType None)",
        ),
        (
            "/api/v1/dashboard",
            {"dashboards": [{"id": "abc-def-ghi", "description": 5}]},
            "GET /api/v1/dashboard: dashboards[0] (dashboard abc-def-ghi): description: "
            "expected text or null, got int 5",
        ),
        (
            "/api/v1/dashboard",
            {"dashboards": {"id": "abc-def-ghi"}},
            "GET /api/v1/dashboard: dashboards: expected a list, got dict",
        ),
        ("/api/v1/slo", [], "GET /api/v1/slo: expected an object, got list"),
        ("/api/v1/slo", {"data": {"id": "x"}}, "GET /api/v1/slo: data: expected a list, got dict"),
        (
            "/api/v1/slo",
            {"data": [{"id": 5, "tags": ["managed-by:obs"]}]},
            "GET /api/v1/slo: data[0]: no valid slo id (got int 5)",
        ),
        (
            "/api/v1/slo",
            {"data": [{"id": "abc", "thresholds": {"30d": 99}}]},
            "GET /api/v1/slo: data[0] (slo abc): thresholds: expected a list or null, got dict",
        ),
    ],
)
def test_replies_of_the_wrong_shape_are_named(
    scripted: Callable[..., Scripted], path: str, body: Any, expected: str
) -> None:
    def answer(method: str, asked: str, query: dict[str, str]) -> Reply:
        if asked == path:
            return Reply(200, json.dumps(body).encode())
        empty = {"dashboard": b'{"dashboards": []}', "slo": b'{"data": []}'}
        return Reply(200, empty.get(asked.split("/")[3], b"[]"))

    server = scripted(answer)
    run = provision(None, "plan", "--no-defaults", "--project", "p", OBS_DATADOG_API_URL=server.url)
    assert run.rc == 1
    [line] = run.err.strip().splitlines()
    assert line.startswith(f"obs provision plan: {expected}"), line


def test_definitions_with_wrong_types_are_invalid_lines(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    source = write_definitions(
        tmp_path,
        """
from obs import catalog
from obs.dashboards import Dashboard, Note, Timeseries, avg
from obs.monitors import Monitor, Thresholds
from obs.slos import SLO, TimeSlice
from obs.slos.shipped import JOB_SUCCESS

A = Dashboard("t.a", None, (Note("x"),))
B = Dashboard("t.b", "B", None)
C = Monitor("t.c", 123, avg(catalog.REDIS_MEMORY_USED), ">", Thresholds(critical=1), "m")
D = Monitor("t.d", "D", avg(catalog.REDIS_MEMORY_USED), ">", None, "m")
E = Monitor("t.e", "E", "avg:redis.memory.used{*}", ">", Thresholds(critical=1), "m")
F = Monitor("t.f", "F", avg(catalog.REDIS_MEMORY_USED), ">", Thresholds(critical=1), "m",
            env_thresholds={"prod": 5})
G = Dashboard("t.g", "G", (Timeseries("x", None),))
H = SLO("t.h", "H", JOB_SUCCESS.sli, targets={"30d": "high"})
I = SLO("t.i", "I", "count:obs.cache.requests{*}", targets={"30d": 99.0})
J = SLO("t.j", "J", TimeSlice(avg(catalog.REDIS_MEMORY_USED), "<", None), targets={"30d": 99.0})
""",
    )
    run = provision(standin, "plan", "--no-defaults", "--from", source, "--project", "p")
    assert run.rc == 1, run.text
    lines = run.err.strip().splitlines()
    assert lines[:-1] == [
        "invalid: dashboard t.a: title: expected str, got None",
        "invalid: dashboard t.b: widgets: expected a tuple, got None",
        "invalid: dashboard t.g: widgets[0].series: expected a tuple, got None",
        "invalid: monitor t.c: name: expected str, got int 123",
        "invalid: monitor t.d: thresholds: expected Thresholds, got None",
        "invalid: monitor t.e: query: expected Expr, got str 'avg:redis.memory.used{*}'",
        "invalid: monitor t.f: env_thresholds['prod']: expected Thresholds, got int 5",
        "invalid: slo t.h: targets['30d']: expected float, got str 'high'",
        "invalid: slo t.i: sli: expected Ratio or TimeSlice, got str 'count:obs.cache.requests{*}'",
        "invalid: slo t.j: sli.threshold: expected float, got None",
    ]
    assert "nothing was sent to Datadog" in lines[-1]
    assert standin.log == []


def test_a_definitions_file_that_exits_is_an_error(standin: DatadogStandIn, tmp_path: Path) -> None:
    quits = write_definitions(tmp_path, "import sys\nsys.exit(0)\n", "quits.py")
    run = provision(standin, "plan", "--no-defaults", "--from", quits, "--project", "p")
    assert run.rc == 1
    assert f"--from {quits}: it called sys.exit(0) while loading" in run.err
    assert standin.log == []


def test_a_folder_under_an_underscore_path_is_searched(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    folder = tmp_path / "_work" / "orders" / "observability"
    folder.mkdir(parents=True)
    write_definitions(
        folder,
        "from obs.dashboards import Dashboard, Note\nB = Dashboard('o.b', 'B', (Note('x'),))\n",
        "boards.py",
    )
    write_definitions(folder, "raise RuntimeError('private helpers are skipped')\n", "_private.py")
    run = provision(standin, "plan", "--no-defaults", "--from", folder, "--project", "p")
    assert run.rc == 2, run.text
    assert "+ create dashboard o.b" in run.out


def test_export_into_a_file_is_an_error(tmp_path: Path) -> None:
    target = write_definitions(tmp_path, "not a folder", "out.txt")
    run = provision(None, "export", target, "--project", "p")
    assert run.rc == 1
    assert run.err.strip() == f"obs provision export: export {target}: is a file, not a folder"
    inside = provision(None, "export", target / "sub", "--project", "p")
    assert inside.rc == 1
    assert "Not a directory" in inside.err
