"""OTLP exports that keep the promises of ``obs.flush(timeout)``, ``obs.shutdown(timeout)``
and interpreter exit: each finishes within its timeout and says whether anything was lost.

The SDK's batch span processor and periodic metric reader flush by exporting on the
caller's thread, each export with the exporter's own timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``,
10 s) and retries, and report success regardless; against an unreachable collector one
``flush(1.0)`` took 15-20 s and returned True. So obs wraps the SDK's OTLP exporter:

- while a flush or shutdown is under way, every export (on any thread) gets at most the
  time left to its deadline, and none starts once it has passed (those batches are dropped
  and counted, as the SDK drops a batch whose export failed);
- the flush or shutdown itself runs on a helper thread (:func:`obs.export.deadline.call_within`)
  that the caller stops waiting for at the deadline, since an export already under way
  when it began cannot be shortened; a shutdown that ran out of time then closes the
  exporter, which cancels a gRPC export under way;
- a flush reports False when an export failed or was dropped meanwhile, or time ran out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from math import inf
from typing import Any, TypeVar

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from obs.export.deadline import Deadline, call_within
from obs.internals import InternalsChanged, otel_sdk, warn_once

T = TypeVar("T")
_SHORTEST = 0.001  # seconds: an export given less than this is not started


class _Bound:
    """What the wrapped exporters share: the SDK exporter, the deadlines under way, and
    the count of exports that failed or were dropped."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failures = 0
        self._deadlines: list[Deadline] = []  # appended and removed whole: no lock needed
        self._closed = threading.Lock()
        try:
            self.configured: float | None = otel_sdk.export_timeout(inner)
        except InternalsChanged as exc:
            warn_once(exc, "exports keep the exporter's own timeout during a flush")
            self.configured = None

    @contextmanager
    def until(self, deadline: Deadline) -> Iterator[None]:
        """Bound every export that starts meanwhile by ``deadline``."""
        self._deadlines.append(deadline)
        try:
            yield
        finally:
            self._deadlines.remove(deadline)

    def send(self, export: Callable[[], T], success: T, failure: T, limit: float = inf) -> T:
        """``export()``, given at most the time left to the nearest deadline (and ``limit``
        seconds); one that failed, or was not started for lack of time, is counted."""
        seconds = min([limit, *(d.remaining() for d in list(self._deadlines))])
        if seconds < _SHORTEST:
            self.failures += 1
            return failure
        if self.configured is not None:
            otel_sdk.set_export_timeout(self.inner, min(self.configured, seconds))
        result = export()
        if result is not success:
            self.failures += 1
        return result

    def close(self, **kwargs: Any) -> None:
        """Shut the SDK exporter down, once (a gRPC export under way is cancelled)."""
        if self._closed.acquire(blocking=False):
            self.inner.shutdown(**kwargs)


class BoundedSpanExporter(SpanExporter):
    """An SDK span exporter whose exports keep the deadlines under way."""

    def __init__(self, inner: SpanExporter) -> None:
        self.bound = _Bound(inner)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.bound.send(
            lambda: self.bound.inner.export(spans),
            SpanExportResult.SUCCESS,
            SpanExportResult.FAILURE,
        )

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.bound.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class BoundedMetricExporter(MetricExporter):
    """An SDK metric exporter whose exports keep the deadlines under way and the timeout
    the reader gives them."""

    def __init__(self, inner: MetricExporter) -> None:
        temporality, aggregation = otel_sdk.metric_preferences(inner)
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self.bound = _Bound(inner)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return self.bound.send(
            lambda: self.bound.inner.export(metrics_data, timeout_millis=timeout_millis),
            MetricExportResult.SUCCESS,
            MetricExportResult.FAILURE,
            limit=timeout_millis / 1000,
        )

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.bound.close(timeout_millis=timeout_millis)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True


def flush(provider: Any, bound: _Bound | None, deadline: Deadline) -> bool:
    """Flush an SDK provider by ``deadline``: True when everything recorded was exported.
    ``bound`` is obs's exporter of that provider (None: the application's provider)."""
    failures = bound.failures if bound is not None else 0

    def work() -> bool:
        with bound.until(deadline) if bound is not None else nullcontext():
            return bool(provider.force_flush(deadline.millis()))

    try:
        flushed = call_within(deadline, work, "obs-flush")
    except Exception:  # out of time, or a reader failed to collect
        return False
    return flushed and (bound is None or bound.failures == failures)


def shutdown(stop: Callable[[], object], bound: _Bound | None, deadline: Deadline) -> bool:
    """Stop a provider obs made (``stop()``) by ``deadline``: True when everything recorded
    was exported. Out of time, its exporter is closed, which ends a gRPC export under way."""
    failures = bound.failures if bound is not None else 0

    def work() -> None:
        with bound.until(deadline) if bound is not None else nullcontext():
            stop()

    try:
        call_within(deadline, work, "obs-shutdown")
    except TimeoutError:
        if bound is not None:
            bound.close()
        return False
    return bound is None or bound.failures == failures
