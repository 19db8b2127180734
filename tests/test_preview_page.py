"""The preview page in real headless Chromium: every widget of every shipped dashboard is
drawn with its title and the value the served metrics give.

A Prometheus endpoint the test controls (rendered by obs's own exposition writer) gains
the same increments at each of its first four scrapes, stamped 10 s apart, then freezes;
``obs preview`` (the command, in a subprocess) scrapes it. Every step therefore holds
exactly the increments below, and each expected value is worked out by hand from them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest

from obs import catalog
from obs.catalog import attr
from obs.dashboards import Group, Note
from obs.dashboards.shipped import DASHBOARDS
from obs.preview.snapshot import dump_dom
from obs.slos.shipped import SLOS
from support.metrics_source import MetricsSource

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

LIVE_SCRAPES = 4  # 3 steps of increments
STEPS = LIVE_SCRAPES - 1
_D = catalog.DB_CLIENT_OPERATION_DURATION
_MONGO = {attr.DB_SYSTEM_NAME: "mongodb", attr.DB_NAMESPACE: "app"}
_USERS_FIND = {**_MONGO, attr.DB_COLLECTION_NAME: "users", attr.DB_OPERATION_NAME: "find"}
_TRANSACTIONS = {
    **_MONGO,
    attr.DB_COLLECTION_NAME: "transactions",
    attr.DB_OPERATION_NAME: "aggregate",
}
_USERS_INSERT_ERROR = {
    **_MONGO,
    attr.DB_COLLECTION_NAME: "users",
    attr.DB_OPERATION_NAME: "insert",
    attr.ERROR_TYPE: "DuplicateKeyError",
}
_SERVER = {attr.SERVER_ADDRESS: "db1", attr.SERVER_PORT: "27017"}
_REDIS = {attr.SERVER_ADDRESS: "r1", attr.SERVER_PORT: "6379"}
_POOL = {attr.POOL_NAME: "app"}


def _queue(name: str) -> dict[str, str]:
    return {**_REDIS, attr.QUEUE_PREFIX: "bull", attr.QUEUE_NAME: name}


def write_step(source: MetricsSource, n: int) -> None:
    """One scrape's worth: increments of counters and histograms, levels of gauges."""
    _mongo_client(source, n)
    _mongo_server(source)
    _collections(source, n)
    _caches(source)
    _queues(source)
    _agent(source)
    _guard(source, n)


def _mongo_client(source: MetricsSource, n: int) -> None:
    if n == 0:  # levels of up-down counters, set once
        source.add(catalog.DB_CLIENT_CONNECTION_COUNT, 7, {**_POOL, attr.CONNECTION_STATE: "used"})
        source.add(catalog.DB_CLIENT_CONNECTION_COUNT, 3, {**_POOL, attr.CONNECTION_STATE: "idle"})
        source.add(catalog.DB_CLIENT_CONNECTION_MAX, 100, _POOL)
        source.add(catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS, 2, _POOL)
    # Mongo client: users/find gains 100 commands, 40 <= 5 ms, 40 <= 50 ms, 10 <= 100 ms,
    # 10 <= 500 ms; transactions/aggregate 10 in (0.5, 1]; users/insert 5 failing <= 5 ms.
    for value, times in ((0.003, 40), (0.02, 40), (0.07, 10), (0.3, 10)):
        source.record(_D, value, times, _USERS_FIND)
    source.record(_D, 0.7, 10, _TRANSACTIONS)
    source.record(_D, 0.003, 5, _USERS_INSERT_ERROR)
    source.record(catalog.DB_CLIENT_CONNECTION_WAIT_TIME, 0.0005, 20, _POOL)
    source.add(catalog.DB_CLIENT_CONNECTION_TIMEOUTS, 1, _POOL)
    smell = {**_MONGO, attr.DB_COLLECTION_NAME: "users", attr.DB_OPERATION_NAME: "find"}
    source.add(catalog.MONGO_QUERY_SMELLS, 2, {**smell, attr.QUERY_SMELL: "large_skip"})


