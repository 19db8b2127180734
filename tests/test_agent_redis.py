"""The Redis INFO collector on a private redis-server: hits, misses and the interval's hit
ratio from deltas, across a restart; evictions, memory, clients, keys per database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from obs import catalog
from obs.agent.app import redis_client
from obs.agent.collectors.redis_info import SECTIONS, RedisInfoCollector
from obs.agent.points import Collected
from obs.agent.store import Store
from support.servers import RedisServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser


def value(collected: Collected, metric: catalog.Metric, **attributes: Any) -> float | None:
    for point in collected.readings:
        if point.metric is metric and all(
            dict(point.attributes).get(k.replace("_", ".")) == v for k, v in attributes.items()
        ):
            return point.value
    return None


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private server this test may restart and fill (small maxmemory, LRU evictions)."""
    server = RedisServer(extra=("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"))
    server.start()
    yield server
    server.remove()


def lookups(client: Any, hits: int, misses: int) -> None:
    client.set("kpi:present", "1")
    for _ in range(hits):
        client.get("kpi:present")
    for i in range(misses):
        client.get(f"kpi:absent:{i}")


def test_hit_ratio_covers_each_interval(own_redis: RedisServer) -> None:
    app = own_redis.client()
    collector = RedisInfoCollector(redis_client(own_redis.url, 5), {})
    lookups(app, hits=30, misses=10)
    first = collector.collect()
    info = app.info("stats")
    assert value(first, catalog.REDIS_KEYSPACE_HITS) == info["keyspace_hits"]
    assert value(first, catalog.REDIS_KEYSPACE_MISSES) == info["keyspace_misses"]
    # The first interval is the server's life so far.
    assert value(first, catalog.REDIS_KEYSPACE_HIT_RATIO) == pytest.approx(
        info["keyspace_hits"] / (info["keyspace_hits"] + info["keyspace_misses"])
    )
    lookups(app, hits=9, misses=1)
    assert value(collector.collect(), catalog.REDIS_KEYSPACE_HIT_RATIO) == pytest.approx(0.9)
    # No lookups in an interval: no ratio rather than a made-up one.
    assert value(collector.collect(), catalog.REDIS_KEYSPACE_HIT_RATIO) is None


def test_counters_survive_a_restart_and_a_stats_reset(own_redis: RedisServer) -> None:
    app = own_redis.client()
    store = Store()
    collector = RedisInfoCollector(redis_client(own_redis.url, 5), {})
    lookups(app, hits=50, misses=50)
    store.replace("redis", collector.collect().readings)
    before = dict(store.readings(catalog.REDIS_KEYSPACE_HITS))[()]

    own_redis.stop()
    own_redis.start()
    app = own_redis.client()
    lookups(app, hits=80, misses=20)  # more than before the restart: no drop to notice
    collected = collector.collect()
    # The ratio is of the new server's lookups only, not a difference across the restart.
    assert value(collected, catalog.REDIS_KEYSPACE_HIT_RATIO) == pytest.approx(0.8)
    store.replace("redis", collected.readings)
    after = dict(store.readings(catalog.REDIS_KEYSPACE_HITS))[()]
    assert after == before + app.info("stats")["keyspace_hits"]  # exported total kept rising

    app.config_resetstat()
    lookups(app, hits=3, misses=1)
    collected = collector.collect()
    assert value(collected, catalog.REDIS_KEYSPACE_HIT_RATIO) == pytest.approx(0.75)
    store.replace("redis", collected.readings)
    assert dict(store.readings(catalog.REDIS_KEYSPACE_HITS))[()] == after + 3


def test_memory_evictions_clients_and_keys(own_redis: RedisServer) -> None:
    app = own_redis.client()
    for i in range(300):
        app.set(f"blob:{i}", "x" * 20_000)  # 6 MB into a 2 MB server: LRU evicts
    app.flushdb()  # evictions stay counted; room again for the keys below
    app.set("kept", "1")
    other = redis.Redis.from_url(own_redis.url.rsplit("/", 1)[0] + "/3")
    other.set("in-db-3", "1")
    collected = RedisInfoCollector(redis_client(own_redis.url, 5), {}).collect()
    info = app.info()
    assert value(collected, catalog.REDIS_KEYS_EVICTED) == info["evicted_keys"] > 0
    assert value(collected, catalog.REDIS_MAXMEMORY) == 2 * 1024 * 1024
    assert value(collected, catalog.REDIS_MEMORY_USED) > 0
    assert value(collected, catalog.REDIS_CLIENTS_CONNECTED) >= 2
    assert value(collected, catalog.REDIS_DB_KEYS, db="3") == 1
    assert value(collected, catalog.REDIS_DB_KEYS, db="0") == info["db0"]["keys"] == 1


def test_only_the_needed_info_sections_are_asked_for(own_redis: RedisServer) -> None:
    app = own_redis.client()
    app.config_resetstat()
    RedisInfoCollector(redis_client(own_redis.url, 5), {}).collect()
    calls = app.info("commandstats")["cmdstat_info"]["calls"]
    assert calls == len(SECTIONS)
    assert "all" not in SECTIONS
    assert "everything" not in SECTIONS
