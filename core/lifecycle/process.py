"""Starting and stopping obs in a process: the work behind ``obs.init()``,
``obs.status()``, ``obs.flush()`` and ``obs.shutdown()``.

Each feature starts on its own: one that fails (or whose settings are bad) is turned off
with one warning and a reason in ``obs.status()``, and the others carry on. With
``strict=True`` the first problem raises instead.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from obs import catalog
from obs.runtime import state
from obs.runtime.failures import Failures
from obs.runtime.settings import Feature, Problem, Settings, load
from obs.runtime.status import FeatureStatus, Status
from obs.version import __version__

logger = logging.getLogger("obs")


@dataclass
class _Run:
    settings: Settings
    overrides: dict[str, Any]
    problems: tuple[Problem, ...]
    failures: Failures
    features: dict[Feature, FeatureStatus] = field(default_factory=dict)
    providers: Any = None  # obs.lifecycle.providers.Providers, once OpenTelemetry started
    installed: Any = None  # obs.instrumentation.installed.Enabled
    stops: list[Any] = field(default_factory=list)  # undo steps, run in reverse

    def on(self, feature: Feature, detail: str) -> None:
        self.features[feature] = FeatureStatus(feature.value, True, detail)

    def off(self, feature: Feature, reason: str) -> None:
        self.features[feature] = FeatureStatus(feature.value, False, reason)

    def is_off(self, feature: Feature) -> bool:
        found = self.features.get(feature)
        return found is not None and not found.on


_lock = threading.RLock()
_run: _Run | None = None


def init(*, strict: bool, overrides: dict[str, Any]) -> Status:
    global _run
    with _lock:
        if _run is not None:
            if overrides and overrides != _run.overrides:
                logger.warning(
                    "obs: obs.init() already ran in this process; the new keyword arguments "
                    "(%s) are ignored. Call obs.shutdown() first to change settings.",
                    ", ".join(sorted(overrides)),
                )
            return status()
        settings, problems = load(overrides, strict=strict)
        for problem in problems:
            logger.warning("obs: %s", problem)
        run = _Run(settings, dict(overrides), problems, Failures())
        _settle_switches(run)
        try:
            _start(run, strict)
        except BaseException:
            _stop(run, timeout=2.0)  # strict: nothing stays half-started
            raise
        _run = run
        return status()


def _settle_switches(run: _Run) -> None:
    """Turn off what the settings turn off, before anything starts."""
    s = run.settings
    for problem in run.problems:
        for feature in problem.features:
            if not run.is_off(feature):
                run.off(feature, f"invalid setting {problem.setting}")
    if not s.enabled:
        for feature in Feature:
            run.off(feature, "OBS_ENABLED is false")
        return
    switches = [
        (s.sdk_disabled, (Feature.TRACES, Feature.METRICS), "OTEL_SDK_DISABLED is true"),
        (not s.traces, (Feature.TRACES,), "OBS_TRACES is false"),
        (s.traces_exporter == "none", (Feature.TRACES,), "OTEL_TRACES_EXPORTER is none"),
        (not s.metrics, (Feature.METRICS,), "OBS_METRICS is false"),
        (
            "none" in s.metrics_exporter or not s.metrics_exporter,
            (Feature.METRICS,),
            "OTEL_METRICS_EXPORTER is none",
        ),
        (s.sentry_dsn is None, (Feature.SENTRY,), "no SENTRY_DSN set"),
        (not s.mongo, (Feature.PYMONGO,), "OBS_MONGO is false"),
        (not s.redis, (Feature.REDIS,), "OBS_REDIS is false"),
        (not s.cache_prefixes, (Feature.REDIS,), "no OBS_CACHE_PREFIXES set"),
        (not s.jobs, (Feature.JOBS,), "OBS_JOBS is false"),
        (not s.instrumentations, (Feature.INSTRUMENTATIONS,), "OBS_INSTRUMENTATIONS is false"),
    ]
    for condition, features, reason in switches:
        for feature in features:
            if condition and not run.is_off(feature):
                run.off(feature, reason)


def _attempt(run: _Run, feature: Feature, strict: bool, start: Any) -> None:
    """Run one feature's start; a failure turns that feature off (or raises if strict)."""
    if run.is_off(feature):
        return
    try:
        run.on(feature, start())
    except Exception as exc:
        if strict:
            raise
        run.off(feature, f"failed to start: {type(exc).__name__}: {exc}")
        logger.warning(
            "obs: %s did not start (%s); the service continues without it",
            feature.value,
            exc,
            exc_info=True,
        )


def _start(run: _Run, strict: bool) -> None:
    tracer, instruments = _start_opentelemetry(run, strict)
    state.current = state.Active(run.settings, run.failures, instruments, tracer)
    if tracer is None and instruments is None:
        for feature in (Feature.PYMONGO, Feature.JOBS):
            if not run.is_off(feature):
                run.off(feature, "traces and metrics are both off: nothing to record")
    if instruments is None and not run.is_off(Feature.REDIS):
        run.off(Feature.REDIS, "metrics are off: cache hits and misses are metrics")
    _attempt(run, Feature.PYMONGO, strict, lambda: _start_pymongo(run))
    _attempt(run, Feature.REDIS, strict, lambda: _start_redis(run))
    _attempt(run, Feature.JOBS, strict, lambda: _start_jobs(run))
    _attempt(run, Feature.SENTRY, strict, lambda: _start_sentry(run))
    _attempt(
        run,
        Feature.INSTRUMENTATIONS,
        strict,
        lambda: _start_instrumentations(run, tracer is not None, instruments is not None),
    )


