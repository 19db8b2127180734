"""The metric catalog: every metric obs emits, declared once.

Emitters create their instruments from these entries and nothing else; dashboards and
monitors refer to the same objects, so a test can prove that every query names something
obs really emits (tests/test_catalog.py).

Names follow the conventions users' tools already know: OpenTelemetry semantic conventions
for client metrics (``db.client.*``, ``messaging.*``), the OpenTelemetry Collector's
mongodbreceiver and redisreceiver names for server-side metrics, BullMQ's own telemetry
names for queues, and ``obs.*`` for what no convention covers.

Example:
    >>> from obs import catalog
    >>> catalog.DB_CLIENT_OPERATION_DURATION.unit
    's'
    >>> catalog.by_name("redis.keyspace.hits").emitter is catalog.Emitter.AGENT
    True
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import (
        CallbackOptions,
        Counter,
        Histogram,
        Meter,
        Observation,
        UpDownCounter,
        _Gauge,
    )


class Kind(enum.Enum):
    """How a metric's points behave (maps onto OpenTelemetry instrument kinds)."""

    COUNTER = "counter"  # monotonic sum
    UP_DOWN_COUNTER = "updowncounter"  # non-monotonic sum
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


class Emitter(enum.Enum):
    """Which part of obs produces a metric."""

    INSTRUMENTATION = "instrumentation"  # in-process, from obs.init()
    AGENT = "agent"  # the obs agent sidecar


class attr:
    """Attribute keys used by catalog metrics (semantic-convention names where they exist)."""

    DB_SYSTEM_NAME = "db.system.name"
    DB_NAMESPACE = "db.namespace"
    DB_COLLECTION_NAME = "db.collection.name"
    DB_OPERATION_NAME = "db.operation.name"
    ERROR_TYPE = "error.type"
    DB_RESPONSE_STATUS_CODE = "db.response.status_code"  # a failed command's server code
    SERVER_ADDRESS = "server.address"
    SERVER_PORT = "server.port"
    POOL_NAME = "db.client.connection.pool.name"
    CONNECTION_STATE = "db.client.connection.state"
    QUERY_SMELL = "obs.query.smell"
    QUERY_SHAPE = "obs.query.shape"
    QUERY_SHAPE_ID = "obs.query.shape.id"  # the shape's fingerprint (16 hex digits)
    MONGO_PLAN = "obs.mongo.plan"
    MONGO_OPERATION = "operation"  # mongodbreceiver's attribute name
    MONGO_CONNECTION_TYPE = "type"  # mongodbreceiver's attribute name
    MONGO_INDEX_NAME = "obs.mongo.index.name"
    MONGO_CACHE_STATE = "obs.mongo.cache.state"
    CACHE_NAME = "cache.name"
    CACHE_RESULT = "cache.result"
    MESSAGING_SYSTEM = "messaging.system"
    MESSAGING_DESTINATION_NAME = "messaging.destination.name"
    MESSAGING_OPERATION_NAME = "messaging.operation.name"
    JOB_OUTCOME = "obs.job.outcome"
    REDIS_DB = "db"  # redisreceiver's attribute name
    QUEUE_NAME = "bullmq.queue.name"
    QUEUE_PREFIX = "bullmq.queue.prefix"
    QUEUE_STATE = "bullmq.queue.jobs.state"
    FEATURE = "obs.feature"
    GUARD_NAME = "obs.guard.name"
    GUARD_OUTCOME = "obs.guard.outcome"
    GUARD_REASON = "obs.guard.reason"
    GUARD_PRIORITY = "obs.guard.priority"
    GUARD_CLIENT = "obs.guard.client"  # a keyed hash of the client key, never the key
    BREAKER_STATE = "obs.guard.breaker.state"
    COLLECTOR = "obs.collector"
    TARGET = "obs.target"
    TARGET_TYPE = "obs.target.type"


