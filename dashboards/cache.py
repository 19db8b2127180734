"""obs's cache dashboard: hit ratio per in-process cache name, Redis keyspace hit ratio,
evictions and memory."""

from __future__ import annotations

from obs import catalog
from obs.catalog import attr
from obs.dashboards.dashboard import ENV, SERVICE, Dashboard, TemplateVariable
from obs.dashboards.widgets import Formula, Group, QueryValue, Timeseries
from obs.metric_query.tree import avg, count, maximum, rate, total

CACHE = TemplateVariable("cache", attr.CACHE_NAME)
_CLIENT = ("env", "service", "cache")
_SERVER = ("env",)


def _hit_ratio(by: tuple[str, ...]) -> Formula:
    hits = count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "hit"}, by=by, variables=_CLIENT)
    lookups = count(catalog.CACHE_REQUESTS, by=by, variables=_CLIENT)
    return Formula(hits / lookups, alias="hit ratio")


DASHBOARD = Dashboard(
    key="obs.cache",
    title="obs: Caches",
    description="Hit ratio of each in-process cache (obs.init()) and of Redis itself "
    "(obs agent), with evictions and memory.",
    template_variables=(ENV, SERVICE, CACHE),
    widgets=(
        Group(
            "In-process caches",
            (
                QueryValue("Hit ratio", (_hit_ratio(()),), precision=3),
                Timeseries("Hit ratio by cache", (_hit_ratio((attr.CACHE_NAME,)),)),
                Timeseries(
                    "Lookups per second by cache and result",
                    (
                        rate(
                            catalog.CACHE_REQUESTS,
                            by=(attr.CACHE_NAME, attr.CACHE_RESULT),
                            variables=_CLIENT,
                        ),
                    ),
                    display="bars",
                ),
            ),
        ),
        Group(
            "Redis",
            (
                Timeseries(
                    "Keyspace hit ratio",
                    (
                        avg(
                            catalog.REDIS_KEYSPACE_HIT_RATIO,
                            by=(attr.SERVER_ADDRESS,),
                            variables=_SERVER,
                        ),
                    ),
                ),
                Timeseries(
                    "Hits and misses per second",
                    (
                        Formula(rate(catalog.REDIS_KEYSPACE_HITS, variables=_SERVER), alias="hits"),
                        Formula(
                            rate(catalog.REDIS_KEYSPACE_MISSES, variables=_SERVER), alias="misses"
                        ),
                    ),
                ),
                Timeseries(
                    "Evicted and expired keys",
                    (
                        Formula(
                            count(catalog.REDIS_KEYS_EVICTED, variables=_SERVER), alias="evicted"
                        ),
                        Formula(
                            count(catalog.REDIS_KEYS_EXPIRED, variables=_SERVER), alias="expired"
                        ),
                    ),
                    display="bars",
                ),
                Timeseries(
                    "Memory used vs. maxmemory",
                    (
                        Formula(
                            maximum(
                                catalog.REDIS_MEMORY_USED,
                                by=(attr.SERVER_ADDRESS,),
                                variables=_SERVER,
                            ),
                            alias="used",
                        ),
                        Formula(
                            maximum(
                                catalog.REDIS_MAXMEMORY,
                                by=(attr.SERVER_ADDRESS,),
                                variables=_SERVER,
                            ),
                            alias="maxmemory",
                        ),
                    ),
                ),
                Timeseries(
                    "Keys per database",
                    (total(catalog.REDIS_DB_KEYS, by=(attr.REDIS_DB,), variables=_SERVER),),
                ),
                Timeseries(
                    "Connected clients",
                    (maximum(catalog.REDIS_CLIENTS_CONNECTED, variables=_SERVER),),
                ),
            ),
        ),
    ),
)
