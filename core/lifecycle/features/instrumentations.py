"""Installed instrumentations: the OpenTelemetry instrumentations in the environment,
enabled with obs's providers (:mod:`obs.instrumentation.installed`)."""

from __future__ import annotations

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature
from obs.runtime.settings import Settings


class Instrumentations(Feature):
    name = "instrumentations"

    def off(self, settings: Settings) -> str | None:
        return None if settings.instrumentations else "OBS_INSTRUMENTATIONS is false"

    def start(self, context: Context) -> str:
        from obs.instrumentation import installed

        self.enabled = installed.enable(
            context.settings.disabled_instrumentations,
            context.tracer_provider,
            context.meter_provider,
        )
        return f"enabled: {', '.join(sorted(self.enabled.instrumentors)) or 'none installed'}"

    def stop(self, deadline: Deadline) -> bool:
        from obs.instrumentation import installed

        installed.disable(self.enabled)
        return True