def _mongo_server(source: MetricsSource) -> None:
    for operation, amount in (("query", 50), ("insert", 20), ("command", 200)):
        source.add(
            catalog.MONGODB_OPERATION_COUNT, amount, {**_SERVER, attr.MONGO_OPERATION: operation}
        )
    for operation, micros in (("read", 150), ("write", 400)):
        source.set(
            catalog.MONGODB_OPERATION_LATENCY, micros, {**_SERVER, attr.MONGO_OPERATION: operation}
        )
    for kind, connections in (("current", 12), ("available", 800), ("active", 3)):
        source.set(
            catalog.MONGODB_CONNECTION_COUNT,
            connections,
            {**_SERVER, attr.MONGO_CONNECTION_TYPE: kind},
        )
    for state, size in (("used", 1048576), ("dirty", 4096), ("max", 268435456)):
        source.set(catalog.MONGO_WIREDTIGER_CACHE, size, {**_SERVER, attr.MONGO_CACHE_STATE: state})
    for collection, shape, scans in (("users", '{"email": "?"}', 3), ("logs", '{"level": "?"}', 1)):
        scanned = {**_SERVER, attr.DB_NAMESPACE: "app", attr.DB_COLLECTION_NAME: collection}
        source.add(
            catalog.MONGO_COLLECTION_SCANS,
            scans,
            {**scanned, attr.QUERY_SHAPE: shape, attr.QUERY_SHAPE_ID: "0" * 16},
        )
    profiled = {**_SERVER, attr.DB_NAMESPACE: "app", attr.DB_OPERATION_NAME: "find"}
    source.record(
        catalog.MONGO_PROFILED_DURATION,
        2.0,
        4,
        {**profiled, attr.DB_COLLECTION_NAME: "users", attr.MONGO_PLAN: "COLLSCAN"},
    )
    source.record(
        catalog.MONGO_PROFILED_DURATION,
        0.02,
        10,
        {**profiled, attr.DB_COLLECTION_NAME: "logs", attr.MONGO_PLAN: "IXSCAN"},
    )
    source.add(catalog.MONGO_SERVER_COLLECTION_SCANS, 30, _SERVER)
    source.add(catalog.MONGO_SCAN_AND_ORDER, 5, _SERVER)
    source.set(
        catalog.MONGO_SLOW_OPERATIONS,
        1,
        {**_SERVER, attr.DB_NAMESPACE: "app", attr.DB_OPERATION_NAME: "find"},
    )
    source.set(catalog.MONGO_OLDEST_OPERATION_AGE, 12.5, _SERVER)


def _collections(source: MetricsSource, n: int) -> None:
    """users: 10 MiB, logs 30 MiB, steady; users' documents grow by 100 a step from 1000."""
    for collection, size in (("users", 10 * 2**20), ("logs", 30 * 2**20)):
        where = {**_SERVER, attr.DB_NAMESPACE: "app", attr.DB_COLLECTION_NAME: collection}
        source.set(catalog.MONGO_COLLECTION_SIZE, size, where)
    users = {**_SERVER, attr.DB_NAMESPACE: "app", attr.DB_COLLECTION_NAME: "users"}
    source.set(catalog.MONGO_COLLECTION_DOCUMENTS, 1000 + 100 * n, users)


def _growing(legend: dict[str, float | None]) -> bool:
    """Documents now 1300 and a forecast heading above it (how far depends on the frozen
    rounds held after the last step, so only the direction is fixed)."""
    now = legend.pop("now (db.collection.name:users)")
    ahead = legend.pop("forecast (db.collection.name:users)")
    return now == 1300 and ahead is not None and ahead > 1300 and legend == {}


