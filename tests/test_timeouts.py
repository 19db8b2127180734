"""Timeouts are promises: with the collector refused or black-holed, over gRPC and HTTP,
obs.flush(t) and obs.shutdown(t) return within t (plus a generous margin for a loaded
machine, far below the 10 s an SDK export waits by default) and report False, and
interpreter exit waits at most OBS_EXIT_TIMEOUT."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import obs
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver
from support.servers import python_env
from support.unreachable import black_hole, refused

StartObs = Callable[..., Status]
MARGIN = 1.5  # seconds a loaded machine may add to a promise
PROTOCOLS = ("grpc", "http/protobuf")


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
