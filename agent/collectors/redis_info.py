"""Redis itself: cache efficiency, memory, clients and keys, from a few ``INFO`` sections.

Only the sections needed are asked for (``server``, ``clients``, ``memory``, ``stats``,
``keyspace``), pipelined into one round trip, rather than ``INFO all``, whose
``commandstats`` and ``latencystats`` grow with every command the server has seen.

The hit ratio covers the last interval: hits / (hits + misses) of the counter increases
since the previous collection. A restart (new ``run_id``) or a reset (``CONFIG
RESETSTAT``: counters went down) makes the whole new count the increase; the first
collection covers the time since the server started. No lookups in the interval, no
ratio.

On a Redis Cluster every primary is read, and its points carry that primary's address.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from obs import catalog
from obs.agent.collectors.redis_nodes import node_attributes, primaries
from obs.agent.points import AttributeValue, Collected, Point, increase

SECTIONS = ("server", "clients", "memory", "stats", "keyspace")

_COUNTERS = {
    "keyspace_hits": catalog.REDIS_KEYSPACE_HITS,
    "keyspace_misses": catalog.REDIS_KEYSPACE_MISSES,
    "evicted_keys": catalog.REDIS_KEYS_EVICTED,
    "expired_keys": catalog.REDIS_KEYS_EXPIRED,
}
_GAUGES = {
    "used_memory": catalog.REDIS_MEMORY_USED,
    "maxmemory": catalog.REDIS_MAXMEMORY,
    "connected_clients": catalog.REDIS_CLIENTS_CONNECTED,
}


def hit_ratio(hits: float, misses: float) -> float | None:
    """hits / (hits + misses), or None without lookups.

    Example:
        >>> hit_ratio(90, 10), hit_ratio(0, 0)
        (0.9, None)
    """
    lookups = hits + misses
    return hits / lookups if lookups > 0 else None


def points(
    info: Mapping[str, Any],
    target: Mapping[str, AttributeValue],
    hits_increase: float,
    misses_increase: float,
) -> Iterator[Point]:
    """The catalog points of one merged INFO reply."""
    epoch = str(info.get("run_id", "")) or None
    for field, metric in _COUNTERS.items():
        if field in info:
            yield Point.of(metric, info[field], target, epoch)
    for field, metric in _GAUGES.items():
        if field in info:
            yield Point.of(metric, info[field], target)
    for db, stats in info.items():
        if db.startswith("db") and db[2:].isdigit() and isinstance(stats, Mapping):
            yield Point.of(catalog.REDIS_DB_KEYS, stats.get("keys", 0), {**target, "db": db[2:]})
    ratio = hit_ratio(hits_increase, misses_increase)
    if ratio is not None:
        yield Point.of(catalog.REDIS_KEYSPACE_HIT_RATIO, ratio, target)


def read(client: Any) -> dict[str, Any]:
    """The INFO sections of one server, merged (one pipelined round trip)."""
    pipe = client.pipeline(transaction=False)
    for section in SECTIONS:
        pipe.info(section)
    merged: dict[str, Any] = {}
    for reply in pipe.execute():
        merged.update(reply)
    return merged


class RedisInfoCollector:
    """Collects one Redis server, or each primary of a cluster (attributed to that
    primary's address); remembers each one's last counters for the interval ratio."""

    def __init__(self, client: Any, target: Mapping[str, AttributeValue]) -> None:
        self.client = client
        self.target = dict(target)
        self._last: dict[str, tuple[str, float, float]] = {}  # per server: run_id, hits, misses

    def _measure(self, name: str, info: Mapping[str, Any]) -> Iterator[Point]:
        run_id = str(info.get("run_id", ""))
        hits = float(info.get("keyspace_hits", 0))
        misses = float(info.get("keyspace_misses", 0))
        last_run, last_hits, last_misses = self._last.get(name) or (run_id, None, None)
        restarted = last_run != run_id
        hits_increase = increase(last_hits, hits, restarted)
        misses_increase = increase(last_misses, misses, restarted)
        self._last[name] = (run_id, hits, misses)
        where = node_attributes(name) if name else self.target
        return points(info, where, hits_increase, misses_increase)

    def collect(self) -> Collected:
        servers = primaries(self.client)
        infos = [(name, read(server)) for name, server in servers]
        for gone in set(self._last) - {name for name, _ in servers}:
            del self._last[gone]  # a primary that left the cluster
        return Collected(
            readings=tuple(point for name, info in infos for point in self._measure(name, info))
        )