def _caches(source: MetricsSource) -> None:
    """kpi: 30 hits 10 misses, sessions: 5 hits 15 misses; Redis 90 hits 10 misses."""
    for cache, hits, misses in (("kpi", 30, 10), ("sessions", 5, 15)):
        source.add(catalog.CACHE_REQUESTS, hits, {attr.CACHE_NAME: cache, attr.CACHE_RESULT: "hit"})
        source.add(
            catalog.CACHE_REQUESTS, misses, {attr.CACHE_NAME: cache, attr.CACHE_RESULT: "miss"}
        )
    source.set(catalog.REDIS_KEYSPACE_HIT_RATIO, 0.9, _REDIS)
    source.add(catalog.REDIS_KEYSPACE_HITS, 90, _REDIS)
    source.add(catalog.REDIS_KEYSPACE_MISSES, 10, _REDIS)
    source.add(catalog.REDIS_KEYS_EVICTED, 2, _REDIS)
    source.add(catalog.REDIS_KEYS_EXPIRED, 4, _REDIS)
    source.set(catalog.REDIS_MEMORY_USED, 2097152, _REDIS)
    source.set(catalog.REDIS_MAXMEMORY, 67108864, _REDIS)
    source.set(catalog.REDIS_DB_KEYS, 1200, {**_REDIS, attr.REDIS_DB: "0"})
    source.set(catalog.REDIS_CLIENTS_CONNECTED, 7, _REDIS)


def _queues(source: MetricsSource) -> None:
    """export: 12 waiting 3 active, mail: 4 waiting 2 failed and paused; workers: export 8
    completed + 2 failed jobs of 2 s, mail 20 completed of 30 ms."""
    for queue, state, jobs in (
        ("export", "wait", 12),
        ("export", "active", 3),
        ("mail", "wait", 4),
        ("mail", "failed", 2),
    ):
        source.set(catalog.BULLMQ_QUEUE_JOBS, jobs, {**_queue(queue), attr.QUEUE_STATE: state})
    for queue, age, paused, completed, failed in (
        ("export", 42.5, 0, 30, 10),
        ("mail", 3, 1, 10, 2),
    ):
        source.set(catalog.BULLMQ_OLDEST_WAITING_AGE, age, _queue(queue))
        source.set(catalog.BULLMQ_QUEUE_PAUSED, paused, _queue(queue))
        source.add(catalog.BULLMQ_JOBS_COMPLETED, completed, _queue(queue))
        source.add(catalog.BULLMQ_JOBS_FAILED, failed, _queue(queue))
    jobs = catalog.MESSAGING_PROCESS_DURATION
    export = {attr.MESSAGING_SYSTEM: "bullmq", attr.MESSAGING_DESTINATION_NAME: "export"}
    mail = {attr.MESSAGING_SYSTEM: "bullmq", attr.MESSAGING_DESTINATION_NAME: "mail"}
    source.record(jobs, 2.0, 8, {**export, attr.JOB_OUTCOME: "completed"})
    source.record(jobs, 2.0, 2, {**export, attr.JOB_OUTCOME: "failed", attr.ERROR_TYPE: "Timeout"})
    source.record(jobs, 0.03, 20, {**mail, attr.JOB_OUTCOME: "completed"})
    source.record(catalog.JOB_WAIT_TIME, 7.0, 10, export)
    source.record(catalog.JOB_WAIT_TIME, 0.05, 20, mail)
    source.add(catalog.INSTRUMENTATION_ERRORS, 1, {attr.FEATURE: "pymongo"})


def _guard(source: MetricsSource, n: int) -> None:
    """payouts: limit 12 with 9 in flight, breaker open; 100 calls: 80 admitted, 12 rejected
    and 6 shed by the limit, 2 over their client's rate (one client)."""
    payouts = {attr.GUARD_NAME: "payouts"}
    source.set(catalog.GUARD_LIMIT, 12, payouts)
    if n == 0:  # an up-down counter: its level
        source.add(catalog.GUARD_IN_FLIGHT, 9, payouts)
    source.set(catalog.GUARD_BREAKER_STATE, 2, payouts)
    for outcome, reason, priority, calls in (
        ("admitted", None, "normal", 80),
        ("rejected", "limit", "normal", 12),
        ("shed", "limit", "low", 6),
        ("rejected", "client_rate", "normal", 2),
    ):
        where = {**payouts, attr.GUARD_OUTCOME: outcome, attr.GUARD_PRIORITY: priority}
        if reason:
            where[attr.GUARD_REASON] = reason
        source.add(catalog.GUARD_REQUESTS, calls, where)
    source.add(catalog.GUARD_CLIENT_REJECTIONS, 2, {**payouts, attr.GUARD_CLIENT: "a1b2c3d4e5f6"})


