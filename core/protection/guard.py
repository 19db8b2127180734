"""One guard per protected resource: an adaptive concurrency limit, a circuit breaker and
per-client token buckets, in front of the calls the application wraps.

A call goes through three checks, cheapest refusal first: the client's token bucket (when
a client is named and a rate set), the breaker, then the concurrency limit, where it may
wait ``queue_timeout`` seconds for a slot (low priority never waits). A refusal raises
:class:`Rejected`. The guard times every call it admits: that latency drives the limit, and
the call's exception (of the ``failures`` types) feeds the breaker.

Priorities share the limit unequally: ``low`` calls get half of it, ``normal`` nine tenths,
``high`` all of it, and a client's low-priority calls leave half of its burst to its
other calls, so under pressure exports and other deferrable work are shed first.

Example:
    >>> g = Guard("payouts", GuardConfig(limit_initial=2, limit_min=1, limit_max=4,
    ...                                  queue_timeout=0.0))
    >>> first, second = g.enter(None, "high"), g.enter(None, "high")
    >>> try:
    ...     g.enter(None, "high")
    ... except Rejected as exc:
    ...     (exc.reason, exc.status)
    ('limit', 503)
    >>> g.exit(first, None); g.exit(second, None)
    >>> g.in_flight
    0
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from obs.protection.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from obs.protection.bucket import RedisBuckets, TokenBuckets, client_tag
from obs.protection.limit import GradientLimit

if TYPE_CHECKING:
    from obs.runtime.failures import Failures

PRIORITIES = ("high", "normal", "low")
SHARES = {"high": 1.0, "normal": 0.9, "low": 0.5}  # of the concurrency limit
LOW_RESERVE = 0.5  # of a client's burst, kept from its low-priority calls
MAX_CLIENT_TAGS = 100  # throttled-client series per guard; beyond, they count as "other"
SHARED_RETRY = 1.0  # seconds on the process's own buckets after Redis failed
FEATURE = "guard"  # its swallowed failures in obs.instrumentation.errors


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """How every guard of the process behaves (``obs.init(guard_...=)``, ``OBS_GUARD_*``).

    Example:
        >>> GuardConfig(client_rate=5.0).burst  # twice the rate unless set
        10
    """

    limit_initial: int = 20
    limit_min: int = 1
    limit_max: int = 200
    queue_timeout: float = 0.05
    error_ratio: float = 0.5
    window: float = 10.0
    min_calls: int = 20
    open_seconds: float = 5.0
    probes: int = 3
    pool_pending: int = 20  # waiting checkouts at which the Mongo pool is saturated; 0: off
    client_rate: float = 0.0  # tokens a second per client; 0: no per-client limit
    client_burst: int = 0  # bucket size; 0: twice the rate (at least 1)
    sample_window: float = 0.1  # seconds of completions averaged into one limit sample
    min_samples: int = 10

    @property
    def burst(self) -> int:
        """A client's bucket size."""
        return self.client_burst or max(1, int(2 * self.client_rate))


