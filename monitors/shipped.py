"""The monitors obs ships; ``obs provision`` applies them unless ``--no-defaults``.

Thresholds are starting points for admin APIs over large Mongo collections, a 30 s KPI
cache in Redis and BullMQ export/notification queues; override them
per environment with ``env_thresholds`` in your own copy, or add your own monitors beside.
"""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.metric_query.tree import avg, call, count, maximum, p95, query, total
from obs.monitors.growth import collection_growth
from obs.monitors.monitor import Monitor, Thresholds

_QUEUE = (attr.QUEUE_NAME,)

MONGO_P95_LATENCY = Monitor(
    key="obs.mongo.p95_latency",
    name="Mongo p95 latency high on {{db.collection.name.name}} ({{service.name}})",
    query=p95(catalog.DB_CLIENT_OPERATION_DURATION, by=("service", attr.DB_COLLECTION_NAME)),
    comparator=">",
    thresholds=Thresholds(critical=0.5, warning=0.25),
    env_thresholds={"staging": Thresholds(critical=2.0, warning=1.0)},
    window="last_10m",
    message="p95 of Mongo commands on {{db.collection.name.name}} from {{service.name}} is "
    "{{value}} s (threshold {{threshold}} s). Check the obs: MongoDB dashboard for the slow "
    "operation and `obs index-check` for an unindexed shape.",
    renotify_interval=60,
    priority=2,
    tags=("component:mongo",),
)

MONGO_COLLECTION_SCANS = Monitor(
    key="obs.mongo.collection_scans",
    name="Mongo collection scans on {{db.collection.name.name}}",
    query=count(catalog.MONGO_COLLECTION_SCANS, by=(attr.DB_COLLECTION_NAME,)),
    comparator=">",
    thresholds=Thresholds(critical=0),
    time_aggregation="sum",
    window="last_15m",
    message="{{value}} profiled operations scanned the whole {{db.collection.name.name}} "
    "collection in 15 minutes. The obs: MongoDB dashboard lists the query shapes; add an index "
    "(`obs index-check` suggests one).",
    priority=3,
    tags=("component:mongo",),
)

QUEUE_BACKLOG = Monitor(
    key="obs.queues.backlog",
    name="BullMQ backlog on {{bullmq.queue.name.name}}",
    query=total(catalog.BULLMQ_QUEUE_JOBS, where={attr.QUEUE_STATE: "wait"}, by=_QUEUE),
    comparator=">",
    thresholds=Thresholds(critical=1000, warning=500),
    time_aggregation="min",
    window="last_10m",
    message="{{value}} jobs have been waiting in {{bullmq.queue.name.name}} for 10 minutes. "
    "Are its workers running and keeping up?",
    renotify_interval=60,
    priority=2,
    tags=("component:queues",),
)

QUEUE_OLDEST_JOB = Monitor(
    key="obs.queues.oldest_job_age",
    name="BullMQ job waiting too long on {{bullmq.queue.name.name}}",
    query=maximum(catalog.BULLMQ_OLDEST_WAITING_AGE, by=_QUEUE),
    comparator=">",
    thresholds=Thresholds(critical=900, warning=300),
    time_aggregation="min",
    window="last_5m",
    message="The oldest waiting job in {{bullmq.queue.name.name}} is {{value}} s old.",
    priority=2,
    tags=("component:queues",),
)

QUEUE_FAILED_SPIKE = Monitor(
    key="obs.queues.failed_spike",
    name="BullMQ failed jobs spiking on {{bullmq.queue.name.name}}",
    query=count(catalog.BULLMQ_JOBS_FAILED, by=_QUEUE),
    comparator=">",
    thresholds=Thresholds(critical=50, warning=10),
    time_aggregation="sum",
    window="last_15m",
    message="{{value}} jobs failed in {{bullmq.queue.name.name}} within 15 minutes.",
    priority=2,
    tags=("component:queues",),
)

QUEUE_PAUSED = Monitor(
    key="obs.queues.paused",
    name="BullMQ queue {{bullmq.queue.name.name}} paused for 30 minutes",
    query=maximum(catalog.BULLMQ_QUEUE_PAUSED, by=_QUEUE),
    comparator=">=",
    thresholds=Thresholds(critical=1),
    time_aggregation="min",
    window="last_30m",
    message="{{bullmq.queue.name.name}} has been paused for 30 minutes; nothing in it is "
    "processed. Resume it if the pause was not meant to last.",
    priority=3,
    tags=("component:queues",),
)

_HITS = count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "hit"}, by=(attr.CACHE_NAME,))
_LOOKUPS = count(catalog.CACHE_REQUESTS, by=(attr.CACHE_NAME,))

CACHE_HIT_RATIO = Monitor(
    key="obs.cache.hit_ratio",
    name="Cache hit ratio dropped on {{cache.name.name}}",
    query=_HITS / _LOOKUPS,
    comparator="<",
    thresholds=Thresholds(critical=0.5, warning=0.7),
    time_aggregation="sum",
    window="last_15m",
    message="Only {{value}} of lookups in cache {{cache.name.name}} hit over 15 minutes.",
    priority=3,
    tags=("component:cache",),
)