def _agent(source: MetricsSource) -> None:
    source.set(catalog.AGENT_UP, 1, {attr.TARGET_TYPE: "redis", attr.TARGET: "r1"})
    source.set(catalog.AGENT_UP, 0, {attr.TARGET_TYPE: "mongo", attr.TARGET: "m1"})
    duration = catalog.AGENT_COLLECTION_DURATION
    source.record(duration, 0.004, 10, {attr.COLLECTOR: "redis", attr.TARGET: "r1"})
    source.record(duration, 0.02, 5, {attr.COLLECTOR: "bullmq", attr.TARGET: "r1"})
    source.add(catalog.AGENT_COLLECTION_ERRORS, 1, {attr.COLLECTOR: "mongo", attr.TARGET: "m1"})
    source.set(catalog.AGENT_MEMORY_RSS, 52428800)
    source.set(catalog.AGENT_CPU_UTILIZATION, 0.02)


# What each widget must show. A number: a query value's value. A dict: a timeseries' or
# heatmap's legend (series name -> last value). A list: a toplist's rows, in order.
# p95 of all 115 commands a step: rank 109.25 in (0.5, 1] holding 106..115 -> 0.7125
# (p50: rank 57.5 in (0.01, 0.05] holding 46..85 -> 0.0225; p99 -> 0.9425).
# users alone (105): rank 99.75 in (0.1, 0.5] holding 96..105 -> 0.29; transactions (10)
# all in (0.5, 1]: p95 0.975, p99 0.995; find: p95 0.3, p99 0.46; insert (5 in
# (0.001, 0.005]): p95 0.0048, p99 0.00496. Rates: increments over the 10 s between scrapes.
EXPECTED: dict[str, dict[str, Any]] = {
    "obs.mongo": {
        "p95 command latency": (0.7125, "712.5 ms"),
        "p50 / p95 / p99": {"p50": 0.0225, "p95": 0.7125, "p99": 0.9425},
        "p95 by collection": {
            "db.collection.name:users": 0.29,
            "db.collection.name:transactions": 0.975,
        },
        "p99 by operation": {
            "db.operation.name:find": 0.46,
            "db.operation.name:aggregate": 0.995,
            "db.operation.name:insert": 0.00496,
        },
        "Slowest collection and operation (p95)": [
            ("db.collection.name:transactions,db.operation.name:aggregate", 0.975),
            ("db.collection.name:users,db.operation.name:find", 0.3),
            ("db.collection.name:users,db.operation.name:insert", 0.0048),
        ],
        "Commands by operation": {
            "db.operation.name:find": 100,
            "db.operation.name:aggregate": 10,
            "db.operation.name:insert": 5,
        },
        "Errors by type": {"error.type:DuplicateKeyError": 5},
        "Error ratio": (5 / 115, "0.0435"),
        "Server operations per second": {
            "operation:query": 5,
            "operation:insert": 2,
            "operation:command": 20,
        },
        # 20 waits in the first bucket (0, 1 ms]: rank 19 -> 0.95 ms
        "Pool wait p95 (with OBS_MONGO_POOL_TIMINGS)": {
            "db.client.connection.pool.name:app": 0.00095
        },
        "Connections in use vs. maximum": {
            "used (db.client.connection.pool.name:app)": 7,
            "max (db.client.connection.pool.name:app)": 100,
        },
        "Waiting checkouts, and timeouts (with OBS_MONGO_POOL_TIMINGS)": {
            "waiting": 2,
            "timeouts": 1,
        },
        "Collection scans by collection": {
            "db.collection.name:users": 3,
            "db.collection.name:logs": 1,
        },
        "Query shapes scanning collections": [
            ('db.collection.name:users,obs.query.shape:{"email": "?"}', 3),
            ('db.collection.name:logs,obs.query.shape:{"level": "?"}', 1),
        ],
        # 4 of 2 s in (1, 5]: rank 3.8 -> 4.8; 10 of 20 ms in (0.01, 0.05]: rank 9.5 -> 0.048
        "Slowest profiled operations (p95)": [
            ("db.collection.name:users,db.operation.name:find,obs.mongo.plan:COLLSCAN", 4.8),
            ("db.collection.name:logs,db.operation.name:find,obs.mongo.plan:IXSCAN", 0.048),
        ],
        "Server-wide scans and in-memory sorts per second": {
            "collection scans": 3,
            "in-memory sorts": 0.5,
        },
        "Costly command shapes (client side)": {
            "obs.query.smell:large_skip,db.collection.name:users": 2
        },
        "Average latency by operation type": {"operation:read": 150, "operation:write": 400},
        "Connections": {"type:current": 12, "type:available": 800, "type:active": 3},
        "Long-running operations": {"running over threshold": 1, "oldest (s)": 12.5},
        "WiredTiger cache": {
            "obs.mongo.cache.state:used": 1048576,
            "obs.mongo.cache.state:dirty": 4096,
            "obs.mongo.cache.state:max": 268435456,
        },
        # steady sizes: the forecast is the same flat line
        "Collection size and forecast": {
            "now (db.collection.name:users)": 10 * 2**20,
            "now (db.collection.name:logs)": 30 * 2**20,
            "forecast (db.collection.name:users)": 10 * 2**20,
            "forecast (db.collection.name:logs)": 30 * 2**20,
        },
        "Documents and forecast": _growing,
        "Largest collections": [
            ("db.collection.name:logs", 30 * 2**20),
            ("db.collection.name:users", 10 * 2**20),
        ],
    },
    "obs.queues": {
        "Jobs by queue and state": {
            "bullmq.queue.name:export,bullmq.queue.jobs.state:wait": 12,
            "bullmq.queue.name:export,bullmq.queue.jobs.state:active": 3,
            "bullmq.queue.name:mail,bullmq.queue.jobs.state:wait": 4,
            "bullmq.queue.name:mail,bullmq.queue.jobs.state:failed": 2,
        },
        "Waiting jobs per queue": [("bullmq.queue.name:export", 12), ("bullmq.queue.name:mail", 4)],
        "Oldest waiting job age": {"bullmq.queue.name:export": 42.5, "bullmq.queue.name:mail": 3},
        "Paused queues": {"bullmq.queue.name:export": 0, "bullmq.queue.name:mail": 1},
        "Completed jobs per second": {"bullmq.queue.name:export": 3, "bullmq.queue.name:mail": 1},
        "Failed jobs per second": {"bullmq.queue.name:export": 1, "bullmq.queue.name:mail": 0.2},
        # failed 1.2/s of 3 + 1 + 1.2 = 5.2/s finished
        "Failed share of finished jobs": (1.2 / 5.2, "0.231"),
        # export: 10 of 2 s in (1, 5] -> 4.8; mail: 20 of 30 ms in (0.01, 0.05] -> 0.048
        "Processing time p95 by queue": {
            "messaging.destination.name:export": 4.8,
            "messaging.destination.name:mail": 0.048,
        },
        # export: 10 of 7 s in (5, 10] -> 9.75; mail: 20 of 50 ms in (0.01, 0.1] -> 0.0955
        "Time waiting in the queue p95": {
            "messaging.destination.name:export": 9.75,
            "messaging.destination.name:mail": 0.0955,
        },
        "Jobs processed by outcome": {"obs.job.outcome:completed": 28, "obs.job.outcome:failed": 2},
    },
    "obs.cache": {
        "Hit ratio": (35 / 60, "0.583"),
        "Hit ratio by cache": {
            "hit ratio (cache.name:kpi)": 0.75,
            "hit ratio (cache.name:sessions)": 0.25,
        },
        "Lookups per second by cache and result": {
            "cache.name:kpi,cache.result:hit": 3,
            "cache.name:kpi,cache.result:miss": 1,
            "cache.name:sessions,cache.result:hit": 0.5,
            "cache.name:sessions,cache.result:miss": 1.5,
        },
        "Keyspace hit ratio": {"server.address:r1": 0.9},
        "Hits and misses per second": {"hits": 9, "misses": 1},
        "Evicted and expired keys": {"evicted": 2, "expired": 4},
        "Memory used vs. maxmemory": {
            "used (server.address:r1)": 2097152,
            "maxmemory (server.address:r1)": 67108864,
        },
        "Keys per database": {"db:0": 1200},
        "Connected clients": {"max:redis.clients.connected{$env}": 7},
    },
    "obs.service": {
        "Mongo p95": (0.7125, "712.5 ms"),
        "Mongo error ratio": (5 / 115, "0.0435"),
        "Cache hit ratio": (35 / 60, "0.583"),
        # 30 jobs: 20 <= 50 ms, 10 in (1, 5]: rank 28.5 -> 1 + 4 * 8.5/10 = 4.4
        "Job p95": (4.4, "4.4 s"),
        "Mongo p95 by collection": {
            "db.collection.name:users": 0.29,
            "db.collection.name:transactions": 0.975,
        },
        "Jobs by outcome": {"obs.job.outcome:completed": 28, "obs.job.outcome:failed": 2},
        "Checkouts waiting for a connection": {
            "max:db.client.connection.pending_requests{$env,$service}": 2
        },
        "obs instrumentation errors (swallowed)": {"errors (obs.feature:pymongo)": 1},
        "Refused share of guarded calls": (0.2, "0.200"),
        "Concurrency limit vs. in flight": {
            "limit (obs.guard.name:payouts)": 12,
            "in flight (obs.guard.name:payouts)": 9,
        },
        "Guarded calls by outcome": {
            "obs.guard.outcome:admitted": 80,
            "obs.guard.outcome:rejected": 14,
            "obs.guard.outcome:shed": 6,
        },
        "Refused by reason and priority": {
            "obs.guard.reason:limit,obs.guard.priority:normal": 12,
            "obs.guard.reason:limit,obs.guard.priority:low": 6,
            "obs.guard.reason:client_rate,obs.guard.priority:normal": 2,
        },
        "Breaker state (0 closed, 1 half-open, 2 open)": {"obs.guard.name:payouts": 2},
        "Most throttled clients (hashed)": [("obs.guard.client:a1b2c3d4e5f6", 2)],
    },
    "obs.agent": {
        "Targets up (1) or down (0)": [
            ("obs.target.type:redis,obs.target:r1", 1),
            ("obs.target.type:mongo,obs.target:m1", 0),
        ],
        # redis: 10 of 4 ms in (1, 5] ms -> 4.8 ms; bullmq: 5 of 20 ms in (10, 50] ms -> 48 ms
        "Collection time p95 by collector": {
            "obs.collector:redis": 0.0048,
            "obs.collector:bullmq": 0.048,
        },
        "Collection time by collector": {
            "obs.collector:redis": 0.004,
            "obs.collector:bullmq": 0.02,
        },
        "Collection errors": {"obs.collector:mongo,obs.target:m1": 1},
        "Resident memory": {"max:otel.process.memory.usage{$env}": 52428800},
        "CPU (fraction of one core)": {"max:otel.process.cpu.utilization{$env}": 0.02},
    },
}


