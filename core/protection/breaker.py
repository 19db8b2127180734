"""A circuit breaker over sliding windows of call outcomes and pool saturation.

Closed, it counts what each sampling window of the guard saw (calls, failures, whether the
Mongo pool was saturated) over the last ``window`` seconds, and opens when at least
``min_calls`` calls failed in ``error_ratio`` or more of them, or when the pool was saturated
in at least half of the sampling windows (three at least). Open, it rejects every call for
``open_seconds``, then half-opens: ``probes`` calls go through at a time; as many successes
close it, one failure opens it again.

The breaker keeps no clock and no lock: the guard passes ``now`` and serialises the calls.

Example:
    >>> b = Breaker(error_ratio=0.5, window=10.0, min_calls=4, open_seconds=5.0, probes=1)
    >>> b.record(now=1.0, calls=4, failures=3, saturated=False)
    'open'
    >>> b.allow(now=2.0), b.allow(now=6.5)
    (False, True)
    >>> b.state
    'half_open'
    >>> b.probe_done(now=6.6, failed=False)
    'closed'
"""

from __future__ import annotations

from collections import deque

CLOSED = "closed"
HALF_OPEN = "half_open"
OPEN = "open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}  # obs.guard.breaker.state
_MIN_SATURATED = 3  # sampling windows: one busy moment is not saturation


class Breaker:
    """One guard's breaker; every method returns the state it moved to, or None."""

    __slots__ = (
        "_calls",
        "_failures",
        "_probes_ok",
        "_samples",
        "_saturated",
        "error_ratio",
        "min_calls",
        "open_seconds",
        "open_until",
        "opened_by",
        "probes",
        "probing",
        "state",
        "window",
    )

    def __init__(
        self,
        *,
        error_ratio: float,
        window: float,
        min_calls: int,
        open_seconds: float,
        probes: int,
    ) -> None:
        self.error_ratio = error_ratio
        self.window = window
        self.min_calls = min_calls
        self.open_seconds = open_seconds
        self.probes = probes
        self.state = CLOSED
        self.opened_by = ""  # "errors" or "saturation": why it last opened
        self.open_until = 0.0
        self.probing = 0  # probes in flight while half-open
        self._probes_ok = 0
        self._samples: deque[tuple[float, int, int, bool]] = deque()
        self._calls = 0
        self._failures = 0
        self._saturated = 0

    def record(self, now: float, calls: int, failures: int, saturated: bool) -> str | None:
        """Add one sampling window's outcomes (ignored unless closed: while half-open only
        the probes count)."""
        if self.state != CLOSED:
            return None
        samples = self._samples
        samples.append((now, calls, failures, saturated))
        self._calls += calls
        self._failures += failures
        self._saturated += saturated
        while samples and samples[0][0] <= now - self.window:
            _, old_calls, old_failures, old_saturated = samples.popleft()
            self._calls -= old_calls
            self._failures -= old_failures
            self._saturated -= old_saturated
        if self._calls >= self.min_calls and self._failures >= self.error_ratio * self._calls:
            return self._open(now, "errors")
        if self._saturated >= _MIN_SATURATED and 2 * self._saturated >= len(samples):
            return self._open(now, "saturation")
        return None

    def allow(self, now: float) -> bool:
        """Whether a call may go through an open or half-open breaker (a True while
        half-open makes the call a probe: report it with :meth:`probe_done` or
        :meth:`probe_cancelled`)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now < self.open_until:
                return False
            self.state = HALF_OPEN
            self._probes_ok = 0
            self.probing = 0
        if self.probing >= self.probes:
            return False
        self.probing += 1
        return True

    def probe_done(self, now: float, failed: bool) -> str | None:
        """A probe finished."""
        if self.state != HALF_OPEN:
            return None
        self.probing = max(0, self.probing - 1)
        if failed:
            return self._open(now, self.opened_by or "errors")
        self._probes_ok += 1
        if self._probes_ok < self.probes:
            return None
        self.state = CLOSED
        self._samples.clear()
        self._calls = self._failures = self._saturated = 0
        return CLOSED

    def probe_cancelled(self) -> None:
        """A probe was admitted by the breaker but rejected further on: it never ran."""
        if self.state == HALF_OPEN:
            self.probing = max(0, self.probing - 1)

    def retry_after(self, now: float) -> float:
        """Seconds until the breaker lets a probe through (0 when it would now)."""
        return max(0.0, self.open_until - now) if self.state == OPEN else 0.0

    def _open(self, now: float, why: str) -> str:
        self.state = OPEN
        self.opened_by = why
        self.open_until = now + self.open_seconds
        self.probing = 0
        return OPEN
