"""`pytest --obs-index-check` on a small application's own test suite (tests/sample_app),
run in a subprocess against SecantusDB."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support.servers import MongoServer, python_env

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

SAMPLE_APP = Path(__file__).parent / "sample_app"
OFFENDERS = {
    "find logs {level} limit",
    "find payouts {status} sort {amount: -1} limit",
    "aggregate clicks {campaignId} $lookup:users",
}


def run_sample_app(mongo: MongoServer, *options: str) -> subprocess.CompletedProcess[str]:
    # Plugin options take the --name=value form: pytest reads bare values as test paths
    # when it looks for the rootdir.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *options],
        cwd=SAMPLE_APP,
        env=python_env(SAMPLE_APP_MONGO_URI=mongo.uri),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plugin_fails_on_new_offenders_and_accepts_the_baseline(
    mongo: MongoServer, tmp_path: Path
) -> None:
    baseline, junit = tmp_path / "baseline.json", tmp_path / "junit.xml"
    shapes, report = tmp_path / "shapes.jsonl", tmp_path / "report.json"
    gate = ["--obs-index-check", f"--obs-index-check-baseline={baseline}"]

    first = run_sample_app(
        mongo,
        *gate,
        f"--obs-index-check-junit={junit}",
        f"--obs-index-check-json={report}",
        f"--obs-index-check-shapes={shapes}",
    )
    assert first.returncode == 2, first.stdout + first.stderr
    assert "5 passed" in first.stdout
    assert "obs index-check" in first.stdout
    assert 'db.getCollection("logs").createIndex({ level: 1 })' in first.stdout
    body = json.loads(report.read_text())
    assert {s["shape"] for s in body["shapes"] if s["status"] == "new"} == OFFENDERS
    assert {s["shape"] for s in body["shapes"] if s["status"] == "ok"} == {
        "find users {email} limit",
        "find transactions {userId} sort {createdAt: -1} limit",
    }
    sources = {s["shape"]: s["sources"] for s in body["shapes"]}
    assert sources["find logs {level} limit"] == ["check_shop.py::test_errors_in_logs"]
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("5", "3")
    recorded = [json.loads(line) for line in shapes.read_text().splitlines()]
    assert len(recorded) == 5
    assert "u3@example.com" not in shapes.read_text()  # values are masked

    accepted = run_sample_app(mongo, *gate, "--obs-index-check-update-baseline")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    entries = json.loads(baseline.read_text())["offenders"]
    assert {e["shape"] for e in entries} == OFFENDERS

    again = run_sample_app(mongo, *gate)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3 accepted in the baseline" in again.stdout


def test_plugin_is_inert_without_the_option(mongo: MongoServer) -> None:
    plain = run_sample_app(mongo)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "5 passed" in plain.stdout
    assert "index-check" not in plain.stdout
