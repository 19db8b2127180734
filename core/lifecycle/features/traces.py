"""Traces: obs's tracer provider exporting OTLP (or the application's own provider), and
obs's tracer on it."""

from __future__ import annotations

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature
from obs.runtime.settings import Settings


class Traces(Feature):
    name = "traces"

    def off(self, settings: Settings) -> str | None:
        if settings.sdk_disabled:
            return "OTEL_SDK_DISABLED is true"
        if not settings.traces:
            return "OBS_TRACES is false"
        if settings.traces_exporter == "none":
            return "OTEL_TRACES_EXPORTER is none"
        return None

    def start(self, context: Context) -> str:
        from obs.lifecycle import providers
        from obs.runtime.leaf_spans import LeafTracer
        from obs.version import __version__

        self.setup = providers.start_traces(context.settings, context.resource())
        context.tracer_provider = self.setup.provider
        context.tracer = LeafTracer(
            self.setup.provider, providers.SCOPE, __version__, self.setup.processor
        )
        return self.setup.detail()

    def flush(self, deadline: Deadline) -> bool:
        return self.setup.flush(deadline)

    def stop(self, deadline: Deadline) -> bool:
        return self.setup.stop(deadline)
