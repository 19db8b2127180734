"""pymongo: obs's command listener (spans, durations, query smells) and pool listener."""

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

        pool = context.settings.mongo_pool
        listener.install(pool=pool)
        listeners = "command and pool listeners" if pool else "command listener"
        return f"{listeners} on clients created from now on"

    def stop(self, deadline: Deadline) -> bool:
        from obs.instrumentation import pymongo as listener

        listener.uninstall()
        return True