def _start_opentelemetry(run: _Run, strict: bool) -> tuple[Any, Any]:
    """Providers, obs's tracer and instruments; (None, None) when both signals are off."""
    if run.is_off(Feature.TRACES) and run.is_off(Feature.METRICS):
        return None, None
    from obs.lifecycle import providers as otel

    providers = otel.Providers()
    run.providers = providers
    try:
        res = otel.make_resource(run.settings)
    except Exception as exc:
        if strict:
            raise
        res = otel.Resource.create({})
        logger.warning("obs: could not build resource attributes: %s", exc)

    def traces() -> str:
        otel.start_traces(run.settings, providers, res)
        return providers.detail("traces")

    def metrics() -> str:
        otel.start_metrics(run.settings, providers, res)
        return providers.detail("metrics")

    _attempt(run, Feature.TRACES, strict, traces)
    _attempt(run, Feature.METRICS, strict, metrics)
    tracer = instruments = None
    if not run.is_off(Feature.TRACES):
        tracer = providers.tracer_provider.get_tracer(otel.SCOPE, __version__)
    if not run.is_off(Feature.METRICS):
        from obs.instrumentation.pymongo import POOL_OBSERVERS
        from obs.runtime.instruments import Instruments

        meter = providers.meter_provider.get_meter(otel.SCOPE, __version__)
        readers = providers.readers
        observers = {**POOL_OBSERVERS, catalog.INSTRUMENTATION_ERRORS: run.failures.observe}
        instruments = Instruments.create(meter, observers, views=len(readers))
        for view, reader in enumerate(readers):
            reader.hot = instruments.hot_metrics(view)
    return tracer, instruments


def _start_pymongo(run: _Run) -> str:
    from obs.instrumentation import pymongo as listener

    listener.install(pool=run.settings.mongo_pool)
    run.stops.append(listener.uninstall)
    listeners = "command and pool listeners" if run.settings.mongo_pool else "command listener"
    return f"{listeners} on clients created from now on"


def _start_redis(run: _Run) -> str:
    from obs.instrumentation import redis as cache_reads

    patched = cache_reads.install(run.settings.cache_prefixes)
    run.stops.append(cache_reads.uninstall)
    if not patched:
        raise RuntimeError("redis-py is not installed")
    names = ", ".join(f"{p}*={n}" for p, n in run.settings.cache_prefixes.items())
    return f"counting cache reads of {names}"


def _start_jobs(run: _Run) -> str:
    from obs.instrumentation import bullmq

    if not bullmq.install():
        return "bullmq not installed; obs.job() measures any other job system"
    run.stops.append(bullmq.uninstall)
    return "bullmq Worker instrumented; obs.job() for other job systems"


def _start_sentry(run: _Run) -> str:
    from obs.lifecycle import sentry as sentry_setup

    detail = sentry_setup.start(run.settings)
    run.stops.append(lambda: sentry_setup.stop(2.0))
    return detail


def _start_instrumentations(run: _Run, traces: bool, metrics: bool) -> str:
    from obs.instrumentation import installed

    providers = run.providers
    enabled = installed.enable(
        run.settings.disabled_instrumentations,
        providers.tracer_provider if providers is not None and traces else None,
        providers.meter_provider if providers is not None and metrics else None,
    )
    run.installed = enabled
    run.stops.append(lambda: installed.disable(enabled))
    return f"enabled: {', '.join(sorted(enabled.instrumentors)) or 'none installed'}"


def status() -> Status:
    with _lock:
        run = _run
        if run is None:
            return Status(False, (), ())
        features = tuple(run.features[f] for f in Feature if f in run.features)
        return Status(True, features, tuple(str(p) for p in run.problems), run.failures.counts())


def flush(timeout: float) -> bool:
    run = _run
    if run is None:
        return True
    ok = True
    if run.providers is not None:
        ok = run.providers.flush(timeout)
    if run.features.get(Feature.SENTRY, FeatureStatus("", False, "")).on:
        from obs.lifecycle import sentry as sentry_setup

        sentry_setup.flush(timeout)
    return ok


def shutdown(timeout: float) -> None:
    global _run
    with _lock:
        run = _run
        if run is None:
            return
        _run = None
        _stop(run, timeout)


def _stop(run: _Run, timeout: float) -> None:
    """Undo what ``run`` started: hooks first, then flush and stop the providers."""
    state.current = None  # every hook goes quiet first
    for stop in reversed(run.stops):
        try:
            stop()
        except Exception as exc:
            logger.warning("obs: error while shutting down: %s", exc)
    if run.providers is not None:
        try:
            run.providers.shutdown(timeout)
        except Exception as exc:
            logger.warning("obs: error while flushing telemetry: %s", exc)