@dataclass(frozen=True, slots=True)
class Metric:
    """One declared metric.

    Example:
        >>> m = Metric("obs.example", Kind.COUNTER, "{event}", "Events.", ("cache.name",),
        ...            Emitter.INSTRUMENTATION)
        >>> m.allows({"cache.name": "kpi"})
        True
    """

    name: str
    kind: Kind
    unit: str
    description: str
    attributes: tuple[str, ...]
    emitter: Emitter
    buckets: tuple[float, ...] | None = None
    # Attribute values that must be present on every point (e.g. db.system.name=mongodb).
    fixed: tuple[tuple[str, str], ...] = field(default=())

    def allows(self, attributes: Iterable[str]) -> bool:
        """True when every attribute key is declared for this metric."""
        return set(attributes) <= set(self.attributes)

    def create_counter(self, meter: Meter) -> Counter:
        self._expect(Kind.COUNTER)
        return meter.create_counter(self.name, unit=self.unit, description=self.description)

    def create_up_down_counter(self, meter: Meter) -> UpDownCounter:
        self._expect(Kind.UP_DOWN_COUNTER)
        return meter.create_up_down_counter(self.name, unit=self.unit, description=self.description)

    def create_histogram(self, meter: Meter) -> Histogram:
        self._expect(Kind.HISTOGRAM)
        return meter.create_histogram(
            self.name,
            unit=self.unit,
            description=self.description,
            explicit_bucket_boundaries_advisory=list(self.buckets) if self.buckets else None,
        )

    def create_gauge(self, meter: Meter) -> _Gauge:
        self._expect(Kind.GAUGE)
        return meter.create_gauge(self.name, unit=self.unit, description=self.description)

    def create_observable(
        self,
        meter: Meter,
        callback: Callable[[CallbackOptions], Iterable[Observation]],
    ) -> object:
        """An asynchronous instrument of this metric's kind, read by ``callback``."""
        factory = {
            Kind.COUNTER: meter.create_observable_counter,
            Kind.UP_DOWN_COUNTER: meter.create_observable_up_down_counter,
            Kind.GAUGE: meter.create_observable_gauge,
        }.get(self.kind)
        if factory is None:
            raise TypeError(f"{self.name} is a {self.kind.value}; it cannot be observed")
        return factory(
            self.name, callbacks=[callback], unit=self.unit, description=self.description
        )

    def _expect(self, kind: Kind) -> None:
        if self.kind is not kind:
            raise TypeError(f"{self.name} is a {self.kind.value}, not a {kind.value}")


_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
_TARGET = (attr.SERVER_ADDRESS, attr.SERVER_PORT)
_I = Emitter.INSTRUMENTATION
_A = Emitter.AGENT

# --- in-process: pymongo ------------------------------------------------------------------

