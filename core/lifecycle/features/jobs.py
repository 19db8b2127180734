"""Jobs: the Python ``bullmq`` Worker instrumented when installed (``obs.job()`` measures
any other job system)."""

from __future__ import annotations

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature, nothing_to_record
from obs.runtime.settings import Settings


class Jobs(Feature):
    name = "jobs"

    def off(self, settings: Settings) -> str | None:
        return None if settings.jobs else "OBS_JOBS is false"

    def missing(self, context: Context) -> str | None:
        return nothing_to_record(context)

    def start(self, context: Context) -> str:
        from obs.instrumentation import bullmq

        self.installed = bullmq.install()
        if not self.installed:
            return "bullmq not installed; obs.job() measures any other job system"
        return "bullmq Worker instrumented; obs.job() for other job systems"

    def stop(self, deadline: Deadline) -> bool:
        from obs.instrumentation import bullmq

        if self.installed:
            bullmq.uninstall()
        return True
