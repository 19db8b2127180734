"""The instruments of obs's in-process metrics, built from the catalog.

Histograms and counters recorded on request threads are hot-path families
(:mod:`obs.runtime.hot_metrics`), exported by obs's own metric reader; when the application owns
the MeterProvider they record through SDK instruments instead. Pool gauges are observed
at export time. Nothing else in the instrumentation creates instruments, so everything
recorded in-process is a catalog entry (tests/test_catalog.py checks what arrives).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from obs import catalog
from obs.runtime.hot_metrics import Family, HotMetrics, SdkFamily

Callback = Callable[[CallbackOptions], Iterable[Observation]]
Families = Family | SdkFamily


@dataclass(frozen=True, slots=True)
class Instruments:
    """Every in-process metric family."""

    db_operation_duration: Families
    db_connection_wait_time: Families
    db_connection_create_time: Families
    db_connection_timeouts: Families
    query_smells: Families
    cache_requests: Families
    job_duration: Families
    job_wait_time: Families
    job_attempts: Families

    @classmethod
    def create(
        cls, meter: Meter, observers: Mapping[catalog.Metric, Callback], *, views: int
    ) -> Instruments:
        """Families on ``meter``: hot-path cells with one view per obs reader (``views``),
        or SDK instruments when the application's provider has no obs reader (0).
        ``observers`` feed the metrics read at export time (pool gauges, swallowed
        failures)."""
        for metric, callback in observers.items():
            metric.create_observable(meter, callback)

        def family(metric: catalog.Metric) -> Families:
            return Family(metric, views) if views else SdkFamily(metric, meter)

        return cls(
            db_operation_duration=family(catalog.DB_CLIENT_OPERATION_DURATION),
            db_connection_wait_time=family(catalog.DB_CLIENT_CONNECTION_WAIT_TIME),
            db_connection_create_time=family(catalog.DB_CLIENT_CONNECTION_CREATE_TIME),
            db_connection_timeouts=family(catalog.DB_CLIENT_CONNECTION_TIMEOUTS),
            query_smells=family(catalog.MONGO_QUERY_SMELLS),
            cache_requests=family(catalog.CACHE_REQUESTS),
            job_duration=family(catalog.MESSAGING_PROCESS_DURATION),
            job_wait_time=family(catalog.JOB_WAIT_TIME),
            job_attempts=family(catalog.JOB_ATTEMPTS),
        )

    def hot_metrics(self, view: int) -> HotMetrics:
        """What obs's ``view``-th reader exports (nothing with SDK instruments)."""
        found = (getattr(self, f.name) for f in fields(self))
        return HotMetrics((f for f in found if isinstance(f, Family)), view)