class Rejected(Exception):
    """A guard refused a call. ``status`` is the HTTP status to answer with (429 when the
    client is over its rate, 503 otherwise) and ``retry_after`` the seconds to wait.

    Example:
        >>> exc = Rejected("payouts", "breaker", "rejected", 4.2)
        >>> exc.status, exc.retry_after_header()
        (503, '5')
    """

    def __init__(self, guard: str, reason: str, outcome: str, retry_after: float) -> None:
        self.guard = guard
        self.reason = reason  # limit | breaker | client_rate
        self.outcome = outcome  # rejected | shed (a higher priority would have gone through)
        self.retry_after = retry_after
        self.status = 429 if reason == "client_rate" else 503
        super().__init__(
            f"obs.guard({guard!r}) {outcome} the call: {reason}; retry after {retry_after:.3g} s"
        )

    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, at least 1."""
        return str(max(1, int(-(-self.retry_after // 1))))


def default_failures() -> tuple[type[BaseException], ...]:
    """The exceptions that count against the breaker: Mongo unreachable or timing out
    (not a duplicate key or a validation error: the application's own answers).

    Example:
        >>> from pymongo.errors import AutoReconnect, DuplicateKeyError
        >>> issubclass(AutoReconnect, default_failures()), issubclass(DuplicateKeyError,
        ...     default_failures())
        (True, False)
    """
    from pymongo import errors

    return (errors.ConnectionFailure, errors.ExecutionTimeout, TimeoutError, ConnectionError)


class Guard:
    """The guard of one named resource. :meth:`enter` admits or raises :class:`Rejected`;
    every admitted call must be followed by :meth:`exit` with what :meth:`enter` returned."""

    __slots__ = (
        "_allowed",
        "_breaker",
        "_buckets",
        "_clock",
        "_closed",
        "_cond",
        "_failure_types",
        "_failures",
        "_floors",
        "_limit",
        "_lock",
        "_min_samples",
        "_pool_pending",
        "_prefix",
        "_rate",
        "_salt",
        "_shared",
        "_shared_retry_at",
        "_waiters",
        "_window_calls",
        "_window_end",
        "_window_failures",
        "_window_sum",
        "admitted",
        "config",
        "in_flight",
        "name",
        "refused",
        "throttled",
        "transitions",
    )

    def __init__(
        self,
        name: str,
        config: GuardConfig,
        *,
        shared: RedisBuckets | None = None,
        failures: Failures | None = None,
        pool_pending: Callable[[], int] | None = None,
        failure_types: tuple[type[BaseException], ...] | None = None,
        salt: bytes = b"",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._limit = GradientLimit(config.limit_initial, config.limit_min, config.limit_max)
        self._breaker = Breaker(
            error_ratio=config.error_ratio,
            window=config.window,
            min_calls=config.min_calls,
            open_seconds=config.open_seconds,
            probes=config.probes,
        )
        self._closed = True  # the breaker is closed: the fast path skips it
        burst = config.burst
        self._rate = config.client_rate
        self._buckets = TokenBuckets(config.client_rate, burst) if config.client_rate else None
        # Low-priority calls leave half of a client's burst to its other calls.
        self._floors = {p: burst * LOW_RESERVE if p == "low" else 0.0 for p in PRIORITIES}
        self._shared = shared
        self._shared_retry_at = 0.0
        self._prefix = f"obs:guard:{name}:"
        self._failures = failures
        self._pool_pending = pool_pending
        self._failure_types = failure_types or default_failures()
        self._salt = salt
        self.in_flight = 0
        self._allowed = self._shares()
        # The sampling window: completions averaged into one limit update and handed to
        # the breaker together.
        self._min_samples = config.min_samples
        self._window_end = clock() + config.sample_window
        self._window_sum = 0.0
        self._window_calls = 0
        self._window_failures = 0
        # Counters read at export time (cumulative): admitted per priority, refusals per
        # (outcome, reason, priority), breaker transitions per state entered, throttled
        # clients per tag.
        self.admitted = dict.fromkeys(PRIORITIES, 0)
        self.refused: dict[tuple[str, str, str], int] = {}
        self.transitions: dict[str, int] = {}
        self.throttled: dict[str, int] = {}

    # -- admission -------------------------------------------------------------------------

    def enter(self, client: str | None, priority: str) -> tuple[float, bool]:
        """Admit one call (waiting for a slot up to ``queue_timeout``) or raise
        :class:`Rejected`. Returns the token :meth:`exit` takes."""
        now = self._clock()
        shared = None
        if client is not None and self._shared is not None:
            shared = self._shared_wait(client, priority, now)
        with self._lock:
            probe = False
            if client is not None or not self._closed:
                probe = self._gate(client, priority, now, shared)
            if self.in_flight < self._allowed[priority]:
                self.in_flight += 1
                self.admitted[priority] += 1
                return now, probe
            return self._wait(now, priority, probe)

    async def enter_async(self, client: str | None, priority: str) -> tuple[float, bool]:
        """:meth:`enter` for coroutines: waits for a slot without blocking the event loop
        (polling every millisecond). A shared (Redis) bucket is still one blocking round
        trip."""
        import asyncio

        now = self._clock()
        shared = None
        if client is not None and self._shared is not None:
            shared = self._shared_wait(client, priority, now)
        with self._lock:
            probe = self._gate(client, priority, now, shared)
            if self._slot(priority):
                return now, probe
        deadline = now + (0.0 if priority == "low" else self.config.queue_timeout)
        while self._clock() < deadline:
            await asyncio.sleep(0.001)
            with self._lock:
                if self._slot(priority):
                    return now, probe
        with self._lock:
            self._refuse_limit(now, priority, probe)

    def exit(self, token: tuple[float, bool], error: BaseException | None) -> None:
        """Account for a call :meth:`enter` admitted; ``error`` is what it raised."""
        now = self._clock()
        started, probe = token
        failed = error is not None and isinstance(error, self._failure_types)
        changed = None
        with self._lock:
            self.in_flight -= 1
            self._window_sum += now - started
            self._window_calls += 1
            if failed:
                self._window_failures += 1
            if probe:
                changed = self._breaker.probe_done(now, failed)
            if now >= self._window_end and self._window_calls >= self._min_samples:
                changed = self._roll(now) or changed
            if changed is not None:
                self._moved(changed)
            if self._waiters:
                self._cond.notify()
        if changed is not None:
            _event("obs.guard.breaker", {"obs.guard.name": self.name, "state": changed})

    # -- what telemetry reads -------------------------------------------------------------

    @property
    def limit(self) -> float:
        """The current concurrency limit."""
        return self._limit.limit

    @property
    def state(self) -> str:
        """The breaker's state: closed, half_open or open."""
        with self._lock:
            if self._breaker.state == OPEN and self._clock() >= self._breaker.open_until:
                return HALF_OPEN  # the next call will probe
            return self._breaker.state

    def snapshot(self) -> tuple[dict[str, int], dict[tuple[str, str, str], int], dict[str, int]]:
        """Copies of the counters: admitted, refused, transitions."""
        with self._lock:
            return dict(self.admitted), dict(self.refused), dict(self.transitions)

    def throttled_clients(self) -> dict[str, int]:
        with self._lock:
            return dict(self.throttled)

    # -- inside the lock -------------------------------------------------------------------

    def _gate(self, client: str | None, priority: str, now: float, shared: float | None) -> bool:
        """The client's bucket, then the breaker: raises :class:`Rejected`, or says whether
        the call is a half-open breaker's probe."""
        if client is not None and self._rate:
            self._over_rate(client, priority, now, shared)
        return False if self._closed else self._through_breaker(now, priority)

    def _slot(self, priority: str) -> bool:
        if self.in_flight < self._allowed[priority]:
            self.in_flight += 1
            self.admitted[priority] += 1
            return True
        return False

    def _wait(self, now: float, priority: str, probe: bool) -> tuple[float, bool]:
        deadline = now + (0.0 if priority == "low" else self.config.queue_timeout)
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                self._refuse_limit(now, priority, probe)
            self._waiters += 1
            try:
                self._cond.wait(remaining)
            finally:
                self._waiters -= 1
            if self._slot(priority):
                return now, probe

    def _refuse_limit(self, now: float, priority: str, probe: bool) -> NoReturn:
        if probe:
            self._breaker.probe_cancelled()
        shed = self.in_flight < self._allowed["high"]
        outcome = "shed" if shed else "rejected"
        self._count(outcome, "limit", priority)
        # About one call's time frees a slot; the header rounds it up to a second.
        raise _refused(Rejected(self.name, "limit", outcome, self._limit.short_rtt))

    def _through_breaker(self, now: float, priority: str) -> bool:
        breaker = self._breaker
        was = breaker.state
        if breaker.allow(now):
            if breaker.state != was:
                self._moved(breaker.state)
                _event("obs.guard.breaker", {"obs.guard.name": self.name, "state": breaker.state})
            return breaker.state == HALF_OPEN
        self._count("rejected", "breaker", priority)
        wait = breaker.retry_after(now) or breaker.open_seconds
        raise _refused(Rejected(self.name, "breaker", "rejected", wait))

    def _roll(self, now: float) -> str | None:
        """A sampling window closed: its mean latency to the limit, new shares of the new
        limit, and the window's outcomes to the breaker."""
        calls, failures = self._window_calls, self._window_failures
        self._limit.update(self._window_sum / calls, self.in_flight + 1)
        self._allowed = self._shares()
        self._window_end = now + self.config.sample_window
        self._window_sum = 0.0
        self._window_calls = self._window_failures = 0
        return self._breaker.record(now, calls, failures, self._saturated())

    def _saturated(self) -> bool:
        threshold = self.config.pool_pending
        if not threshold or self._pool_pending is None:
            return False
        try:
            return self._pool_pending() >= threshold
        except Exception as exc:  # the host wins: no saturation signal, no opening on it
            if self._failures is not None:
                self._failures.record(FEATURE, exc)
            return False

    def _moved(self, state: str) -> None:
        self._closed = state == CLOSED
        self.transitions[state] = self.transitions.get(state, 0) + 1

    def _shares(self) -> dict[str, int]:
        limit = self._limit.limit
        return {p: max(1, int(limit * share)) for p, share in SHARES.items()}

    def _count(self, outcome: str, reason: str, priority: str) -> None:
        key = (outcome, reason, priority)
        self.refused[key] = self.refused.get(key, 0) + 1

    # -- the client's bucket ---------------------------------------------------------------

    def _shared_wait(self, client: str, priority: str, now: float) -> float | None:
        """The shared (Redis) bucket's answer, or None when Redis is not answering."""
        if now < self._shared_retry_at or self._shared is None:
            return None
        try:
            return self._shared.take(self._prefix, client, self._floors[priority])
        except Exception as exc:  # Redis unreachable: this process's own budget
            # for a second, rather than a connection attempt on every call
            self._shared_retry_at = now + SHARED_RETRY
            if self._failures is not None:
                self._failures.record(FEATURE, exc)
            return None

    def _over_rate(self, client: str, priority: str, now: float, wait: float | None) -> None:
        """Raise when the client has no token (inside the lock)."""
        floor = self._floors[priority]
        if wait is None and self._buckets is not None:
            wait = self._buckets.take(client, floor, now)
        if not wait:
            return
        # Shed: a higher priority, with no reserve to keep, would have had its token.
        outcome = "shed" if wait <= floor / self._rate else "rejected"
        self._count(outcome, "client_rate", priority)
        tag = client_tag(client, self._salt)
        if tag not in self.throttled and len(self.throttled) >= MAX_CLIENT_TAGS:
            tag = "other"
        self.throttled[tag] = self.throttled.get(tag, 0) + 1
        raise _refused(Rejected(self.name, "client_rate", outcome, wait))


def _refused(exc: Rejected) -> Rejected:
    _event(
        "obs.guard.rejected",
        {"obs.guard.name": exc.guard, "reason": exc.reason, "outcome": exc.outcome},
    )
    return exc


def _event(name: str, attributes: dict[str, Any]) -> None:
    """A span event on the application's current span (none recording: nothing)."""
    try:
        from opentelemetry import trace

        trace.get_current_span().add_event(name, attributes)
    except Exception:
        pass
