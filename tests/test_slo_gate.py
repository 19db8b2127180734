"""obs slo check against a real service under a load loop: obs.init() serving /metrics
(OTEL_METRICS_EXPORTER=prometheus) in this process, pymongo commands to SecantusDB through a
proxy that can hold them; the gate passes, then fails once latency is injected. And the
command's contract: bad input is one line and exit 1, a dead source is an error, k6's
thresholds are what k6 documents."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from obs.cli import main
from obs.loadtest.k6 import k6_thresholds
from obs.loadtest.report import junit
from obs.loadtest.verdict import Verdict
from obs.runtime.status import Status
from obs.slos.shipped import SLOS
from support.latency_proxy import LatencyProxy
from support.servers import MongoServer, free_port, python_env

GATE = """
from obs import catalog
from obs.catalog import attr
from obs.monitors import Monitor, Thresholds, p95
from obs.slos import SLO, Ratio, TimeSlice, count, p99

_COMMANDS = catalog.DB_CLIENT_OPERATION_DURATION
SUCCESS = SLO(
    key="shop.mongo.success",
    name="Shop commands succeed",
    sli=Ratio(
        good=count(_COMMANDS) - count(_COMMANDS, where={attr.ERROR_TYPE: "*"}),
        total=count(_COMMANDS),
    ),
    targets={"30d": 99.0},
)
FAST = SLO(
    key="shop.mongo.fast",
    name="Shop commands are fast",
    sli=TimeSlice(p99(_COMMANDS), "<", 0.4),
    targets={"30d": 99.0},
)
P95 = Monitor(
    key="shop.p95",
    name="Shop p95",
    query=p95(_COMMANDS),
    comparator=">",
    thresholds=Thresholds(critical=0.4),
    message="slow",
    gate=True,
)
"""


def gate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``obs slo ARGS`` in a process of its own, as a CI job runs it."""
    command = [sys.executable, "-m", "obs.cli", "slo", *map(str, args)]
    return subprocess.run(
        command, check=False, capture_output=True, text=True, env=python_env(), timeout=60
    )


def slo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``obs slo ARGS`` in this process (quicker, for what needs no service)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(["slo", *map(str, args)])
        except SystemExit as exc:  # argparse's usage errors
            rc = int(exc.code or 0)
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


@pytest.fixture
def service(
    start_obs: Callable[..., Status], mongo: MongoServer
) -> Iterator[tuple[str, LatencyProxy]]:
    """This process as a service: obs.init() with /metrics, and a load loop of pymongo
    commands through the latency proxy until the test ends."""
    import pymongo

    proxy = LatencyProxy("127.0.0.1", mongo.port).start()
    status = start_obs(
        metrics_exporter="prometheus",
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        traces_exporter="none",
    )
    found = re.search(r"http://[^ ]+/metrics", status["metrics"].detail)
    assert found, status["metrics"].detail
    client: Any = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true", serverSelectionTimeoutMS=5000
    )
    orders = client.shop.orders
    orders.insert_many([{"n": n} for n in range(50)])
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set():
            orders.find_one({"n": n % 50})
            n += 1
            stop.wait(0.01)

    loop = threading.Thread(target=load, daemon=True)
    loop.start()
    yield found.group(0), proxy
    stop.set()
    loop.join(10)
    client.close()
    proxy.stop()


