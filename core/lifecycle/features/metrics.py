"""Metrics: obs's meter provider exporting OTLP and/or serving /metrics (or the
application's own provider), and obs's instruments on it."""

from __future__ import annotations

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature
from obs.runtime.settings import Settings


class Metrics(Feature):
    name = "metrics"

    def off(self, settings: Settings) -> str | None:
        if settings.sdk_disabled:
            return "OTEL_SDK_DISABLED is true"
        if not settings.metrics:
            return "OBS_METRICS is false"
        if "none" in settings.metrics_exporter or not settings.metrics_exporter:
            return "OTEL_METRICS_EXPORTER is none"
        return None

    def start(self, context: Context) -> str:
        from obs import catalog
        from obs.instrumentation.pymongo_pool import POOL_OBSERVERS
        from obs.lifecycle import providers
        from obs.runtime.instruments import Instruments
        from obs.version import __version__

        self.setup = providers.start_metrics(context.settings, context.resource())
        try:
            meter = self.setup.provider.get_meter(providers.SCOPE, __version__)
            readers = self.setup.readers
            observers = {
                **POOL_OBSERVERS,
                catalog.INSTRUMENTATION_ERRORS: context.failures.observe,
            }
            instruments = Instruments.create(meter, observers, views=len(readers))
            for view, reader in enumerate(readers):
                reader.hot = instruments.hot_metrics(view)
        except Exception:
            self.setup.stop(Deadline.after(1.0))
            raise
        context.meter_provider = self.setup.provider
        context.instruments = instruments
        return self.setup.detail()

    def flush(self, deadline: Deadline) -> bool:
        return self.setup.flush(deadline)

    def stop(self, deadline: Deadline) -> bool:
        return self.setup.stop(deadline)
