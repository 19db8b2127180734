"""pymongo: obs's command listener (spans, durations, query smells) and pool gauges and
timings."""

from __future__ import annotations

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature, nothing_to_record
from obs.runtime.settings import Settings


class Pymongo(Feature):
    name = "pymongo"

    def off(self, settings: Settings) -> str | None:
        return None if settings.mongo else "OBS_MONGO is false"

    def missing(self, context: Context) -> str | None:
        return nothing_to_record(context)

    def start(self, context: Context) -> str:
        from obs.instrumentation import pymongo as listener

        settings = context.settings
        running = listener.install(
            pool=settings.mongo_pool, pool_timings=settings.mongo_pool_timings
        )
        return f"{running} on clients created from now on"

    def stop(self, deadline: Deadline) -> bool:
        from obs.instrumentation import pymongo as listener

        listener.uninstall()
        return True