DB_CLIENT_OPERATION_DURATION = Metric(
    "db.client.operation.duration",
    Kind.HISTOGRAM,
    "s",
    "Duration of MongoDB commands sent by this process (OTel semantic conventions).",
    (
        attr.DB_SYSTEM_NAME,
        attr.DB_NAMESPACE,
        attr.DB_COLLECTION_NAME,
        attr.DB_OPERATION_NAME,
        attr.ERROR_TYPE,
        attr.DB_RESPONSE_STATUS_CODE,
        attr.SERVER_ADDRESS,
        attr.SERVER_PORT,
    ),
    _I,
    buckets=_SECONDS_BUCKETS,
    fixed=((attr.DB_SYSTEM_NAME, "mongodb"),),
)
DB_CLIENT_CONNECTION_COUNT = Metric(
    "db.client.connection.count",
    Kind.UP_DOWN_COUNTER,
    "{connection}",
    "Connections in the pymongo pool, by state (idle or used).",
    (attr.POOL_NAME, attr.CONNECTION_STATE),
    _I,
)
DB_CLIENT_CONNECTION_MAX = Metric(
    "db.client.connection.max",
    Kind.UP_DOWN_COUNTER,
    "{connection}",
    "Maximum number of connections the pymongo pool allows (maxPoolSize).",
    (attr.POOL_NAME,),
    _I,
)
DB_CLIENT_CONNECTION_PENDING_REQUESTS = Metric(
    "db.client.connection.pending_requests",
    Kind.UP_DOWN_COUNTER,
    "{request}",
    "Checkouts waiting for a pooled connection.",
    (attr.POOL_NAME,),
    _I,
)
DB_CLIENT_CONNECTION_WAIT_TIME = Metric(
    "db.client.connection.wait_time",
    Kind.HISTOGRAM,
    "s",
    "Time spent waiting to check a connection out of the pool.",
    (attr.POOL_NAME, attr.ERROR_TYPE),
    _I,
    buckets=_SECONDS_BUCKETS,
)
DB_CLIENT_CONNECTION_CREATE_TIME = Metric(
    "db.client.connection.create_time",
    Kind.HISTOGRAM,
    "s",
    "Time to establish a new pooled connection (including handshake and auth).",
    (attr.POOL_NAME,),
    _I,
    buckets=_SECONDS_BUCKETS,
)
DB_CLIENT_CONNECTION_TIMEOUTS = Metric(
    "db.client.connection.timeouts",
    Kind.COUNTER,
    "{timeout}",
    "Checkouts that timed out waiting for a pooled connection.",
    (attr.POOL_NAME,),
    _I,
)
MONGO_QUERY_SMELLS = Metric(
    "obs.mongo.query_smells",
    Kind.COUNTER,
    "{command}",
    "Commands with a known-costly shape: large skip (offset pagination), find with no "
    "limit, unanchored $regex, $where.",
    (attr.DB_NAMESPACE, attr.DB_COLLECTION_NAME, attr.DB_OPERATION_NAME, attr.QUERY_SMELL),
    _I,
)

# --- in-process: caches and jobs ---------------------------------------------------------

