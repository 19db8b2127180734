"""Cache hits and misses from redis-py reads of prefixed keys, against a private Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio

import obs
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver
from support.servers import RedisServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]
PREFIXES = {"kpi:": "kpi", "kpi:daily:": "kpi_daily", "lb:": "leaderboard"}


def results(otlp: GrpcReceiver) -> dict[tuple[str, str], float]:
    """(cache name, hit|miss) -> count, from the last export of each series."""
    latest: dict[tuple[str, str], float] = {}
    for p in otlp.points("obs.cache.requests"):
        latest[(p.attributes["cache.name"], p.attributes["cache.result"])] = p.value or 0
    return latest


def test_a_scripted_sequence_of_lookups_is_counted_exactly(
    start_obs: StartObs, otlp: GrpcReceiver, redis_client: redis.Redis
) -> None:
    start_obs(cache_prefixes=PREFIXES)
    r = redis_client
    r.set("kpi:revenue", "secret-value-1", ex=30)
    r.set("kpi:daily:2026-11-29", "secret-value-2")
    r.hset("lb:weekly", mapping={"ann": 3, "bob": 1})
    r.set("user:1", "not a cache")

    r.get("kpi:revenue")  # kpi hit
    r.get("kpi:missing")  # kpi miss
    r.get("kpi:daily:2026-11-29")  # kpi_daily hit (longest prefix wins)
    r.mget("kpi:revenue", "kpi:nope", "user:1", "lb:x")  # kpi hit, kpi miss, -, lb miss
    r.hget("lb:weekly", "ann")  # lb hit
    r.hget("lb:weekly", "zed")  # lb miss
    r.hgetall("lb:weekly")  # lb hit
    r.hgetall("lb:monthly")  # lb miss (empty hash)
    r.exists("kpi:revenue", "kpi:gone", "kpi:also-gone")  # kpi: 1 hit, 2 misses
    r.exists("kpi:revenue", "lb:weekly")  # two caches: whose hit is it? not counted
    r.get("user:1")  # not a cache: not counted
    r.set("kpi:revenue", "x")  # a write: not counted
    assert obs.flush()

    assert results(otlp) == {
        ("kpi", "hit"): 3,
        ("kpi", "miss"): 4,
        ("kpi_daily", "hit"): 1,
        ("leaderboard", "hit"): 2,
        ("leaderboard", "miss"): 3,
    }
    exported = json.dumps([p.attributes for p in otlp.points()])
    assert "secret-value" not in exported


def test_pipelines_and_transactions_count_each_read(
    start_obs: StartObs, otlp: GrpcReceiver, redis_client: redis.Redis
) -> None:
    start_obs(cache_prefixes=PREFIXES)
    redis_client.set("kpi:a", "1")
    with redis_client.pipeline(transaction=False) as pipe:
        pipe.get("kpi:a").get("kpi:b").set("kpi:c", "3").get("user:9")
        assert pipe.execute() == [b"1", None, True, None]
    with redis_client.pipeline(transaction=True) as tx:
        tx.get("kpi:a").mget("kpi:a", "kpi:zz")
        tx.execute()
    assert obs.flush()
    assert results(otlp) == {("kpi", "hit"): 3, ("kpi", "miss"): 2}


def test_decoded_responses_and_bytes_keys(
    start_obs: StartObs, otlp: GrpcReceiver, redis_server: RedisServer
) -> None:
    start_obs(cache_prefixes=PREFIXES)
    client = redis_server.client(decode_responses=True)
    client.flushall()
    client.set(b"kpi:bytes", "v")
    client.get(b"kpi:bytes")
    client.get("kpi:none")
    client.close()
    assert obs.flush()
    assert results(otlp) == {("kpi", "hit"): 1, ("kpi", "miss"): 1}


def test_asyncio_client_is_counted(
    start_obs: StartObs, otlp: GrpcReceiver, redis_server: RedisServer
) -> None:
    start_obs(cache_prefixes=PREFIXES)

    async def work() -> None:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        await client.flushall()
        await client.set("lb:x", "1")
        await client.get("lb:x")
        await client.get("lb:y")
        async with client.pipeline() as pipe:
            pipe.get("lb:x")
            await pipe.execute()
        await client.aclose()

    asyncio.run(work())
    assert obs.flush()
    assert results(otlp) == {("leaderboard", "hit"): 2, ("leaderboard", "miss"): 1}


def test_without_prefixes_redis_is_left_alone(
    start_obs: StartObs, otlp: GrpcReceiver, redis_client: redis.Redis
) -> None:
    original = redis.Redis.execute_command
    status = start_obs()
    assert not status["redis"].on
    assert "OBS_CACHE_PREFIXES" in status["redis"].detail
    assert redis.Redis.execute_command is original
    redis_client.get("kpi:x")
    assert obs.flush()
    assert otlp.points("obs.cache.requests") == []


def test_shutdown_restores_redis_py(start_obs: StartObs, redis_client: redis.Redis) -> None:
    original = redis.Redis.execute_command
    start_obs(cache_prefixes=PREFIXES)
    assert redis.Redis.execute_command is not original
    obs.shutdown()
    assert redis.Redis.execute_command is original


def test_errors_from_redis_reach_the_caller_unchanged(
    start_obs: StartObs, otlp: GrpcReceiver, redis_client: redis.Redis
) -> None:
    start_obs(cache_prefixes=PREFIXES)
    redis_client.hset("kpi:hash", "a", "1")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        redis_client.get("kpi:hash")
    assert obs.flush()
    assert results(otlp) == {}


def test_the_cache_api_counts_any_cache(start_obs: StartObs, otlp: GrpcReceiver) -> None:
    start_obs()
    local: dict[str, Any] = {"a": 1}
    obs.cache.hit("local")
    obs.cache.miss("local")
    obs.cache.record("local", hit=True, count=3)
    lookup = obs.cache.counted("local", local.get)
    assert lookup("a") == 1
    assert lookup("b") is None
    sentinel = object()
    strict = obs.cache.counted("cdn", lambda k: sentinel, missing=sentinel)
    assert strict("x") is sentinel
    assert obs.flush()
    assert results(otlp) == {("local", "hit"): 5, ("local", "miss"): 2, ("cdn", "miss"): 1}


def test_the_cache_api_is_a_no_op_before_init() -> None:
    obs.cache.hit("anything")  # must not raise or need obs.init()
    assert obs.cache.counted("x", {}.get)("k") is None
