"""MongoDB ``serverStatus``: operations, latency, connections, scans, WiredTiger cache.

Fields are used when the server has them: SecantusDB, for one, reports opcounters and
connections but no ``opLatencies``, ``metrics.queryExecutor`` or ``wiredTiger``.

``opLatencies`` holds running totals (microseconds and operation counts since start); the
latency reported is the average over the interval, from their increases. A restart
(detected by a new start time: ``localTime - uptimeMillis``) starts the totals again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from obs import catalog
from obs.agent.collectors.mongo import dig
from obs.agent.points import AttributeValue, Collected, Point, increase
from obs.catalog import attr

OPCOUNTERS = ("insert", "query", "update", "delete", "getmore", "command")
# serverStatus key -> the mongodbreceiver's `operation` value
LATENCIES = {"reads": "read", "writes": "write", "commands": "command"}
CONNECTIONS = ("current", "available", "active")
SERVER_COUNTERS = {
    ("metrics", "queryExecutor", "scanned"): catalog.MONGO_SCANNED_KEYS,
    ("metrics", "queryExecutor", "scannedObjects"): catalog.MONGO_SCANNED_OBJECTS,
    ("metrics", "queryExecutor", "collectionScans", "total"): catalog.MONGO_SERVER_COLLECTION_SCANS,
    ("metrics", "operation", "scanAndOrder"): catalog.MONGO_SCAN_AND_ORDER,
}
WIREDTIGER_CACHE = {
    "bytes currently in the cache": "used",
    "tracked dirty bytes in the cache": "dirty",
    "maximum bytes configured": "max",
}

Totals = dict[str, tuple[float, float]]  # operation -> (latency µs, ops)


def epoch(status: Mapping[str, Any]) -> str | None:
    """When the server started (to the second), which changes only with a restart."""
    local, uptime = status.get("localTime"), status.get("uptimeMillis")
    if isinstance(local, datetime) and isinstance(uptime, int | float):
        return (local - timedelta(milliseconds=uptime)).replace(microsecond=0).isoformat()
    pid = status.get("pid")
    return str(pid) if pid is not None else None


def latency_totals(status: Mapping[str, Any]) -> Totals:
    totals: Totals = {}
    for key, operation in LATENCIES.items():
        latency, ops = (
            dig(status, "opLatencies", key, "latency"),
            dig(status, "opLatencies", key, "ops"),
        )
        if latency is not None and ops is not None:
            totals[operation] = (float(latency), float(ops))
    return totals


def average_latencies(previous: Totals, current: Totals, restarted: bool) -> dict[str, float]:
    """Microseconds per operation over the interval, for operations that ran in it.

    Example:
        >>> average_latencies({"read": (1000, 10)}, {"read": (4000, 40)}, False)
        {'read': 100.0}
    """
    out = {}
    for operation, (latency, ops) in current.items():
        before = previous.get(operation, (None, None))
        ran = increase(before[1], ops, restarted)
        if ran > 0:
            out[operation] = increase(before[0], latency, restarted) / ran
    return out


def points(
    status: Mapping[str, Any],
    target: Mapping[str, AttributeValue],
    latencies: Mapping[str, float],
) -> Iterator[Point]:
    """The catalog points of one serverStatus reply."""
    started = epoch(status)
    for operation in OPCOUNTERS:
        value = dig(status, "opcounters", operation)
        if value is not None:
            labels = {**target, attr.MONGO_OPERATION: operation}
            yield Point.of(catalog.MONGODB_OPERATION_COUNT, value, labels, started)
    for operation, average in latencies.items():
        labels = {**target, attr.MONGO_OPERATION: operation}
        yield Point.of(catalog.MONGODB_OPERATION_LATENCY, average, labels)
    for kind in CONNECTIONS:
        value = dig(status, "connections", kind)
        if value is not None:
            labels = {**target, attr.MONGO_CONNECTION_TYPE: kind}
            yield Point.of(catalog.MONGODB_CONNECTION_COUNT, value, labels)
    for path, metric in SERVER_COUNTERS.items():
        value = dig(status, *path)
        if value is not None:
            yield Point.of(metric, value, target, started)
    cache = dig(status, "wiredTiger", "cache") or {}
    for field, state in WIREDTIGER_CACHE.items():
        if field in cache:
            labels = {**target, attr.MONGO_CACHE_STATE: state}
            yield Point.of(catalog.MONGO_WIREDTIGER_CACHE, cache[field], labels)


class ServerStatusCollector:
    """Collects serverStatus of one target; remembers latency totals between runs."""

    def __init__(self, client: Any, target: Mapping[str, AttributeValue]) -> None:
        self.client = client
        self.target = dict(target)
        self._last: tuple[str | None, Totals] | None = None

    def measure(self, status: Mapping[str, Any]) -> Collected:
        """Points of ``status``, a serverStatus reply (recorded or live)."""
        started, totals = epoch(status), latency_totals(status)
        previous_epoch, previous = self._last or (started, {})
        latencies = average_latencies(previous, totals, previous_epoch != started)
        self._last = (started, totals)
        return Collected(readings=tuple(points(status, self.target, latencies)))

    def collect(self) -> Collected:
        # Only the sections used; the rest of serverStatus (e.g. tcmalloc) is costly to build.
        status = self.client.admin.command(
            "serverStatus", repl=0, locks=0, asserts=0, tcmalloc=0, mirroredReads=0
        )
        return self.measure(status)
