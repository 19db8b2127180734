"""Deadlines: the moment a whole flush or shutdown must be over by, shared by its steps, so
that ``obs.flush(1.0)`` means one second for everything rather than one per step.

:func:`call_within` runs a step that may block past the deadline (an SDK flush waiting on
an export to an unreachable collector) on a daemon thread and stops waiting for it at the
deadline; the step carries on in the background and cannot hold the process up.

Example:
    >>> deadline = Deadline.after(2.0)
    >>> 1.9 < deadline.remaining() <= 2.0, deadline.passed
    (True, False)
    >>> call_within(deadline, lambda: 42)
    42
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(0.0, seconds))

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def millis(self) -> float:
        return self.remaining() * 1000


def call_within(deadline: Deadline, work: Callable[[], T], name: str = "obs-deadline") -> T:
    """``work()``'s result (or exception) if it ends by ``deadline``, else ``TimeoutError``
    while ``work`` carries on in a daemon thread."""
    outcome: list[T] = []
    failure: list[BaseException] = []
    abandoned = threading.Event()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the caller, or logged if it left
            failure.append(exc)
            if abandoned.is_set():
                logging.getLogger("obs").warning("obs: %s failed after its deadline: %s", name, exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(deadline.remaining())
    if thread.is_alive():
        abandoned.set()
        raise TimeoutError(f"{name} did not finish in time")
    if failure:
        raise failure[0]
    return outcome[0]
