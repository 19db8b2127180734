"""The hosting service always wins: bad settings, unreachable exporters and broken hooks
leave its code running with unchanged results."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pymongo
import pytest
import redis

import obs
from obs.instrumentation import query_smells
from obs.instrumentation import redis as redis_instrumentation
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver
from support.servers import MongoServer, free_port

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]


@pytest.fixture
def mongo_client(mongo: MongoServer) -> Iterator[Callable[[], pymongo.MongoClient[Any]]]:
    made: list[pymongo.MongoClient[Any]] = []

    def make() -> pymongo.MongoClient[Any]:
        made.append(pymongo.MongoClient(mongo.uri))
        return made[-1]

    yield make
    for client in made:
        client.close()


def _workload(client: pymongo.MongoClient[Any], cache: redis.Redis) -> list[Any]:
    """What a request handler does; its results must not depend on obs."""
    items = client.resilience.items
    items.delete_many({})
    items.insert_many([{"n": n, "tag": "even" if n % 2 == 0 else "odd"} for n in range(10)])
    cache.set("kpi:total", "10")
    return [
        sorted(d["n"] for d in items.find({"tag": "even"}, {"_id": 0})),
        items.count_documents({"n": {"$gte": 5}}),
        cache.get("kpi:total"),
        cache.mget("kpi:total", "kpi:none"),
    ]


EXPECTED = [[0, 2, 4, 6, 8], 5, b"10", [b"10", None]]


def test_unreachable_otlp_endpoint_changes_nothing(
    start_obs: StartObs,
    mongo_client: Callable[[], pymongo.MongoClient[Any]],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # the SDK's own knob still works
    dead = f"http://127.0.0.1:{free_port()}"
    status = start_obs(otlp_endpoint=dead, cache_prefixes={"kpi:": "kpi"})
    assert status["metrics"].on
    assert status["traces"].on
    assert _workload(mongo_client(), redis_client) == EXPECTED
    obs.flush(timeout=1)


def test_bad_settings_change_nothing(
    start_obs: StartObs,
    mongo_client: Callable[[], pymongo.MongoClient[Any]],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    monkeypatch.setenv("OBS_CACHE_PREFIXES", "no pairs here")
    monkeypatch.setenv("SENTRY_DSN", "nonsense")
    status = start_obs()
    assert not status["metrics"].on
    assert not status["redis"].on
    assert not status["sentry"].on
    assert _workload(mongo_client(), redis_client) == EXPECTED


def test_a_failing_hook_is_swallowed_counted_and_logged_once(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    mongo_client: Callable[[], pymongo.MongoClient[Any]],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start_obs(cache_prefixes={"kpi:": "kpi"})

    def broken(*args: Any, **kwargs: Any) -> Any:
        # A hook's error may quote what it was reading: the log line must not.
        raise RuntimeError("instrumentation bug reading {'password': 'hunter2'}")

    monkeypatch.setattr(query_smells, "smells", broken)
    monkeypatch.setattr(redis_instrumentation, "count", broken)
    with caplog.at_level(logging.WARNING, logger="obs"):
        assert _workload(mongo_client(), redis_client) == EXPECTED
        assert _workload(mongo_client(), redis_client) == EXPECTED
    logged = [r for r in caplog.records if "instrumentation failed" in r.getMessage()]
    assert sorted(r.getMessage().split(":")[1].split()[0] for r in logged) == ["pymongo", "redis"]
    assert all("RuntimeError: instrumentation bug" in r.getMessage() for r in logged)
    assert "hunter2" not in caplog.text
    failures = obs.status().failures
    assert failures["pymongo"] >= 4  # every find/count/delete of both runs
    assert failures["redis"] == 6  # set, get and mget, twice
    assert obs.flush()
    errors = {
        p.attributes["obs.feature"]: p.value for p in otlp.points("obs.instrumentation.errors")
    }
    # every hook reports, zeros included, so "errors > 0" alerts have a series from the start
    assert errors == {"pymongo": failures["pymongo"], "redis": 6, "cache": 0, "jobs": 0, "guard": 0}
    # the broken smell check did not cost the command its duration metric
    assert otlp.points("db.client.operation.duration")


def test_obs_status_reports_before_init() -> None:
    status = obs.status()
    assert not status.initialised
    assert "not running" in str(status)


def test_a_full_span_queue_does_not_flood_the_logs(
    start_obs: StartObs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    start_obs(otlp_endpoint=f"http://127.0.0.1:{free_port()}")
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            with obs.job("flood"):
                pass
    queue_full = [r for r in caplog.records if "Queue full" in r.getMessage()]
    assert 1 <= len(queue_full) <= 2
