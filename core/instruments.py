"""The OpenTelemetry instruments of obs's in-process metrics, built from the catalog.

Nothing else in the instrumentation creates instruments, so everything recorded in-process
is a catalog entry (tests/test_catalog.py checks what actually arrives at a receiver).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from obs import catalog
from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
    Histogram,
    Meter,
    Observation,
)

Callback = Callable[[CallbackOptions], Iterable[Observation]]


@dataclass(frozen=True, slots=True)
class Instruments:
    """Every in-process instrument; pool gauges are observed from the pool listener."""

    db_operation_duration: Histogram
    db_connection_wait_time: Histogram
    db_connection_create_time: Histogram
    db_connection_timeouts: Counter
    query_smells: Counter
    cache_requests: Counter
    job_duration: Histogram
    job_wait_time: Histogram
    job_attempts: Histogram
    errors: Counter

    @classmethod
    def create(cls, meter: Meter, pool_observers: Mapping[catalog.Metric, Callback]) -> Instruments:
        """Create the instruments on ``meter``; ``pool_observers`` feeds the pool gauges."""
        for metric, callback in pool_observers.items():
            metric.create_observable(meter, callback)
        return cls(
            db_operation_duration=catalog.DB_CLIENT_OPERATION_DURATION.create_histogram(meter),
            db_connection_wait_time=catalog.DB_CLIENT_CONNECTION_WAIT_TIME.create_histogram(meter),
            db_connection_create_time=catalog.DB_CLIENT_CONNECTION_CREATE_TIME.create_histogram(
                meter
            ),
            db_connection_timeouts=catalog.DB_CLIENT_CONNECTION_TIMEOUTS.create_counter(meter),
            query_smells=catalog.MONGO_QUERY_SMELLS.create_counter(meter),
            cache_requests=catalog.CACHE_REQUESTS.create_counter(meter),
            job_duration=catalog.MESSAGING_PROCESS_DURATION.create_histogram(meter),
            job_wait_time=catalog.JOB_WAIT_TIME.create_histogram(meter),
            job_attempts=catalog.JOB_ATTEMPTS.create_histogram(meter),
            errors=catalog.INSTRUMENTATION_ERRORS.create_counter(meter),
        )