@dataclass
class Drawn:
    """What the DOM holds for one widget."""

    kind: str
    title: str | None
    group: str | None
    value: float | None = None
    text: str = ""
    legend: dict[str, float | None] = field(default_factory=dict)
    rows: list[tuple[str, float]] = field(default_factory=list)
    bars: list[tuple[str, float]] = field(default_factory=list)
    count: float | None = None
    error: str | None = None


def _number(text: str | None) -> float | None:
    return None if text in (None, "", "null") else float(text)  # type: ignore[arg-type]


class _Widgets(HTMLParser):
    """Collects the drawn widgets (elements with data-kind) and what is inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.widgets: list[Drawn] = []
        self._stack: list[tuple[str, Drawn | None, str | None]] = []
        self._in_value = False

    def _current(self) -> Drawn | None:
        return next((w for _, w, _ in reversed(self._stack) if w is not None), None)

    def _group(self) -> str | None:
        return next((g for _, _, g in reversed(self._stack) if g is not None), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        widget, group = None, None
        if a.get("data-kind") == "group":
            group = a.get("data-title")
        elif "data-kind" in a:
            widget = Drawn(str(a["data-kind"]), a.get("data-title"), self._group())
            self.widgets.append(widget)
        current = widget or self._current()
        if current is not None:
            if "value" in (a.get("class") or "").split() and "data-value" in a:
                current.value = _number(a["data-value"])
                self._in_value = True
            if tag == "li" and "data-name" in a:
                current.legend[str(a["data-name"])] = _number(a.get("data-last"))
            if tag == "tr" and "data-name" in a:
                current.rows.append((str(a["data-name"]), float(a["data-value"] or "nan")))
            if tag == "rect" and "data-count" in a:
                current.bars.append((str(a.get("data-upper")), float(a["data-count"] or 0)))
            if tag == "text" and "data-count" in a:
                current.count = _number(a["data-count"])
            if "data-error" in a:
                current.error = a["data-error"]
        if tag not in ("meta", "link", "br", "img", "input"):  # HTML's void elements
            self._stack.append((tag, widget, group))

    def handle_endtag(self, tag: str) -> None:
        self._in_value = False
        if any(open_tag == tag for open_tag, _, _ in self._stack):
            while self._stack.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        current = self._current()
        if current is not None and (self._in_value or current.kind == "note"):
            current.text += data


def drawn_widgets(html: str) -> list[Drawn]:
    parser = _Widgets()
    parser.feed(html)
    return parser.widgets


@pytest.fixture(scope="module")
def preview() -> Iterator[str]:
    """`obs preview` scraping the controlled endpoint; yields the page's address once the
    endpoint has frozen and its last live scrape has been recorded."""
    source = MetricsSource(write_step, live_scrapes=LIVE_SCRAPES).start()
    command = [sys.executable, "-m", "obs.cli", "preview", "--source", source.url]
    command += ["--port", "0", "--interval", "0.3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("obs preview: http://"), line + process.stderr.read()
        url = line.split()[2]
        deadline = time.monotonic() + 30
        while source.scrapes < LIVE_SCRAPES + 2:  # one frozen scrape after the last live one
            assert time.monotonic() < deadline, "obs preview did not scrape the endpoint"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0  # SIGTERM stops it as cleanly as Ctrl-C
        source.stop()


def _check(widget: Drawn, expected: Any) -> None:
    assert widget.error is None, f"{widget.title}: {widget.error}"
    if callable(expected):
        assert expected(dict(widget.legend)), (widget.title, widget.legend)
    elif isinstance(expected, tuple):
        value, text = expected
        assert widget.value == pytest.approx(value, rel=1e-9), widget.title
        assert widget.text == text, widget.title
    elif isinstance(expected, dict):
        assert widget.legend == pytest.approx(expected, rel=1e-9), widget.title
    else:
        assert [name for name, _ in widget.rows] == [name for name, _ in expected], widget.title
        assert [v for _, v in widget.rows] == pytest.approx([v for _, v in expected], rel=1e-9)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.key)
def test_every_widget_is_drawn_with_its_title_and_the_served_value(
    preview: str, dashboard: Any
) -> None:
    widgets = drawn_widgets(dump_dom(f"{preview}d/{dashboard.key}"))
    defined = [w for w in dashboard.walk() if not isinstance(w, Group)]
    assert [w.kind for w in widgets] == [
        "note"
        if isinstance(w, Note)
        else type(w).__name__.lower().replace("queryvalue", "query_value")
        for w in defined
    ]
    assert [w.title for w in widgets] == [None if isinstance(w, Note) else w.title for w in defined]
    expected = EXPECTED[dashboard.key]
    for widget, definition in zip(widgets, defined, strict=True):
        if isinstance(definition, Note):
            assert widget.text.split() == definition.content.replace("`", "").split()
        elif widget.kind == "distribution":
            _check_command_durations(widget)
        else:
            _check(widget, expected[widget.title])  # type: ignore[index]
    groups = [w.title for w in dashboard.widgets if isinstance(w, Group)]
    assert list(dict.fromkeys(w.group for w in widgets)) == groups


def _check_command_durations(widget: Drawn) -> None:
    """All commands of the frame by bucket: per step 45 <= 5 ms (40 finds, 5 inserts),
    40 <= 50 ms, 10 <= 100 ms, 10 <= 500 ms, 10 <= 1 s; over the 3 steps, 345."""
    assert widget.title == "Command duration"
    per_step = {"0.005": 45, "0.05": 40, "0.1": 10, "0.5": 10, "1": 10}
    assert dict(widget.bars) == {
        upper: STEPS * per_step.get(upper, 0)
        for upper in ("0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "None")
    }
    assert widget.count == STEPS * 115


def test_the_dashboard_list_links_every_dashboard(preview: str) -> None:
    html = dump_dom(preview)
    for dashboard in DASHBOARDS:
        assert f'href="/d/{dashboard.key}"' in html
        assert dashboard.title in html


def test_a_chosen_template_variable_filters_every_widget(preview: str) -> None:
    html = dump_dom(f"{preview}d/obs.queues?queue=mail")
    widgets = {w.title: w for w in drawn_widgets(html)}
    assert widgets["Completed jobs per second"].legend == {"bullmq.queue.name:mail": 1}
    assert widgets["Waiting jobs per queue"].rows == [("bullmq.queue.name:mail", 4)]
    # failed 0.2/s of 1 + 0.2 finished, for mail alone
    assert widgets["Failed share of finished jobs"].value == pytest.approx(0.2 / 1.2)
    # the drop-down offers the queues found in the data, with the chosen one selected
    assert '<option value="export">export</option>' in html
    assert '<option value="mail" selected="">mail</option>' in html


class _SloRows(HTMLParser):
    """The SLO table's rows: key -> the row's data- attributes and its alerts' firing."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str | None]] = {}
        self.alerts: dict[str, dict[str, str | None]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-slo"):
            self._current = a["data-slo"]
            self.rows[self._current] = a
            self.alerts[self._current] = {}
        elif "data-alert" in a and self._current is not None:
            self.alerts[self._current][str(a["data-alert"])] = a.get("data-firing")


def test_the_first_page_shows_every_slo_with_its_budget_and_burn_rates(preview: str) -> None:
    parser = _SloRows()
    parser.feed(dump_dom(preview))
    rows = parser.rows
    assert list(rows) == [slo.key for slo in SLOS]
    got = {
        key: (row["data-state"], _number(row["data-sli"]), _number(row["data-burn-rate"]))
        for key, row in rows.items()
    }
    assert got == {
        # 330 of 345 commands without error.type, against 99.9 %: (15/345) / 0.1 % = 43.5x
        "obs.mongo.success": (
            "missed",
            pytest.approx(100 * 330 / 345),
            pytest.approx(43.478, 1e-4),
        ),
        # the 30 s held are one (short) minute slice, whose p99 is 942.5 ms, over 250 ms
        "obs.mongo.latency": ("missed", 0.0, pytest.approx(100.0)),
        # 84 of 90 job runs completed, against 99 %: (6/90) / 1 % = 6.67x
        "obs.jobs.success": ("missed", pytest.approx(100 * 84 / 90), pytest.approx(6.6667, 1e-4)),
        # 105 hits of 180 lookups in the one slice: 0.58 >= 0.5
        "obs.cache.availability": ("ok", 100.0, 0.0),
    }
    assert rows["obs.jobs.success"]["data-burning"] == "true"
    assert rows["obs.cache.availability"]["data-burning"] == "false"
    # page fires at 14.4x, ticket at 6x; over the 30 s held both windows see the same rate
    assert parser.alerts["obs.mongo.success"] == {"page": "true", "ticket": "true"}
    assert parser.alerts["obs.jobs.success"] == {"page": "false", "ticket": "true"}
