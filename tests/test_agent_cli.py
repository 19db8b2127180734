"""`obs agent` as a user runs it: --once against a real Redis (with BullMQ queues) and a
real SecantusDB prints correct numbers; a down target, bad config, the daemon's endpoints
and SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pymongo
import pytest

from support.bullmq_states import Layout, job_counts, make_queue, run
from support.otlp_receiver import GrpcReceiver
from support.servers import MongoServer, RedisServer, free_port, python_env

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

OBS = str(Path(sys.executable).with_name("obs"))
PASSWORD = "cli-s3cret"


def agent(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OBS, "agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(**{"OTEL_METRICS_EXPORTER": "none", **env}),
        check=False,
    )


def by_name(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["name"] == name]


@pytest.fixture
def secured_redis() -> Any:
    server = RedisServer(extra=("--requirepass", PASSWORD)).start()
    yield server
    server.remove()


def test_once_prints_the_numbers_the_servers_hold(
    secured_redis: RedisServer, mongo: MongoServer
) -> None:
    url = secured_redis.url.replace("redis://", f"redis://:{PASSWORD}@")
    run(make_queue(url, "exports:eu"))
    cache = secured_redis.client(password=PASSWORD)
    cache.set("kpi:users", "1")
    for key in ("kpi:users", "kpi:users", "kpi:gone"):
        cache.get(key)
    db = pymongo.MongoClient(mongo.uri).cli_app
    db.orders.insert_many([{"n": i} for i in range(5)])

    before = cache.info("stats")["keyspace_hits"]
    done = agent("--once", "--redis", url, "--mongo", mongo.uri)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == []
    rows = report["metrics"]
    assert set(rows[0]) >= {"name", "attributes", "value", "unit"}

    # The agent's own BullMQ reads are lookups too, and run beside its INFO: bounds.
    after = cache.info("stats")["keyspace_hits"]
    hits = by_name(rows, "redis.keyspace.hits")
    assert len(hits) == 1
    assert before <= hits[0]["value"] <= after
    assert before >= 2
    assert hits[0]["attributes"] == {
        "server.address": "127.0.0.1",
        "server.port": secured_redis.port,
    }
    expected = run(job_counts(url, "exports:eu"))
    depth = {
        r["attributes"]["bullmq.queue.jobs.state"]: r["value"]
        for r in by_name(rows, "bullmq.queue.jobs")
        if r["attributes"]["bullmq.queue.name"] == "exports:eu"
    }
    assert depth == expected
    documents = [
        r["value"]
        for r in by_name(rows, "obs.mongo.collection.documents")
        if r["attributes"]["db.namespace"] == "cli_app"
    ]
    assert documents == [5]
    up = {r["attributes"]["obs.target.type"]: r["value"] for r in by_name(rows, "obs.agent.up")}
    assert up == {"redis": 1, "mongodb": 1}
    assert by_name(rows, "process.memory.usage")[0]["unit"] == "By"

    table = agent("--once", "--format", "table", "--redis", url)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["metric", "value", "unit", "attributes"]
    assert any(line.startswith("redis.keyspace.hits") for line in lines)


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_once_json_stays_json_when_a_job_holds_no_finite_time(secured_redis: RedisServer) -> None:
    url = secured_redis.url.replace("redis://", f"redis://:{PASSWORD}@")
    run(make_queue(url, "odd", layout=Layout(flows=0)))
    cache = secured_redis.client(password=PASSWORD)
    oldest = cache.lindex("bull:odd:wait", -1).decode()
    cache.hset(f"bull:odd:{oldest}", "timestamp", "-inf")  # the oldest waiting job's time
    done = agent("--once", "--format", "json", "--redis", url)
    assert done.returncode == 0, done.stderr
    rows = _strict_json(done.stdout)["metrics"]
    (age,) = by_name(rows, "obs.bullmq.queue.oldest_waiting.age")
    assert age["value"] == 0  # unknown, not infinitely old


def test_once_exits_1_when_a_target_does_not_answer(secured_redis: RedisServer) -> None:
    down = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    done = agent("--once", "--redis", down, OBS_AGENT_REDIS_INFO__TIMEOUT="1")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert {e["collector"] for e in report["errors"]} == {"redis_info", "bullmq"}
    assert all("Connection refused" in e["error"] for e in report["errors"])
    assert PASSWORD not in done.stdout + done.stderr
    up = by_name(report["metrics"], "obs.agent.up")
    assert [r["value"] for r in up] == [0]


def test_bad_configuration_fails_at_start_naming_the_field() -> None:
    done = agent("--redis", "redis://r", OBS_AGENT_BULLMQ__INTERVAL="soon")
    assert done.returncode == 1
    assert "OBS_AGENT_BULLMQ__INTERVAL (bullmq.interval)" in done.stderr
    assert done.stdout == ""
    done = agent("--mongo", f"mongo://user:{PASSWORD}@db")
    assert done.returncode == 1
    assert "--mongo (mongo[0].uri): expected a MongoDB URI" in done.stderr
    assert PASSWORD not in done.stderr
    # The agent reads its own OpenTelemetry settings, never a service's OBS_* ones.
    done = agent(
        "--redis",
        "redis://r",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"ftp://u:{PASSWORD}@collector",
        OTEL_METRICS_EXPORTER="otlp",
        OBS_MONGO_SKIP_THRESHOLD="0",
    )
    assert done.returncode == 1
    assert "OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:// or https:// URL" in done.stderr
    assert PASSWORD not in done.stderr
    assert "OBS_MONGO_SKIP_THRESHOLD" not in done.stderr


@pytest.mark.parametrize("mark", ["/", "#", "?", "@"])
def test_an_unescaped_password_is_one_clean_error_in_both_modes(mark: str) -> None:
    secret = f"pa{mark}{PASSWORD}"
    port = free_port()
    targets = [("--mongo", f"mongodb://app:{secret}@127.0.0.1:{port}/app")]
    if mark != "@":  # redis-py reads an @ in a password as pymongo does not
        targets.append(("--redis", f"redis://:{secret}@127.0.0.1:{port}/0"))
    for flag, uri in targets:
        modes = [("--once",)]
        if mark == "/":  # the daemon reads the same configuration
            modes.append(("--listen", f"127.0.0.1:{free_port()}"))
        for mode in modes:
            done = agent(*mode, flag, uri)
            assert done.returncode == 1, (flag, mode, done.stderr)
            assert "Traceback" not in done.stderr
            assert PASSWORD not in done.stdout + done.stderr
            assert "must be percent-escaped" in done.stderr
            assert done.stderr.count("\n") == 2  # the heading and the one problem


def test_a_daemon_that_cannot_start_says_why_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = agent(
            "--redis", f"redis://:{PASSWORD}@127.0.0.1:1/0", "--listen", f"127.0.0.1:{port}"
        )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("obs agent: could not start: OSError: ")
    assert "in use" in last
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr


def test_the_daemon_serves_its_endpoints_and_stops_on_sigterm(secured_redis: RedisServer) -> None:
    url = secured_redis.url.replace("redis://", f"redis://:{PASSWORD}@")
    port = free_port()
    process = subprocess.Popen(
        [OBS, "agent", "--redis", url, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(OTEL_METRICS_EXPORTER="none", OBS_AGENT_REDIS_INFO__INTERVAL="0.2"),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert "redis_keyspace_hits" in text
        assert "obs_agent_up{" in text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "watching redis://127.0.0.1" in stderr
    assert PASSWORD not in stderr


def test_the_daemon_exports_over_otlp(secured_redis: RedisServer, otlp: GrpcReceiver) -> None:
    url = secured_redis.url.replace("redis://", f"redis://:{PASSWORD}@")
    process = subprocess.Popen(
        [OBS, "agent", "--redis", url, "--listen", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            OBS_AGENT_REDIS_INFO__INTERVAL="0.2",
            OBS_AGENT_EXPORT_INTERVAL="0.3",
        ),
    )
    try:
        deadline = time.monotonic() + 20
        while not otlp.points("redis.keyspace.hits") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    hits = otlp.points("redis.keyspace.hits")
    assert hits, "no OTLP export arrived"
    assert hits[0].resource["service.name"] == "obs-agent"
    assert process.returncode == 0
    assert f"OTLP: {otlp.endpoint}" in stderr