def test_the_gate_passes_under_load_and_fails_when_latency_is_injected(
    service: tuple[str, LatencyProxy], tmp_path: Path
) -> None:
    url, proxy = service
    definitions = tmp_path / "gate.py"
    definitions.write_text(GATE)
    report = tmp_path / "junit.xml"
    check = ("check", "--no-defaults", "--from", definitions, "--source", url)
    options = ("--window", "4s", "--interval", "0.5", "--junit-xml", report)

    healthy = gate(*check, *options)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert re.search(r"shop\.mongo\.fast\s+met\s+100\.000 %", healthy.stdout), healthy.stdout
    assert re.search(r"shop\.mongo\.success\s+met\s+100\.000 %", healthy.stdout)
    assert re.search(r"shop\.p95 \(monitor\)\s+met", healthy.stdout)
    suite = ET.parse(report).getroot()[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "0", "0")

    proxy.delay = 0.5  # every command now waits half a second
    slow = gate(*check, *options)
    assert slow.returncode == 2, slow.stdout + slow.stderr
    # the window's one (short) minute slice has a p99 of at least 0.5 s: the slice is bad
    assert re.search(r"shop\.mongo\.fast\s+missed\s+0\.000 % \(0 of 1 slices\)", slow.stdout)
    assert re.search(r"shop\.mongo\.success\s+met", slow.stdout)  # slow, not failing
    assert re.search(r"shop\.p95 \(monitor\)\s+missed", slow.stdout)
    assert "Result: 2 missed, 1 met, 0 without data, 0 not evaluated." in slow.stdout
    suite = ET.parse(report).getroot()[0]
    failed = {case.get("name") for case in suite if case.find("failure") is not None}
    assert failed == {"shop.mongo.fast", "shop.p95"}


def test_a_source_that_never_answers_is_an_error(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    run = gate("check", "--source", dead, "--window", "1s", "--interval", "0.5")
    assert run.returncode == 1
    assert f"obs slo check: {dead} never answered" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "the following arguments are required: --source"),
        (["check", "--source", "ftp://x/metrics"], "--source ftp://x/metrics: expected an http"),
        (["check", "--source", "http://x/m", "--window", "soon"], "'soon' is not a window"),
        (
            ["check", "--source", "http://x/m", "--window", "2s", "--interval", "3"],
            "--interval 3: must be above 0, at most half the window",
        ),
        (["export"], "the following arguments are required: --k6"),
        (["check", "--source", "http://x/m", "--no-defaults"], "no SLOs"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args: list[str], message: str) -> None:
    run = slo(*args)
    assert run.returncode == 1, run.stdout + run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_invalid_definitions_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        GATE.replace('targets={"30d": 99.0},\n)\nP95', 'targets={"30d": 120.0},\n)\nP95')
    )
    run = slo("check", "--no-defaults", "--from", bad, "--source", "http://127.0.0.1:9/m")
    assert run.returncode == 1
    assert "invalid: slo shop.mongo.fast: targets['30d']: 120 is not a percentage" in run.stderr


def test_k6_thresholds_use_k6s_syntax_and_say_what_does_not_map(tmp_path: Path) -> None:
    definitions = tmp_path / "gate.py"
    definitions.write_text(GATE)
    out = tmp_path / "thresholds.json"
    run = slo("export", "--k6", "--from", definitions, "-o", out)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text()) == {
        "thresholds": {
            # 99.9 % (obs.mongo.success) and 99 % (shop.mongo.success) of requests succeed
            "http_req_failed": ["rate<0.001", "rate<0.01"],
            # p99 under 250 ms (obs.mongo.latency) and 400 ms (shop), p95 at most 400 ms
            "http_req_duration": ["p(99)<250", "p(99)<400", "p(95)<=400"],
        }
    }
    assert "mapped: shop.p95 (monitor) -> http_req_duration: p(95)<=400" in run.stderr
    assert "not mapped: obs.jobs.success: k6 cannot see it: queue jobs run after" in run.stderr
    assert "not mapped: obs.cache.availability" in run.stderr
    # k6's documented forms: p(N)<ms on a trend, rate<x on a rate
    pattern = re.compile(r"(p\(\d+(\.\d+)?\)|rate|avg|med|min|max)(<|<=|>|>=)\d+(\.\d+)?")
    thresholds, _, _ = k6_thresholds(SLOS, [], None)
    assert all(pattern.fullmatch(t) for ts in thresholds.values() for t in ts)


def test_junit_escapes_what_definitions_hold() -> None:
    hostile = 'x"<&>\u0007]]>'
    verdict = Verdict("slo", "k", hostile, "missed", hostile, hostile)
    document = ET.fromstring(junit([verdict], 1.0))
    (case,) = document[0]
    failure = case.find("failure")
    assert failure is not None
    shown = 'x"<&>\\x07]]>'  # markup escaped by ElementTree, the control character shown
    assert failure.text == f"{shown}: {shown}; objective {shown}"
    assert failure.get("message") == f"missed: {shown}"
