"""obs provision at scale: plan and apply of 50 dashboards and 200 monitors against the
Datadog stand-in (tests/support/datadog_standin.py, every request validated against the spec).

Reports, for each step, the requests made by method and the wall time, split into time spent
inside the stand-in (spec validation, storage) and the rest (obs: loading, rendering through
datadog-api-client's models, normalising, diffing, HTTP). Baselines measured in the same run:

- requests: the fewest the API allows for the step (list pages of dashboards, monitors and
  SLOs + one GET per dashboard for a plan; plus one write per change for an apply); figures
  are ratios against it;
- time: the same number of bare GET round trips to the stand-in (HTTP cost alone).

A plan with no changes must make read requests only; the benchmark checks it.

Run: ``make bench BENCH=provision`` (``python -m bench provision``).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from obs.cli import main as obs_main  # noqa: E402
from obs.provision.client import DatadogClient, Endpoint  # noqa: E402
from support.datadog_standin import API_KEY, APP_KEY, DatadogStandIn  # noqa: E402

N_DASHBOARDS = int(os.environ.get("BENCH_DASHBOARDS", "50"))
N_MONITORS = int(os.environ.get("BENCH_MONITORS", "200"))
PAGE = 100

DEFINITIONS = f"""
from dataclasses import replace
from obs.dashboards.shipped import DASHBOARDS as _D
from obs.monitors.shipped import MONITORS as _M

BOARDS = [replace(_D[i % len(_D)], key=f"bench.board.{{i}}", title=f"Bench board {{i}}")
          for i in range({N_DASHBOARDS})]
ALERTS = [replace(_M[i % len(_M)], key=f"bench.alert.{{i}}", name=f"Bench alert {{i}}",
                  env_thresholds={{}})
          for i in range({N_MONITORS})]
"""


class _TimedStandIn(DatadogStandIn):
    """The stand-in, adding up the time it spends answering."""

    busy = 0.0

    def handle(self, handler):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            super().handle(handler)
        finally:
            self.busy += time.perf_counter() - started


def _obs(standin: DatadogStandIn, *args: str) -> int:
    environ = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "OBS_DATADOG_API_URL": standin.url}
    saved = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return obs_main(["provision", *args])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _step(standin: _TimedStandIn, name: str, expect: int, *args: str) -> dict[str, object]:
    standin.clear_log()
    standin.busy = 0.0
    started = time.perf_counter()
    rc = _obs(standin, *args)
    wall = time.perf_counter() - started
    if rc != expect:
        raise SystemExit(f"{name}: obs provision exited {rc}, expected {expect}")
    methods = Counter(e.method for e in standin.log)
    return {"step": name, "wall": wall, "server": standin.busy, "methods": methods}


def _bare_round_trips(standin: DatadogStandIn, count: int) -> float:
    """Seconds per GET of an empty page: HTTP and the stand-in's bookkeeping, nothing else."""
    client = DatadogClient(Endpoint(standin.url, API_KEY, APP_KEY))
    started = time.perf_counter()
    for _ in range(count):
        client.get("/api/v1/dashboard", {"count": 1, "start": 10**6})
    return (time.perf_counter() - started) / count


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="obs-bench-provision-"))
    source = folder / "bench_definitions.py"
    source.write_text(DEFINITIONS)
    common = ("--no-defaults", "--from", str(source))
    standin = _TimedStandIn().start()
    try:
        # Listing stops at the first short page (the SLO list is one empty page); each monitor
        # written is validated first; each create binds the new object's mark to its id.
        empty = 3
        pages = N_DASHBOARDS // PAGE + 1 + N_MONITORS // PAGE + 1 + 1
        reads = pages + N_DASHBOARDS
        drifted_d, drifted_m = math.ceil(N_DASHBOARDS / 10), math.ceil(N_MONITORS / 10)
        floors = {
            "plan (empty org)": empty + N_MONITORS,
            "apply (create all)": empty + 3 * N_MONITORS + 2 * N_DASHBOARDS,
            "plan (no changes)": reads,
            "plan (10% drift)": reads + drifted_m,
            "apply (10% drift)": reads + 2 * drifted_m + drifted_d,
        }
        steps = [
            _step(standin, "plan (empty org)", 2, "plan", *common),
            _step(standin, "apply (create all)", 0, "apply", "--yes", *common),
            _step(standin, "plan (no changes)", 0, "plan", *common),
        ]
        no_change = steps[-1]["methods"]
        assert isinstance(no_change, Counter)
        if set(no_change) != {"GET"}:
            raise SystemExit(f"a no-change plan made non-read requests: {dict(no_change)}")
        _drift(standin)
        steps.append(_step(standin, "plan (10% drift)", 2, "plan", *common))
        steps.append(_step(standin, "apply (10% drift)", 0, "apply", "--yes", *common))
        steps.append(_step(standin, "plan (no changes)", 0, "plan", *common))
        total_requests = sum(sum(s["methods"].values()) for s in steps)  # type: ignore[union-attr]
        bare = _bare_round_trips(standin, 200)
    finally:
        standin.stop()
    print(f"{N_DASHBOARDS} dashboards, {N_MONITORS} monitors; stand-in validates every request")
    print(f"bare GET round trip to the stand-in: {bare * 1000:.2f} ms (time baseline)")
    header = (
        f"{'step':<20} {'GET':>5} {'POST':>5} {'PUT':>5} {'DEL':>4} {'vs floor':>8} "
        f"{'wall s':>7} {'stand-in s':>10} {'obs s':>6} {'obs/bare RTT':>12}"
    )
    print(header)
    for s in steps:
        methods: Counter[str] = s["methods"]  # type: ignore[assignment]
        requests = sum(methods.values())
        name = str(s["step"])
        floor = floors[name]
        wall, server = float(s["wall"]), float(s["server"])  # type: ignore[arg-type]
        obs_side = wall - server
        print(
            f"{name:<20} {methods['GET']:>5} {methods['POST']:>5} {methods['PUT']:>5} "
            f"{methods['DELETE']:>4} {requests / floor:>7.2f}x {wall:>7.2f} {server:>10.2f} "
            f"{obs_side:>6.2f} {obs_side / (requests * bare):>11.1f}x"
        )
    print(f"requests in all steps: {total_requests}")
    print("plan with no changes: read requests only (checked)")


def _drift(standin: DatadogStandIn) -> None:
    """Edit a tenth of the dashboards and monitors as someone in Datadog's UI would."""
    for i, dashboard in enumerate(list(standin.state.dashboards.values())):
        if i % 10 == 0:
            dashboard["title"] += " (edited)"
    for i, monitor in enumerate(list(standin.state.monitors.values())):
        if i % 10 == 0:
            monitor["message"] += " Edited in the UI."
