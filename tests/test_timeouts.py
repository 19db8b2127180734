"""Timeouts are promises: with the collector refused or black-holed, over gRPC and HTTP,
obs.flush(t) and obs.shutdown(t) return within t (plus a generous margin for a loaded
machine, far below the 10 s an SDK export waits by default) and report False, and
interpreter exit waits at most OBS_EXIT_TIMEOUT; `obs agent` stops within its 5 s on
SIGTERM. (The demo's Ctrl-C is held by tests/test_demo.py.)"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource

import obs
from obs import catalog
from obs.agent.export import Exporter, OtlpLoop
from obs.agent.otlp import otlp_exporter
from obs.agent.otlp_settings import OtlpSettings
from obs.agent.points import Point
from obs.agent.store import Store
from obs.runtime.settings import load
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver
from support.servers import RedisServer, python_env
from support.unreachable import black_hole, refused

StartObs = Callable[..., Status]
MARGIN = 1.5  # seconds a loaded machine may add to a promise
PROTOCOLS = ("grpc", "http/protobuf")
AGENT_STOP_SECONDS = 5.0  # obs.agent.app.Agent.stop's default


@pytest.fixture(params=["refused", "black hole"])
def dead_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "refused":
        yield refused()
    else:
        with black_hole() as endpoint:
            yield endpoint


def _record() -> None:
    with obs.job("q"):  # a span and metric points
        pass


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("end", [obs.flush, obs.shutdown], ids=["flush", "shutdown"])
def test_flush_and_shutdown_return_within_their_timeout_and_report_the_loss(
    start_obs: StartObs, dead_endpoint: str, protocol: str, end: Callable[[float], bool]
) -> None:
    start_obs(otlp_endpoint=dead_endpoint, otlp_protocol=protocol)
    _record()
    started = time.monotonic()
    delivered = end(1.0)
    took = time.monotonic() - started
    assert took < 1.0 + MARGIN
    assert delivered is False
    obs.shutdown(0.5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_flush_keeps_its_timeout_while_an_export_is_under_way(
    start_obs: StartObs, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The span processor's own thread starts exporting to the black hole (with the
    # exporter's 10 s) before the flush begins: the flush cannot shorten that export.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    with black_hole() as endpoint:
        start_obs(otlp_endpoint=endpoint, otlp_protocol=protocol)
        _record()
        time.sleep(0.5)
        started = time.monotonic()
        flushed = obs.flush(1.0)
        took = time.monotonic() - started
        assert took < 1.0 + MARGIN
        assert flushed is False
        started = time.monotonic()
        obs.shutdown(1.0)
        assert time.monotonic() - started < 1.0 + MARGIN


def test_a_reachable_collector_still_gets_everything(
    start_obs: StartObs, otlp: GrpcReceiver
) -> None:
    start_obs()
    _record()
    assert obs.flush(1.0) is True
    _record()
    assert obs.shutdown(1.0) is True
    assert len(otlp.spans("process q")) == 2


@pytest.mark.servers
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_exit_waits_at_most_the_exit_timeout(
    dead_endpoint: str, protocol: str, tmp_path: Path
) -> None:
    script = tmp_path / "service.py"
    script.write_text(
        "import time, obs\n"
        f"obs.init(otlp_endpoint={dead_endpoint!r}, otlp_protocol={protocol!r}, exit_timeout=1)\n"
        "with obs.job('at-exit'):\n    pass\n"
        "print(time.time(), flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=60,
    )
    exited = time.time()
    assert done.returncode == 0, done.stderr
    assert exited - float(done.stdout) < 1.0 + MARGIN


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_agents_export_loop_stops_within_its_timeout(dead_endpoint: str, protocol: str) -> None:
    store = Store()
    store.replace("redis", [Point.of(catalog.REDIS_DB_KEYS, 5, {"db": "0"})])
    otlp = otlp_exporter(OtlpSettings(endpoint=dead_endpoint, protocol=protocol))
    loop = OtlpLoop(Exporter(store, Resource.create({})), otlp, interval=0.1).start()
    time.sleep(0.5)  # exports are failing, one of them under way
    started = time.monotonic()
    delivered = loop.stop(1.0)
    assert time.monotonic() - started < 1.0 + MARGIN
    assert delivered is False


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_agent_stops_within_its_timeout_on_sigterm(
    redis_server: RedisServer, dead_endpoint: str, protocol: str
) -> None:
    agent = subprocess.Popen(
        [str(Path(sys.executable).with_name("obs")), "agent", "--redis", redis_server.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=dead_endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OBS_AGENT_LISTEN="",
            OBS_AGENT_EXPORT_INTERVAL="0.2",
            OBS_AGENT_REDIS_INFO__INTERVAL="0.2",
        ),
    )
    try:
        assert agent.stderr is not None
        give_up = time.monotonic() + 30
        while "watching" not in agent.stderr.readline() and time.monotonic() < give_up:
            pass  # until its signal handlers are in place
        time.sleep(1.0)  # exports are failing, one of them under way
        agent.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, stderr = agent.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert agent.returncode == 0, stderr
    assert took < AGENT_STOP_SECONDS + MARGIN


@given(st.one_of(st.floats(), st.text(max_size=12), st.integers()))
def test_any_exit_timeout_is_kept_only_when_finite_and_in_range(value: object) -> None:
    loaded, problems = load({"exit_timeout": value})
    assert 0.0 <= loaded.exit_timeout <= 600.0
    if problems:
        assert loaded.exit_timeout == 5.0
        assert [p.setting for p in problems] == ["obs.init(exit_timeout=...)"]
        assert str(problems[0]).endswith("; ignored")
