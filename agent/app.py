"""The agent assembled: clients and collectors per target, the runner, the exporter and the
HTTP endpoints, from an :class:`~obs.agent.config.AgentConfig`.

Every Mongo collector runs under ``pymongo.timeout(timeout)`` and every Redis client has
socket timeouts, so a slow target holds only its own collector's thread, and only for
its timeout.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource

from obs.agent.collectors.bullmq import BullMQCollector
from obs.agent.collectors.process import ProcessCollector
from obs.agent.collectors.redis_info import RedisInfoCollector
from obs.agent.collectors.redis_nodes import refresh
from obs.agent.config import AgentConfig, Collector
from obs.agent.endpoints import Endpoints
from obs.agent.export import Exporter, OtlpLoop
from obs.agent.points import AttributeValue, Collected
from obs.agent.rows import Row, rows_of
from obs.agent.schedule import Job, Runner
from obs.agent.store import Store
from obs.agent.targets import MongoTarget, RedisTarget
from obs.catalog import attr
from obs.export.deadline import Deadline, call_within

log = logging.getLogger("obs.agent")


def redis_attributes(url: str) -> dict[str, AttributeValue]:
    """``server.address`` / ``server.port`` of a Redis URL.

    Example:
        >>> redis_attributes("redis://:pw@cache:6380/1"), redis_attributes("unix:///run/r.sock")
        ({'server.address': 'cache', 'server.port': 6380}, {'server.address': '/run/r.sock'})
    """
    parts = urlsplit(url)  # of a cluster: its seed node
    if parts.scheme == "unix":
        return {attr.SERVER_ADDRESS: parts.path}
    return {attr.SERVER_ADDRESS: parts.hostname or "", attr.SERVER_PORT: parts.port or 6379}


def _within(timeout: float, collect: Callable[[], Collected]) -> Collected:
    import pymongo

    with pymongo.timeout(timeout):
        return collect()


class _ProfilerLevel:
    """Sets the profiling level once per target, before its first profiler read (only
    when ``mongo_profiler_level`` asks for it)."""

    def __init__(self, client: Any, target: MongoTarget, level: int, slowms: int) -> None:
        self.client, self.target, self.level, self.slowms = client, target, level, slowms
        self.done = False

    def then(self, collect: Callable[[], Collected]) -> Collected:
        if not self.done:
            from obs.agent.collectors.mongo import set_profiler_level, watched_databases

            databases = watched_databases(self.client, self.target.databases)
            set_profiler_level(self.client, databases, self.level, self.slowms)
            self.done = True
        return collect()


def _mongo_jobs(
    config: AgentConfig, target: MongoTarget, backfill: bool, clients: list[Any]
) -> list[Job]:
    # Imported for a MongoDB target only, as pymongo is: an agent watching Redis alone
    # does not hold them.
    import pymongo

    from obs.agent.collectors.mongo import APP_NAME, server_attributes
    from obs.agent.collectors.mongo_currentop import CurrentOpCollector
    from obs.agent.collectors.mongo_plans import PlanCache
    from obs.agent.collectors.mongo_profile import ProfileCollector
    from obs.agent.collectors.mongo_stats import StatsCollector
    from obs.agent.collectors.mongo_status import ServerStatusCollector

    client: Any = pymongo.MongoClient(target.uri, appname=APP_NAME, maxPoolSize=4, connect=False)
    clients.append(client)
    where = server_attributes(target.uri)

    def explain(database: str, command: Mapping[str, Any]) -> Mapping[str, Any]:
        reply: Mapping[str, Any] = client[database].command(dict(command))
        return reply

    plans = PlanCache(explain, config.explains_per_minute)
    profile = ProfileCollector(
        client,
        where,
        plans,
        databases=target.databases,
        batch=config.profile_batch,
        backfill=backfill,
    )
    profile_collect: Callable[[], Collected] = profile.collect
    if config.mongo_profiler_level is not None:
        setter = _ProfilerLevel(
            client, target, config.mongo_profiler_level, config.mongo_profiler_slowms
        )
        profile_collect = functools.partial(setter.then, profile.collect)
    collectors: dict[Collector, Callable[[], Collected]] = {
        Collector.MONGO_STATUS: ServerStatusCollector(client, where).collect,
        Collector.MONGO_CURRENTOP: CurrentOpCollector(
            client, where, config.slow_operation_seconds
        ).collect,
        Collector.MONGO_PROFILE: profile_collect,
        Collector.MONGO_STATS: StatsCollector(
            client, where, target.databases, config.max_collections
        ).collect,
    }
    jobs = []
    for kind, collect in collectors.items():
        schedule = config.schedule(kind)
        bounded = functools.partial(_within, schedule.timeout, collect)
        jobs.append(Job(kind, target.label, "mongodb", bounded, schedule, target.scrub))
    return jobs


# The agent's cluster schemes, and what redis-py calls them.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def redis_client(url: str, timeout: float) -> Any:
    """A Redis client with socket timeouts, or a cluster client for ``redis+cluster://``
    URLs (which connects as it is made, to read the slot map).

    It speaks RESP2 and sends no CLIENT SETINFO on connect, so a user limited to read
    commands (an ACL) sees no refused calls: redis-py 8 speaks RESP3 by default and then
    asks for CLIENT MAINT_NOTIFICATIONS, which such a user is refused on Redis 6.
    """
    import redis

    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        "protocol": 2,
    }
    scheme, _, rest = url.partition("://")
    make: Callable[..., Any] = redis.Redis.from_url
    if scheme in CLUSTER_SCHEMES:
        url, make = f"{CLUSTER_SCHEMES[scheme]}://{rest}", redis.RedisCluster.from_url
    # Chosen by version: the cluster client drops options it does not know, silently.
    if redis.VERSION >= (7, 1):
        options["driver_info"] = None
    else:
        options.update(lib_name=None, lib_version=None)
    return make(url, **options)


class _RedisCollect:
    """A Redis collector made, with its client, on its first collection: redis-py's cluster
    client connects in its constructor, and a target that is down when the agent starts
    must cost only its own collectors. After a failed collection a cluster's slot map is
    read again (a failover or a resharding moves slots)."""

    def __init__(
        self,
        url: str,
        timeout: float,
        make: Callable[[Any], Callable[[], Collected]],
        clients: list[Any],
    ) -> None:
        self.url, self.timeout, self.make, self.clients = url, timeout, make, clients
        self.client: Any = None
        self._collect: Callable[[], Collected] | None = None
        self._failed = False

    def __call__(self) -> Collected:
        if self._collect is None:
            self.client = redis_client(self.url, self.timeout)
            self.clients.append(self.client)
            self._collect = self.make(self.client)
        elif self._failed:
            refresh(self.client)
        self._failed = True
        collected = self._collect()
        self._failed = False
        return collected


def _redis_jobs(config: AgentConfig, target: RedisTarget, clients: list[Any]) -> list[Job]:
    where = redis_attributes(target.url)
    makers: dict[Collector, Callable[[Any], Callable[[], Collected]]] = {}
    if target.info:
        makers[Collector.REDIS_INFO] = lambda client: RedisInfoCollector(client, where).collect
    if target.bullmq:
        makers[Collector.BULLMQ] = lambda client: (
            BullMQCollector(
                client,
                where,
                config.prefixes_for(target),
                config.queues_for(target),
                discovery_interval=config.bullmq_discovery_interval,
            ).collect
        )
    jobs = []
    for kind, make in makers.items():
        schedule = config.schedule(kind)
        collect = _RedisCollect(target.url, schedule.timeout, make, clients)
        jobs.append(Job(kind, target.label, "redis", collect, schedule, target.scrub))
    return jobs


def build_jobs(config: AgentConfig, *, backfill: bool, clients: list[Any]) -> list[Job]:
    """Every job of ``config``; the clients it opens are appended to ``clients``."""
    jobs: list[Job] = []
    for mongo in config.mongo:
        jobs += _mongo_jobs(config, mongo, backfill, clients)
    for redis_target in config.redis:
        jobs += _redis_jobs(config, redis_target, clients)
    process = ProcessCollector()
    jobs.append(
        Job(Collector.PROCESS, "", None, process.collect, config.schedule(Collector.PROCESS))
    )
    return jobs


@dataclass
class Agent:
    """A configured agent; :meth:`start` runs it, :meth:`collect_once` collects once.

    ``otlp`` is an OTLP metric exporter (or None for no OTLP export).
    """

    config: AgentConfig
    resource: Resource
    otlp: Any | None = None
    backfill: bool = False
    store: Store = field(default_factory=Store)
    clients: list[Any] = field(default_factory=list)
    # OTLP temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE); cumulative else.
    delta_counters: bool = False
    delta_histograms: bool = False

    def __post_init__(self) -> None:
        self.exporter = Exporter(
            self.store,
            self.resource,
            delta_counters=self.delta_counters,
            delta_histograms=self.delta_histograms,
        )
        jobs = build_jobs(self.config, backfill=self.backfill, clients=self.clients)
        self.runner = Runner(jobs, self.store, self.exporter.observe, self.config.backoff_max)
        self.endpoints: Endpoints | None = None
        self.export_loop: OtlpLoop | None = None

    def start(self) -> None:
        address = self.config.listen_address
        if address is not None:
            self.endpoints = Endpoints(
                address, self.exporter.prometheus_text, self.runner.not_ready, self.dead
            ).start()
        self.runner.start()
        if self.otlp is not None:
            self.export_loop = OtlpLoop(self.exporter, self.otlp, self.config.export_interval)
            self.export_loop.start()

    def dead(self) -> list[str]:
        """The agent's threads that have ended while it runs (``/healthz`` fails then)."""
        gone = self.runner.dead()
        if self.export_loop is not None and not self.export_loop.alive:
            gone.append("otlp-export")
        return gone

    def stop(self, timeout: float = 5.0) -> None:
        """Stop within ``timeout`` seconds, whatever the targets and the collector do: the
        collectors get half of it to finish, the last OTLP export and closing the clients
        the rest (pymongo's close waits for a server that is gone, 30 s by default)."""
        deadline = Deadline.after(timeout)
        self.runner.stop(deadline.remaining() / 2)
        if self.endpoints is not None:
            self.endpoints.stop()
        if self.export_loop is not None:
            self.export_loop.stop(deadline.remaining() * 0.8)
        self.exporter.shutdown()
        try:
            call_within(deadline, self._close_clients, "obs-agent-close")
        except TimeoutError:
            log.info("stopped without waiting for every client to close")

    def _close_clients(self) -> None:
        for client in self.clients:
            try:
                client.close()
            except Exception as exc:  # one client's failure leaves the others to close
                log.debug("closing a client raised %s", type(exc).__name__)

    def collect_once(self) -> tuple[list[Row], list[dict[str, str]]]:
        """Run every collector once: the rows collected and the errors met."""
        by_job = self.runner.run_all_once()
        errors = [
            {"collector": job.collector.value, "target": job.target, "error": by_job[job.key]}
            for job in self.runner.jobs
            if job.key in by_job
        ]
        return rows_of(self.exporter.snapshot()), errors


def collect_once(config: AgentConfig, resource: Resource) -> tuple[list[Row], list[dict[str, str]]]:
    """Run every collector of ``config`` once (reading the latest profiler entries)."""
    agent = Agent(config, resource, backfill=True)
    try:
        return agent.collect_once()
    finally:
        agent.stop()
