"""``obs.job``: measure one run of a queued job, for any job system.

Records ``messaging.process.duration`` (with the outcome and, on failure, ``error.type``),
``obs.job.wait_time`` (start minus enqueue time, when known) and ``obs.job.attempts``, and
opens a consumer span while tracing is on. Works as a context manager, an async context
manager and a decorator of sync or async functions. The Python ``bullmq`` Worker is
instrumented automatically (:mod:`obs.instrumentation.bullmq`).

Example:
    >>> import obs
    >>> with obs.job("exports", system="celery", enqueued_at=0.0, attempt=1):
    ...     pass
    >>> @obs.job("emails")
    ... def send(message: str) -> str:
    ...     return message
    >>> send("hi")
    'hi'
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from obs.catalog import attr
from obs.privacy.span_exceptions import record_exception
from obs.runtime import state

if TYPE_CHECKING:
    from obs.runtime.instruments import Instruments

P = ParamSpec("P")
R = TypeVar("R")

EnqueuedAt = float | datetime | None  # epoch seconds, or an aware datetime

# Required by the messaging semantic conventions on process spans and durations.
_PROCESS = {attr.MESSAGING_OPERATION_NAME: "process"}


class job:
    """One job run on ``queue`` (see the module docstring)."""

    __slots__ = ("_attempt", "_enqueued_at", "_queue", "_span", "_started", "_system", "_token")

    def __init__(
        self,
        queue: str,
        *,
        system: str = "custom",
        enqueued_at: EnqueuedAt = None,
        attempt: int = 1,
    ) -> None:
        self._queue = queue
        self._system = system
        self._enqueued_at = enqueued_at
        self._attempt = attempt
        self._started = 0.0
        self._span: Any = None
        self._token: Any = None

    # -- context manager ----------------------------------------------------------------

    def __enter__(self) -> job:
        self._started = time.perf_counter()
        active = state.current
        if active is None:
            return self
        try:
            self._record_wait(active)
            if active.tracer is not None:
                from opentelemetry import context, trace

                self._span = active.tracer.start_span(
                    f"process {self._queue}",
                    kind=trace.SpanKind.CONSUMER,
                    attributes={**self._base_attributes(), **_PROCESS},
                )
                # The job's own Mongo and Redis calls become children of its span.
                self._token = context.attach(trace.set_span_in_context(self._span))
        except Exception as exc:
            active.failures.record("jobs", exc)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        active = state.current
        try:
            if active is not None and active.instruments is not None:
                self._record_outcome(active.instruments, elapsed, exc)
            self._end_span(exc)
        except Exception as failure:
            if active is not None:
                active.failures.record("jobs", failure)

    async def __aenter__(self) -> job:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ----------------------------------------------------------------------

    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Measure every call of ``func`` as one run (a fresh run per call)."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self._fresh():
                    return await func(*args, **kwargs)

            return run_async

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return run

    def _fresh(self) -> job:
        return job(
            self._queue, system=self._system, enqueued_at=self._enqueued_at, attempt=self._attempt
        )

    # -- recording ----------------------------------------------------------------------

    def _base_attributes(self) -> dict[str, str]:
        return {attr.MESSAGING_SYSTEM: self._system, attr.MESSAGING_DESTINATION_NAME: self._queue}

    def _record_wait(self, active: state.Active) -> None:
        if self._enqueued_at is None or active.instruments is None:
            return
        enqueued = self._enqueued_at
        if isinstance(enqueued, datetime):
            enqueued = enqueued.timestamp()
        waited = max(0.0, time.time() - enqueued)
        key = (self._system, self._queue)
        active.instruments.job_wait_time.bound(key, self._base_attributes).record(waited)

    def _record_outcome(
        self, instruments: Instruments, elapsed: float, exc: BaseException | None
    ) -> None:
        outcome = "failed" if exc is not None else "completed"
        error = type(exc).__qualname__ if exc is not None else ""
        key = (self._system, self._queue, outcome)
        instruments.job_attempts.bound(key, self._outcome_attributes, outcome, "").record(
            self._attempt
        )
        instruments.job_duration.bound(
            (*key, error), self._duration_attributes, outcome, error
        ).record(elapsed)

    def _outcome_attributes(self, outcome: str, error: str) -> dict[str, str]:
        attributes = self._base_attributes()
        attributes[attr.JOB_OUTCOME] = outcome
        if error:
            attributes[attr.ERROR_TYPE] = error
        return attributes

    def _duration_attributes(self, outcome: str, error: str) -> dict[str, str]:
        return {**self._outcome_attributes(outcome, error), **_PROCESS}

    def _end_span(self, exc: BaseException | None) -> None:
        if self._span is None:
            return
        from opentelemetry import context, trace

        if self._token is not None:
            context.detach(self._token)
        if exc is not None:
            active = state.current
            detail = active.settings.exception_detail if active is not None else "type"
            record_exception(self._span, exc, detail)
            self._span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__qualname__))
        self._span.end()
