"""The SLOs obs ships; ``obs provision`` applies them (with their burn-rate alerts) unless
``--no-defaults``.

Targets are starting points for an admin API over large Mongo collections, BullMQ export
and notification queues and a Redis KPI cache; copy one and change ``targets`` (or
``env_targets``) to make it yours.
"""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.metric_query.tree import call, count, p99
from obs.slos.slo import SLO, Ratio, TimeSlice

_COMMANDS = catalog.DB_CLIENT_OPERATION_DURATION
_JOBS = catalog.MESSAGING_PROCESS_DURATION

# Commands that failed carry error.type (OpenTelemetry's semantic conventions).
MONGO_SUCCESS = SLO(
    key="obs.mongo.success",
    name="Mongo commands succeed",
    sli=Ratio(
        good=count(_COMMANDS) - count(_COMMANDS, where={attr.ERROR_TYPE: "*"}),
        total=count(_COMMANDS),
    ),
    targets={"30d": 99.9},
    description="Share of the Mongo commands services send that succeed.",
    tags=("component:mongo",),
)

# A minute is good when 99 % of its commands finished within 250 ms.
MONGO_LATENCY = SLO(
    key="obs.mongo.latency",
    name="Mongo commands are fast",
    sli=TimeSlice(p99(_COMMANDS), "<", 0.25),
    targets={"30d": 99.0},
    description="Share of minutes in which the p99 of Mongo commands stays under 250 ms.",
    tags=("component:mongo",),
)

# Every processing run counts: a job that fails and succeeds on retry is one bad, one good.
JOB_SUCCESS = SLO(
    key="obs.jobs.success",
    name="Queue jobs succeed",
    sli=Ratio(good=count(_JOBS, where={attr.JOB_OUTCOME: "completed"}), total=count(_JOBS)),
    targets={"30d": 99.0},
    description="Share of job runs that complete, of all that finished (completed or failed).",
    tags=("component:queues",),
)

# A minute is good when the caches answer at least half of its lookups (no hit: 0).
_HITS = count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "hit"})
CACHE_AVAILABILITY = SLO(
    key="obs.cache.availability",
    name="Caches serve lookups",
    sli=TimeSlice(call("default_zero", _HITS) / count(catalog.CACHE_REQUESTS), ">=", 0.5),
    targets={"30d": 99.0},
    description="Share of minutes in which caches answer at least half of the lookups.",
    tags=("component:cache",),
)

SLOS = (MONGO_SUCCESS, MONGO_LATENCY, JOB_SUCCESS, CACHE_AVAILABILITY)
