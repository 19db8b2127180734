"""The metric catalog is the contract: everything emitted is declared, as declared."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymongo
import pytest
import redis

import obs
from obs import catalog
from obs.catalog import CATALOG, Emitter, Kind
from obs.instrumentation import query_smells
from obs.protection import Rejected
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver, Point
from support.pools import hold_the_only_connection
from support.servers import MongoServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]
ROOT = Path(__file__).parents[1]
_OTLP_KIND = {
    Kind.HISTOGRAM: "histogram",
    Kind.COUNTER: "sum",
    Kind.UP_DOWN_COUNTER: "sum",
    Kind.GAUGE: "gauge",
}


def test_entries_are_well_formed() -> None:
    for name, metric in CATALOG.items():
        assert name == metric.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", name), name
        assert metric.unit, name
        assert metric.description.endswith((".", ")")), name
        assert len(set(metric.attributes)) == len(metric.attributes), name
        assert (metric.buckets is not None) == (metric.kind is Kind.HISTOGRAM), name
        for key, _ in metric.fixed:
            assert key in metric.attributes, name


def test_instruments_are_created_only_from_catalog_entries() -> None:
    # A meter call with a literal name anywhere but the catalog would be an undeclared metric.
    pattern = re.compile(
        r"create_(counter|histogram|gauge|up_down_counter|observable_\w+)\(\s*[\"']"
    )
    offenders = []
    for folder in ("core", "agent", "instrumentation", "dashboards", "monitors"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "catalog.py" and pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _exercise_everything(mongo: MongoServer, cache: redis.Redis) -> pymongo.MongoClient[Any]:
    """Touch every in-process metric at least once; the client returned holds an open pool
    (the pool gauges are read off open pools when metrics are collected)."""
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(
        mongo.uri, maxPoolSize=1, waitQueueTimeoutMS=100, retryReads=False
    )
    items = client.catalog_app.items
    items.insert_one({"n": 1})
    list(items.find({}))  # a query smell
    with pytest.raises(pymongo.errors.OperationFailure):
        client.catalog_app.command("noSuchCommand")  # error.type
    slow = hold_the_only_connection(items, 500)
    with pytest.raises(pymongo.errors.WaitQueueTimeoutError):
        items.find_one()  # a pool timeout and a failed wait
    slow.join()
    client.close()
    cache.get("kpi:x")
    with obs.job("q", enqueued_at=time.time()):
        pass
    for client in ("k", "k"):  # the second is over its rate: a throttled client
        with contextlib.suppress(Rejected), obs.guard("payouts", client=client):
            pass
    for _ in range(2):  # two sampling windows of timeouts: the breaker opens
        for _ in range(10):
            with contextlib.suppress(TimeoutError, Rejected), obs.guard("payouts"):
                raise TimeoutError
        time.sleep(0.11)
    original = query_smells.smells
    query_smells.smells = lambda *a, **k: 1 / 0  # type: ignore[assignment]
    kept: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    try:
        kept.catalog_app.items.find_one()  # obs.instrumentation.errors
    finally:
        query_smells.smells = original
    return kept


def test_everything_emitted_in_process_is_declared_as_declared(
    start_obs: StartObs, otlp: GrpcReceiver, mongo: MongoServer, redis_client: redis.Redis
) -> None:
    start_obs(
        cache_prefixes={"kpi:": "kpi"},
        mongo_pool_timings=True,
        guard=True,
        guard_client_rate=1,
        guard_client_burst=1,
        guard_min_calls=1,
    )
    kept = _exercise_everything(mongo, redis_client)
    assert obs.flush()
    kept.close()
    points: list[Point] = otlp.points()
    seen = set()
    for point in points:
        metric = CATALOG.get(point.name)
        assert metric is not None, f"{point.name} is emitted but not in the catalog"
        assert metric.emitter is Emitter.INSTRUMENTATION, point.name
        assert point.unit == metric.unit, point.name
        assert point.kind == _OTLP_KIND[metric.kind], point.name
        if metric.kind is Kind.COUNTER:
            assert point.monotonic is True, point.name
        if metric.kind is Kind.UP_DOWN_COUNTER:
            assert point.monotonic is False, point.name
        assert metric.allows(point.attributes), (point.name, point.attributes)
        for key, value in metric.fixed:
            assert point.attributes[key] == value, point.name
        seen.add(point.name)
    declared = {m.name for m in catalog.emitted_by(Emitter.INSTRUMENTATION)}
    assert declared - seen == set(), "declared for in-process use but never emitted"