CACHE_REQUESTS = Metric(
    "obs.cache.requests",
    Kind.COUNTER,
    "{request}",
    "Cache lookups by cache name and result (hit or miss).",
    (attr.CACHE_NAME, attr.CACHE_RESULT),
    _I,
)
MESSAGING_PROCESS_DURATION = Metric(
    "messaging.process.duration",
    Kind.HISTOGRAM,
    "s",
    "Time a worker spent processing one job (OTel messaging semantic conventions).",
    (
        attr.MESSAGING_SYSTEM,
        attr.MESSAGING_DESTINATION_NAME,
        attr.MESSAGING_OPERATION_NAME,
        attr.JOB_OUTCOME,
        attr.ERROR_TYPE,
    ),
    _I,
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
    fixed=((attr.MESSAGING_OPERATION_NAME, "process"),),
)
JOB_WAIT_TIME = Metric(
    "obs.job.wait_time",
    Kind.HISTOGRAM,
    "s",
    "Time a job waited in its queue: processing start minus enqueue time.",
    (attr.MESSAGING_SYSTEM, attr.MESSAGING_DESTINATION_NAME),
    _I,
    buckets=(0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
JOB_ATTEMPTS = Metric(
    "obs.job.attempts",
    Kind.HISTOGRAM,
    "{attempt}",
    "Which attempt each processing run was (1 = first try).",
    (attr.MESSAGING_SYSTEM, attr.MESSAGING_DESTINATION_NAME, attr.JOB_OUTCOME),
    _I,
    buckets=(1.0, 2.0, 3.0, 5.0, 10.0),
)
INSTRUMENTATION_ERRORS = Metric(
    "obs.instrumentation.errors",
    Kind.COUNTER,
    "{error}",
    "Failures inside obs's own instrumentation, swallowed so that the host keeps running.",
    (attr.FEATURE,),
    _I,
)

# --- in-process: obs.guard ---------------------------------------------------------------

GUARD_LIMIT = Metric(
    "obs.guard.limit",
    Kind.GAUGE,
    "{request}",
    "Concurrency limit of each guard, adapted from the latency of the calls it admits.",
    (attr.GUARD_NAME,),
    _I,
)
GUARD_IN_FLIGHT = Metric(
    "obs.guard.in_flight",
    Kind.UP_DOWN_COUNTER,
    "{request}",
    "Guarded calls running now.",
    (attr.GUARD_NAME,),
    _I,
)
GUARD_REQUESTS = Metric(
    "obs.guard.requests",
    Kind.COUNTER,
    "{request}",
    "Guarded calls by outcome (admitted, rejected, or shed: refused where a higher priority "
    "would have gone through), reason (limit, breaker, client_rate) and priority.",
    (attr.GUARD_NAME, attr.GUARD_OUTCOME, attr.GUARD_REASON, attr.GUARD_PRIORITY),
    _I,
)
GUARD_BREAKER_STATE = Metric(
    "obs.guard.breaker.state",
    Kind.GAUGE,
    "{state}",
    "Circuit breaker state of each guard: 0 closed, 1 half-open, 2 open.",
    (attr.GUARD_NAME,),
    _I,
)
GUARD_BREAKER_TRANSITIONS = Metric(
    "obs.guard.breaker.transitions",
    Kind.COUNTER,
    "{transition}",
    "Circuit breaker transitions, by the state entered.",
    (attr.GUARD_NAME, attr.BREAKER_STATE),
    _I,
)
GUARD_CLIENT_REJECTIONS = Metric(
    "obs.guard.client.rejections",
    Kind.COUNTER,
    "{request}",
    "Calls refused because their client was over its rate, by client tag (a keyed hash; "
    "the first 100 tags per guard, then `other`).",
    (attr.GUARD_NAME, attr.GUARD_CLIENT),
    _I,
)

# --- agent: MongoDB server ----------------------------------------------------------------

MONGODB_OPERATION_COUNT = Metric(
    "mongodb.operation.count",
    Kind.COUNTER,
    "{operation}",
    "Operations the server executed (serverStatus opcounters).",
    (*_TARGET, attr.MONGO_OPERATION),
    _A,
)
MONGODB_OPERATION_LATENCY = Metric(
    "mongodb.operation.latency.time",
    Kind.GAUGE,
    "us",
    "Average server-side latency over the interval, by read/write/command (opLatencies).",
    (*_TARGET, attr.MONGO_OPERATION),
    _A,
)
MONGODB_CONNECTION_COUNT = Metric(
    "mongodb.connection.count",
    Kind.GAUGE,
    "{connection}",
    "Server connections by type (current, available, active).",
    (*_TARGET, attr.MONGO_CONNECTION_TYPE),
    _A,
)
MONGO_SCANNED_KEYS = Metric(
    "obs.mongo.scanned.keys",
    Kind.COUNTER,
    "{key}",
    "Index keys scanned by queries (serverStatus metrics.queryExecutor.scanned).",
    _TARGET,
    _A,
)
MONGO_SCANNED_OBJECTS = Metric(
    "obs.mongo.scanned.objects",
    Kind.COUNTER,
    "{document}",
    "Documents scanned by queries (serverStatus metrics.queryExecutor.scannedObjects).",
    _TARGET,
    _A,
)
MONGO_SERVER_COLLECTION_SCANS = Metric(
    "obs.mongo.server.collection_scans",
    Kind.COUNTER,
    "{scan}",
    "Collection scans server-wide (serverStatus metrics.queryExecutor.collectionScans).",
    _TARGET,
    _A,
)
MONGO_SCAN_AND_ORDER = Metric(
    "obs.mongo.scan_and_order",
    Kind.COUNTER,
    "{operation}",
    "Queries that sorted in memory (serverStatus metrics.operation.scanAndOrder).",
    _TARGET,
    _A,
)
MONGO_WIREDTIGER_CACHE = Metric(
    "obs.mongo.wiredtiger.cache.bytes",
    Kind.GAUGE,
    "By",
    "WiredTiger cache bytes by state (used, dirty, max).",
    (*_TARGET, attr.MONGO_CACHE_STATE),
    _A,
)
MONGO_PROFILED_DURATION = Metric(
    "obs.mongo.profiled_operation.duration",
    Kind.HISTOGRAM,
    "s",
    "Server-side duration of profiled operations (system.profile), per collection.",
    (
        *_TARGET,
        attr.DB_NAMESPACE,
        attr.DB_COLLECTION_NAME,
        attr.DB_OPERATION_NAME,
        attr.MONGO_PLAN,
    ),
    _A,
    buckets=_SECONDS_BUCKETS,
)
MONGO_COLLECTION_SCANS = Metric(
    "obs.mongo.collection_scans",
    Kind.COUNTER,
    "{scan}",
    "Profiled operations that scanned a whole collection, by query shape (masked text "
    "and fingerprint).",
    (
        *_TARGET,
        attr.DB_NAMESPACE,
        attr.DB_COLLECTION_NAME,
        attr.QUERY_SHAPE,
        attr.QUERY_SHAPE_ID,
    ),
    _A,
)
MONGO_SLOW_OPERATIONS = Metric(
    "obs.mongo.slow_operations",
    Kind.GAUGE,
    "{operation}",
    "Operations running longer than the threshold right now (currentOp).",
    (*_TARGET, attr.DB_NAMESPACE, attr.DB_OPERATION_NAME),
    _A,
)
MONGO_OLDEST_OPERATION_AGE = Metric(
    "obs.mongo.oldest_operation.age",
    Kind.GAUGE,
    "s",
    "Age of the longest-running operation (currentOp).",
    _TARGET,
    _A,
)
MONGO_COLLECTION_SIZE = Metric(
    "obs.mongo.collection.size",
    Kind.GAUGE,
    "By",
    "Uncompressed data size of a collection (collStats).",
    (*_TARGET, attr.DB_NAMESPACE, attr.DB_COLLECTION_NAME),
    _A,
)
MONGO_COLLECTION_DOCUMENTS = Metric(
    "obs.mongo.collection.documents",
    Kind.GAUGE,
    "{document}",
    "Documents in a collection (collStats).",
    (*_TARGET, attr.DB_NAMESPACE, attr.DB_COLLECTION_NAME),
    _A,
)
MONGO_INDEX_SIZE = Metric(
    "obs.mongo.index.size",
    Kind.GAUGE,
    "By",
    "Size of one index (collStats indexSizes).",
    (*_TARGET, attr.DB_NAMESPACE, attr.DB_COLLECTION_NAME, attr.MONGO_INDEX_NAME),
    _A,
)
MONGO_INDEX_ACCESSES = Metric(
    "obs.mongo.index.accesses",
    Kind.COUNTER,
    "{access}",
    "Uses of one index since the server started ($indexStats).",
    (*_TARGET, attr.DB_NAMESPACE, attr.DB_COLLECTION_NAME, attr.MONGO_INDEX_NAME),
    _A,
)
MONGO_UNUSED_INDEXES = Metric(
    "obs.mongo.unused_indexes",
    Kind.GAUGE,
    "{index}",
    "Indexes of a collection with no recorded use ($indexStats).",
    (*_TARGET, attr.DB_NAMESPACE, attr.DB_COLLECTION_NAME),
    _A,
)

# --- agent: Redis -------------------------------------------------------------------------

REDIS_KEYSPACE_HITS = Metric(
    "redis.keyspace.hits",
    Kind.COUNTER,
    "{hit}",
    "Successful key lookups (INFO stats keyspace_hits).",
    _TARGET,
    _A,
)
REDIS_KEYSPACE_MISSES = Metric(
    "redis.keyspace.misses",
    Kind.COUNTER,
    "{miss}",
    "Failed key lookups (INFO stats keyspace_misses).",
    _TARGET,
    _A,
)
REDIS_KEYSPACE_HIT_RATIO = Metric(
    "obs.redis.keyspace.hit_ratio",
    Kind.GAUGE,
    "1",
    "Hits / (hits + misses) over the last interval, from counter deltas.",
    _TARGET,
    _A,
)
REDIS_KEYS_EVICTED = Metric(
    "redis.keys.evicted",
    Kind.COUNTER,
    "{key}",
    "Keys evicted because of maxmemory (INFO stats evicted_keys).",
    _TARGET,
    _A,
)
REDIS_KEYS_EXPIRED = Metric(
    "redis.keys.expired",
    Kind.COUNTER,
    "{key}",
    "Keys removed because their TTL ran out (INFO stats expired_keys).",
    _TARGET,
    _A,
)
REDIS_MEMORY_USED = Metric(
    "redis.memory.used",
    Kind.GAUGE,
    "By",
    "Memory Redis has allocated (INFO memory used_memory).",
    _TARGET,
    _A,
)
REDIS_MAXMEMORY = Metric(
    "redis.maxmemory",
    Kind.GAUGE,
    "By",
    "The maxmemory limit (0 = none).",
    _TARGET,
    _A,
)
REDIS_CLIENTS_CONNECTED = Metric(
    "redis.clients.connected",
    Kind.GAUGE,
    "{client}",
    "Connected clients (INFO clients connected_clients).",
    _TARGET,
    _A,
)
REDIS_DB_KEYS = Metric(
    "redis.db.keys",
    Kind.GAUGE,
    "{key}",
    "Keys per database (INFO keyspace).",
    (*_TARGET, attr.REDIS_DB),
    _A,
)

# --- agent: BullMQ ------------------------------------------------------------------------

_QUEUE = (*_TARGET, attr.QUEUE_PREFIX, attr.QUEUE_NAME)

BULLMQ_QUEUE_JOBS = Metric(
    "bullmq.queue.jobs",
    Kind.GAUGE,
    "{job}",
    "Jobs in a queue by state (wait, active, paused, prioritized, delayed, "
    "waiting-children, completed, failed).",
    (*_QUEUE, attr.QUEUE_STATE),
    _A,
)
BULLMQ_QUEUE_PAUSED = Metric(
    "obs.bullmq.queue.paused",
    Kind.GAUGE,
    "1",
    "1 while the queue is paused, else 0.",
    _QUEUE,
    _A,
)
BULLMQ_OLDEST_WAITING_AGE = Metric(
    "obs.bullmq.queue.oldest_waiting.age",
    Kind.GAUGE,
    "s",
    "Age of the oldest job waiting to be processed (0 when none waits).",
    _QUEUE,
    _A,
)
BULLMQ_JOBS_COMPLETED = Metric(
    "obs.bullmq.jobs.completed",
    Kind.COUNTER,
    "{job}",
    "Jobs completed, from BullMQ's metrics:completed hash (workers with metrics enabled).",
    _QUEUE,
    _A,
)
BULLMQ_JOBS_FAILED = Metric(
    "obs.bullmq.jobs.failed",
    Kind.COUNTER,
    "{job}",
    "Jobs failed, from BullMQ's metrics:failed hash (workers with metrics enabled).",
    _QUEUE,
    _A,
)

BULLMQ_QUEUES_UNREADABLE = Metric(
    "obs.bullmq.queues.unreadable",
    Kind.GAUGE,
    "{queue}",
    "Queues left out of the last scrape because their keys cannot be read (a name or value "
    "that is not UTF-8, a count that is not a number); the other queues are read.",
    (*_TARGET, attr.QUEUE_PREFIX),
    _A,
)

# --- agent: itself ------------------------------------------------------------------------

AGENT_UP = Metric(
    "obs.agent.up",
    Kind.GAUGE,
    "1",
    "1 when the last collection from a target succeeded, else 0.",
    (attr.TARGET_TYPE, attr.TARGET),
    _A,
)
AGENT_COLLECTION_DURATION = Metric(
    "obs.agent.collection.duration",
    Kind.HISTOGRAM,
    "s",
    "Time one collector took for one target.",
    (attr.COLLECTOR, attr.TARGET),
    _A,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AGENT_COLLECTION_ERRORS = Metric(
    "obs.agent.collection.errors",
    Kind.COUNTER,
    "{error}",
    "Failed collections, per collector and target.",
    (attr.COLLECTOR, attr.TARGET),
    _A,
)
AGENT_MEMORY_RSS = Metric(
    "process.memory.usage",
    Kind.GAUGE,
    "By",
    "Resident memory of the agent process (OTel process semantic conventions).",
    (),
    _A,
)
AGENT_CPU_UTILIZATION = Metric(
    "process.cpu.utilization",
    Kind.GAUGE,
    "1",
    "CPU used by the agent process as a fraction of one core, over the last interval.",
    (),
    _A,
)


def _collect() -> dict[str, Metric]:
    declared = [v for v in globals().values() if isinstance(v, Metric)]
    found = {m.name: m for m in declared}
    if len(found) != len(declared):
        raise RuntimeError("the metric catalog declares a name twice")
    return dict(sorted(found.items()))


CATALOG: dict[str, Metric] = _collect()


def by_name(name: str) -> Metric:
    """The catalog entry called ``name``; KeyError names the unknown metric."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the obs metric catalog") from None


# Datadog's OTLP intake stores a metric whose name starts with one of these as ``otel.<name>``,
# to keep it apart from its own Agent's host metrics (Datadog's "OpenTelemetry metrics
# mapping" documentation; renameHostMetrics in DataDog/datadog-agent's
# pkg/opentelemetry-mapping-go/otlp/metrics/metrics_remapping.go).
_RENAMED_BY_DATADOG = ("system.", "process.")


def datadog_name(metric: Metric) -> str:
    """The name Datadog stores for ``metric`` when obs sends it over OTLP: what a dashboard
    or monitor must query. A metric outside the catalog keeps its name (it is taken to be a
    Datadog name already).

    Example:
        >>> datadog_name(AGENT_CPU_UTILIZATION), datadog_name(REDIS_MEMORY_USED)
        ('otel.process.cpu.utilization', 'redis.memory.used')
    """
    if CATALOG.get(metric.name) is metric and metric.name.startswith(_RENAMED_BY_DATADOG):
        return f"otel.{metric.name}"
    return metric.name


_BY_DATADOG_NAME: dict[str, Metric] = {datadog_name(m): m for m in CATALOG.values()}


def by_datadog_name(name: str) -> Metric:
    """The catalog entry Datadog stores as ``name`` (see :func:`datadog_name`); KeyError
    names the unknown metric.

    Example:
        >>> by_datadog_name("otel.process.memory.usage") is AGENT_MEMORY_RSS
        True
    """
    try:
        return _BY_DATADOG_NAME[name]
    except KeyError:
        stored = _BY_DATADOG_NAME.get(f"otel.{name}")
        hint = f" (Datadog stores obs's {name} as otel.{name})" if stored else ""
        raise KeyError(f"{name!r} is not in the obs metric catalog{hint}") from None


def emitted_by(emitter: Emitter) -> Iterator[Metric]:
    """Every metric one part of obs emits, in name order."""
    return (m for m in CATALOG.values() if m.emitter is emitter)


def reference_table(emitter: Emitter) -> str:
    """The Markdown table of one emitter's metrics, as the docs show it.

    Example:
        >>> reference_table(Emitter.INSTRUMENTATION).splitlines()[0]
        '| Metric | Kind | Unit | Attributes | Description |'
    """
    lines = [
        "| Metric | Kind | Unit | Attributes | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in emitted_by(emitter):
        keys = ", ".join(f"`{a}`" for a in m.attributes) or "none"
        description = m.description.replace("|", "\\|")
        lines.append(f"| `{m.name}` | {m.kind.value} | `{m.unit}` | {keys} | {description} |")
    return "\n".join(lines) + "\n"
