"""Running collectors: each (collector, target) pair on its own thread and interval.

A failing pair costs only itself: its readings are withdrawn, ``obs.agent.up`` of its
target drops to 0 when the target cannot be reached, its retries back off exponentially
(up to ``backoff_max``), and it logs once when it starts failing and once when it
recovers, not on every attempt. Nothing a target does can raise out of a job.

Example:
    >>> backoff(15, 0, 300), backoff(15, 1, 300), backoff(15, 3, 300), backoff(15, 9, 300)
    (15, 15, 60.0, 300)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from obs import catalog
from obs.agent.config import Collector, Schedule
from obs.agent.faults import unreachable
from obs.agent.points import Collected, Point
from obs.agent.store import Store
from obs.catalog import attr
from obs.privacy.scrub import exception_message

log = logging.getLogger("obs.agent")
STATUS_JOB = "agent:status"


# Doubling stops here: 2**62 intervals is past any cap, and a target down for days (more
# than 1,024 failures) must not overflow the float that the wait is.
_MAX_DOUBLINGS = 62


def backoff(interval: float, failures: int, cap: float) -> float:
    """Seconds until the next attempt after ``failures`` consecutive failures."""
    if failures <= 1:
        return interval
    return min(interval * 2.0 ** min(failures - 1, _MAX_DOUBLINGS), max(cap, interval))


@dataclass(frozen=True)
class Job:
    """One collector for one target."""

    collector: Collector
    target: str  # the target's label ("" for the agent itself)
    target_type: str | None  # "mongodb" or "redis"; None when not a watched server
    collect: Callable[[], Collected]
    schedule: Schedule
    scrub: Callable[[str], str] = field(default=str)  # masks the target's secrets

    @property
    def key(self) -> str:
        return f"{self.collector.value}@{self.target}"


@dataclass
class JobState:
    attempts: int = 0
    successes: int = 0
    errors: int = 0
    failing_for: int = 0  # consecutive failures
    unreachable: bool = False
    internal_errors: int = 0  # failures of the agent's own code around a collection


class Runner:
    """Runs jobs, keeps their readings in ``store`` and hands observations to ``observe``."""

    def __init__(
        self,
        jobs: Sequence[Job],
        store: Store,
        observe: Callable[[Iterable[Point]], None],
        backoff_max: float = 300.0,
    ) -> None:
        self.jobs = list(jobs)
        self.store = store
        self.observe = observe
        self.backoff_max = backoff_max
        self.states = {job.key: JobState() for job in self.jobs}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- one attempt ----------------------------------------------------------------

    def run_once(self, job: Job) -> str | None:
        """Collect ``job`` once; returns the (scrubbed) error, or None."""
        started = time.perf_counter()
        error: str | None = None
        cut_off = False
        try:
            collected = job.collect()
        except Exception as exc:  # any failure of a target is contained here
            error = job.scrub(f"{type(exc).__name__}: {exception_message(exc)}")
            cut_off = unreachable(exc)
            self.store.clear(job.key)
        else:
            self.store.replace(job.key, collected.readings)
            self.observe(collected.observations)
        duration = time.perf_counter() - started
        labels = {attr.COLLECTOR: job.collector.value, attr.TARGET: job.target}
        self.observe([Point.of(catalog.AGENT_COLLECTION_DURATION, duration, labels)])
        with self._lock:
            state = self.states[job.key]
            state.attempts += 1
            if error is None:
                if state.failing_for:
                    log.info(
                        "%s of %s recovered after %d failed attempt(s)",
                        job.collector.value,
                        job.target or "the agent",
                        state.failing_for,
                    )
                state.successes += 1
                state.failing_for = 0
                state.unreachable = False
            else:
                state.errors += 1
                state.failing_for += 1
                state.unreachable = cut_off
                if state.failing_for == 1:
                    log.warning(
                        "%s of %s failed: %s (retrying with backoff)",
                        job.collector.value,
                        job.target or "the agent",
                        error,
                    )
            self.store.replace(STATUS_JOB, self._status_points())
        return error

    def _status_points(self) -> list[Point]:
        points = []
        targets: dict[tuple[str, str], list[JobState]] = {}
        for job in self.jobs:
            state = self.states[job.key]
            labels = {attr.COLLECTOR: job.collector.value, attr.TARGET: job.target}
            points.append(Point.of(catalog.AGENT_COLLECTION_ERRORS, state.errors, labels))
            if job.target_type is not None and state.attempts:
                targets.setdefault((job.target_type, job.target), []).append(state)
        for (target_type, target), states in targets.items():
            up = not any(s.unreachable for s in states)
            labels = {attr.TARGET_TYPE: target_type, attr.TARGET: target}
            points.append(Point.of(catalog.AGENT_UP, int(up), labels))
        return points

    # --- readiness --------------------------------------------------------------------

    def not_ready(self) -> list[str]:
        """Targets with no successful collection yet (empty: ready)."""
        with self._lock:
            done: dict[str, bool] = {}
            for job in self.jobs:
                if job.target_type is not None:
                    succeeded = self.states[job.key].successes > 0
                    done[job.target] = done.get(job.target, False) or succeeded
        return sorted(target for target, ok in done.items() if not ok)

    # --- scheduling -------------------------------------------------------------------

    def _loop(self, job: Job) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            started = time.monotonic()
            try:
                self.run_once(job)
                failures = self.states[job.key].failing_for
                wait = backoff(job.schedule.interval, failures, self.backoff_max)
            except BaseException as exc:  # the agent's own failure: the schedule goes on
                self._internal_failure(job, exc)
                wait = job.schedule.interval
            delay = max(0.0, wait - (time.monotonic() - started))

    def _internal_failure(self, job: Job, exc: BaseException) -> None:
        """Count a failure of the agent's own code around a collection; log the first."""
        try:
            with self._lock:
                state = self.states[job.key]
                state.errors += 1
                state.internal_errors += 1
                first = state.internal_errors == 1
            if first:
                log.error(
                    "%s of %s: the agent failed around a collection (%s); counted in "
                    "obs.agent.collection.errors, collecting goes on",
                    job.collector.value,
                    job.target or "the agent",
                    job.scrub(f"{type(exc).__name__}: {exception_message(exc)}"),
                )
            with self._lock:
                self.store.replace(STATUS_JOB, self._status_points())
        except Exception:
            pass  # counting must not be what stops the thread

    def dead(self) -> list[str]:
        """Jobs whose thread has ended while the runner runs (empty: every one alive)."""
        if self._stop.is_set():
            return []
        return sorted(t.name for t in self._threads if not t.is_alive())

    def start(self) -> None:
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=job.key, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def run_all_once(self) -> dict[str, str]:
        """Every job once, concurrently; the errors by job key."""
        errors: dict[str, str] = {}

        def attempt(job: Job) -> None:
            error = self.run_once(job)
            if error is not None:
                errors[job.key] = error

        threads = [threading.Thread(target=attempt, args=(job,)) for job in self.jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return errors
