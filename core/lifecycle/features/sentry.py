"""Sentry: error capture with scrubbed events linked to traces (:mod:`obs.lifecycle.sentry`)."""

from __future__ import annotations

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature
from obs.runtime.settings import Settings


class Sentry(Feature):
    name = "sentry"

    def off(self, settings: Settings) -> str | None:
        return "no SENTRY_DSN set" if settings.sentry_dsn is None else None

    def start(self, context: Context) -> str:
        from obs.lifecycle import sentry

        return sentry.start(context.settings)

    def flush(self, deadline: Deadline) -> bool:
        from obs.lifecycle import sentry

        sentry.flush(deadline.remaining())
        return True

    def stop(self, deadline: Deadline) -> bool:
        from obs.lifecycle import sentry

        sentry.stop(min(2.0, deadline.remaining()))
        return True