REDIS_HIT_RATIO = Monitor(
    key="obs.redis.hit_ratio",
    name="Redis keyspace hit ratio dropped on {{server.address.name}}",
    query=avg(catalog.REDIS_KEYSPACE_HIT_RATIO, by=(attr.SERVER_ADDRESS,)),
    comparator="<",
    thresholds=Thresholds(critical=0.5, warning=0.8),
    window="last_15m",
    message="Redis at {{server.address.name}} answers only {{value}} of key lookups.",
    priority=3,
    tags=("component:cache",),
)

REDIS_EVICTIONS = Monitor(
    key="obs.redis.evictions",
    name="Redis evicting keys on {{server.address.name}}",
    query=count(catalog.REDIS_KEYS_EVICTED, by=(attr.SERVER_ADDRESS,)),
    comparator=">",
    thresholds=Thresholds(critical=1000, warning=0),
    time_aggregation="sum",
    window="last_10m",
    message="Redis at {{server.address.name}} evicted {{value}} keys in 10 minutes: it is at "
    "maxmemory. Cached KPIs are dropped before their TTL.",
    priority=3,
    tags=("component:cache",),
)

AGENT_TARGET_DOWN = Monitor(
    key="obs.agent.target_down",
    name="obs agent cannot reach {{obs.target.type.name}} {{obs.target.name}}",
    query=query(catalog.AGENT_UP, "min", by=(attr.TARGET_TYPE, attr.TARGET)),
    comparator="<",
    thresholds=Thresholds(critical=1),
    time_aggregation="max",
    window="last_10m",
    message="The obs agent has failed to collect from {{obs.target.name}} for 10 minutes.",
    priority=2,
    tags=("component:agent",),
)

AGENT_NOT_REPORTING = Monitor(
    key="obs.agent.not_reporting",
    name="obs agent not reporting",
    query=maximum(catalog.AGENT_UP),
    comparator="<",
    thresholds=Thresholds(critical=1),
    window="last_5m",
    notify_no_data=True,
    no_data_timeframe=15,
    message="No obs agent has reported for 15 minutes (or none can reach a target): "
    "queue, Redis and Mongo server metrics are missing.",
    priority=1,
    tags=("component:agent",),
)

_GUARDED = catalog.GUARD_REQUESTS
_BY_GUARD = ("service", attr.GUARD_NAME)

GUARD_BREAKER_OPEN = Monitor(
    key="obs.guard.breaker_open",
    name="obs.guard breaker {{obs.guard.name.name}} not closed for 10 minutes ({{service.name}})",
    query=maximum(catalog.GUARD_BREAKER_STATE, by=_BY_GUARD),
    comparator=">=",
    thresholds=Thresholds(critical=1),
    time_aggregation="min",
    window="last_10m",
    message="The circuit breaker of {{obs.guard.name.name}} in {{service.name}} has been open "
    "or probing for 10 minutes: its calls are refused with 503. The obs: Service overview's "
    "Protection group shows why it opened (Mongo errors or a saturated pool).",
    renotify_interval=60,
    priority=2,
    tags=("component:guard",),
)

GUARD_REJECTIONS = Monitor(
    key="obs.guard.rejections",
    name="obs.guard refusing calls on {{obs.guard.name.name}} ({{service.name}})",
    query=call("default_zero", count(_GUARDED, where={attr.GUARD_REASON: "*"}, by=_BY_GUARD))
    / count(_GUARDED, by=_BY_GUARD),
    comparator=">",
    thresholds=Thresholds(critical=0.2, warning=0.05),
    time_aggregation="sum",
    window="last_15m",
    message="{{value}} of the calls guarded by {{obs.guard.name.name}} in {{service.name}} "
    "were refused (limit, breaker or client rate) over 15 minutes. A few abusive clients "
    "show in the Protection group's toplist; a falling limit means Mongo is slowing down.",
    priority=3,
    tags=("component:guard",),
)

# The performance plan's fastest-growing collections: transactions and logs.
TRANSACTIONS_GROWTH = collection_growth("transactions", 200 * 2**30, weeks=4)
LOGS_GROWTH = collection_growth("logs", 100 * 2**30, weeks=4)

MONITORS = (
    MONGO_P95_LATENCY,
    MONGO_COLLECTION_SCANS,
    QUEUE_BACKLOG,
    QUEUE_OLDEST_JOB,
    QUEUE_FAILED_SPIKE,
    QUEUE_PAUSED,
    CACHE_HIT_RATIO,
    REDIS_HIT_RATIO,
    REDIS_EVICTIONS,
    AGENT_TARGET_DOWN,
    AGENT_NOT_REPORTING,
    GUARD_BREAKER_OPEN,
    GUARD_REJECTIONS,
    TRANSACTIONS_GROWTH,
    LOGS_GROWTH,
)
