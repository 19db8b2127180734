"""The demo's live summary line, computed by the preview from the same typed queries the
dashboards use: p95 Mongo latency, the deepest queue, the cache hit ratio, and the SLO
burning its error budget fastest.

Example:
    >>> line = describe({"latency": 0.0042, "queue": ("exports", 37.0), "hit_ratio": 0.91,
    ...                  "redis_hit_ratio": 0.88, "burning": ("obs.jobs.success", 8.25)})
    >>> for part in line.split(" | "):
    ...     print(part)
    p95 Mongo latency 4.2 ms
    deepest queue exports: 37 waiting
    cache hits 91% (Redis 88%)
    SLO obs.jobs.success burning 8.2x
"""

from __future__ import annotations

from typing import Any

from obs import catalog
from obs.catalog import attr
from obs.metric_query.tree import count, maximum, p95

P95_LATENCY = p95(catalog.DB_CLIENT_OPERATION_DURATION)
WAITING = maximum(
    catalog.BULLMQ_QUEUE_JOBS, where={attr.QUEUE_STATE: "wait"}, by=(attr.QUEUE_NAME,)
)
HITS = count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "hit"})
LOOKUPS = count(catalog.CACHE_REQUESTS)
REDIS_RATIO = maximum(catalog.REDIS_KEYSPACE_HIT_RATIO)


def start_preview(sources: list[str], port: int) -> Any:
    """The shipped dashboards and SLOs, scraped from ``sources`` every 5 s, served on
    ``port``."""
    from obs.dashboards.shipped import DASHBOARDS
    from obs.preview.app import Preview
    from obs.slos.shipped import SLOS

    return Preview(DASHBOARDS, sources, interval=5.0, port=port, slos=SLOS).start()


def figures(preview: Any) -> dict[str, Any]:
    """The summary's numbers over the preview's window (None where nothing arrived yet)."""
    from obs.preview.model import Evaluation, frame_of
    from obs.preview.slo import slo_status

    evaluation = Evaluation(preview.store, frame_of(preview.store.rounds()))

    def one(query: Any, how: str) -> float | None:
        values = [v[0] for v in evaluation.scalar(query, how).values() if v and v[0] is not None]
        return max(values) if values else None

    waiting = {
        dict(key).get(attr.QUEUE_NAME, "?"): values[0]
        for key, values in evaluation.scalar(WAITING, "last").items()
        if values and values[0] is not None
    }
    hits, lookups = one(HITS, "sum"), one(LOOKUPS, "sum")
    statuses = [slo_status(slo, preview.store, None) for slo in preview.slos]
    burning = [(s.key, s.burn_rate) for s in statuses if s.burning and s.burn_rate is not None]
    return {
        "burning": max(burning, key=lambda item: item[1]) if burning else None,
        "latency": one(P95_LATENCY, "percentile"),
        "queue": max(waiting.items(), key=lambda item: item[1]) if waiting else None,
        "hit_ratio": hits / lookups if hits is not None and lookups else None,
        "redis_hit_ratio": one(REDIS_RATIO, "last"),
    }


def describe(numbers: dict[str, Any]) -> str:
    """One line for people."""
    latency = numbers["latency"]
    parts = [
        f"p95 Mongo latency {latency * 1000:.1f} ms"
        if latency is not None
        else "p95 Mongo latency: waiting for data"
    ]
    queue = numbers["queue"]
    parts.append(
        f"deepest queue {queue[0]}: {queue[1]:.0f} waiting"
        if queue
        else "queues: waiting for the agent"
    )
    ratio, redis_ratio = numbers["hit_ratio"], numbers["redis_hit_ratio"]
    cache = f"cache hits {ratio:.0%}" if ratio is not None else "cache hits: waiting for data"
    if redis_ratio is not None:
        cache += f" (Redis {redis_ratio:.0%})"
    parts.append(cache)
    burning = numbers.get("burning")
    parts.append(f"SLO {burning[0]} burning {burning[1]:.1f}x" if burning else "SLOs: none burning")
    return " | ".join(parts)


def line(preview: Any) -> str:
    """The summary line, now."""
    return describe(figures(preview))
