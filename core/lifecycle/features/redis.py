"""Redis: reads of cache keys (``OBS_CACHE_PREFIXES``) counted as hits and misses."""

from __future__ import annotations

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature
from obs.runtime.settings import Settings


class Redis(Feature):
    name = "redis"

    def off(self, settings: Settings) -> str | None:
        if not settings.redis:
            return "OBS_REDIS is false"
        if not settings.cache_prefixes:
            return "no OBS_CACHE_PREFIXES set"
        return None

    def missing(self, context: Context) -> str | None:
        if context.instruments is None:
            return "metrics are off: cache hits and misses are metrics"
        return None

    def start(self, context: Context) -> str:
        from obs.instrumentation import redis as cache_reads

        prefixes = context.settings.cache_prefixes
        if not cache_reads.install(prefixes):
            cache_reads.uninstall()
            raise RuntimeError("redis-py is not installed")
        names = ", ".join(f"{p}*={n}" for p, n in prefixes.items())
        return f"counting cache reads of {names}"

    def stop(self, deadline: Deadline) -> bool:
        from obs.instrumentation import redis as cache_reads

        cache_reads.uninstall()
        return True
