"""`obs demo` as a newcomer runs it: it starts, produces latency, queue-depth, cache-hit and
guard metrics within a bounded time, serves the preview, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from support.servers import python_env

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

SUMMARY = re.compile(
    r"p95 Mongo latency (?P<latency>[\d.]+) ms \| deepest queue (?P<queue>\S+): "
    r"(?P<waiting>\d+) waiting \| cache hits (?P<hits>\d+)%"
)
BURNING = re.compile(r"SLO (?P<slo>\S+) burning (?P<rate>[\d.]+)x")


def _lines(proc: subprocess.Popen[str], deadline: float) -> Iterator[str]:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line:
                return
            yield line.rstrip("\n")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def demo() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "obs.cli", "demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=python_env(),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_the_demo_runs_measures_previews_and_stops(demo: subprocess.Popen[str]) -> None:
    seen: list[str] = []
    ports: list[int] = []
    preview = None
    numbers = burning = None
    for line in _lines(demo, time.monotonic() + 150):
        seen.append(line)
        ports += [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", line)]
        if line.startswith("Open "):
            preview = line.split()[1]
        found = SUMMARY.search(line)
        # the exports queue fills in bursts (one at start, then every 30 s): depth > 0
        if found and float(found["latency"]) > 0 and int(found["waiting"]) > 0:
            numbers = found
        # the exports' storage fails for the first 15 s: job runs fail, the SLO burns
        burning = burning or BURNING.search(line)
        if numbers and burning:
            break
    assert numbers is not None, "\n".join(seen)
    assert burning is not None, "\n".join(seen)
    assert float(burning["rate"]) > 1
    assert preview is not None
    assert int(numbers["hits"]) > 0
    assert numbers["queue"] == "exports"

    with urllib.request.urlopen(preview, timeout=10) as page:
        assert page.status == 200
        assert b"obs" in page.read()
    with urllib.request.urlopen(f"{preview}api/slos", timeout=10) as reply:
        slos = {s["key"]: s for s in json.load(reply)}
    # the failure burst at the start: export runs fail, job success burns its budget
    jobs = slos["obs.jobs.success"]
    assert jobs["burning"], jobs
    assert jobs["state"] == "missed", jobs
    # one API key floods the admin API from the 5th second: the guard throttles it, and the
    # Protection group's toplist names its (hashed) client
    throttled = False
    deadline = time.monotonic() + 60
    while not throttled and time.monotonic() < deadline:
        with urllib.request.urlopen(f"{preview}api/dashboards/obs.service", timeout=10) as reply:
            throttled = b"obs.guard.client:" in reply.read()
        time.sleep(1)
    assert throttled

    os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    pressed = time.monotonic()
    assert demo.wait(30) == 0, "\n".join(seen)
    assert time.monotonic() - pressed < 5.0, "the demo took 5 s or more to stop after Ctrl-C"
    preview_port = urlsplit(preview).port
    assert preview_port is not None
    still_open = [p for p in {*ports, preview_port} if _listening(p)]
    assert still_open == [], f"ports left open after the demo stopped: {still_open}"
