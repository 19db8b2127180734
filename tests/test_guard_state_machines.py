"""Property tests of the guard's state machines: token bucket, circuit breaker, Gradient2
limit, and the guard's admission accounting, each driven by Hypothesis with a fake clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obs.protection.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from obs.protection.bucket import TokenBuckets, client_tag
from obs.protection.guard import PRIORITIES, Guard, GuardConfig, Rejected
from obs.protection.limit import GradientLimit

# -- token bucket ------------------------------------------------------------------------

steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=3.0, allow_nan=False),  # seconds since the last
        st.sampled_from(["a", "b"]),  # client
        st.sampled_from([0.0, 1.0, 2.5]),  # floor
    ),
    max_size=200,
)


@given(
    rate=st.floats(min_value=0.1, max_value=100.0),
    burst=st.integers(min_value=1, max_value=50),
    steps=steps,
)
def test_a_bucket_never_grants_more_than_its_burst_plus_its_refill(
    rate: float, burst: int, steps: list[tuple[float, str, float]]
) -> None:
    buckets = TokenBuckets(rate, burst)
    now = 0.0
    granted = {"a": 0, "b": 0}
    for dt, client, floor in steps:
        now += dt
        wait = buckets.take(client, floor, now)
        assert wait >= 0.0
        if wait == 0.0:
            granted[client] += 1
        # the budget holds at every moment, for every client on its own
        assert granted[client] <= burst + rate * now + 1e-6


@given(
    rate=st.floats(min_value=0.1, max_value=100.0),
    burst=st.integers(min_value=1, max_value=50),
    floor=st.sampled_from([0.0, 1.0, 2.5]),
    spent=st.integers(min_value=0, max_value=60),
)
def test_a_refused_call_succeeds_once_its_wait_is_over(
    rate: float, burst: int, floor: float, spent: int
) -> None:
    buckets = TokenBuckets(rate, burst)
    for _ in range(spent):
        buckets.take("k", 0.0, 0.0)
    wait = buckets.take("k", floor, 0.0)
    if wait == 0.0:
        return
    assert buckets.take("k", floor, wait * (1 + 1e-9) + 1e-9) == 0.0


@given(rate=st.floats(min_value=0.1, max_value=10.0), burst=st.integers(min_value=1, max_value=20))
def test_a_low_priority_floor_keeps_a_reserve_for_the_others(rate: float, burst: int) -> None:
    buckets = TokenBuckets(rate, burst)
    floor = burst * 0.5
    reserve = min(floor, burst - 1)
    low = 0
    while buckets.take("k", floor, 0.0) == 0.0:
        low += 1
    normal = 0
    while buckets.take("k", 0.0, 0.0) == 0.0:
        normal += 1
    assert low == math.floor(burst - reserve)
    assert low + normal == burst


@given(st.text(max_size=200))
def test_a_client_tag_never_shows_the_key(key: str) -> None:
    tag = client_tag(key, b"salt")
    assert len(tag) == 12
    assert all(c in "0123456789abcdef" for c in tag)
    assert tag == client_tag(key, b"salt")
    if len(key) >= 4:
        assert key not in tag


# -- breaker -------------------------------------------------------------------------------

events = st.lists(
    st.one_of(
        st.tuples(
            st.just("window"),
            st.integers(0, 30),
            st.integers(0, 30),
            st.booleans(),
        ),
        st.tuples(st.just("call"), st.booleans(), st.just(0), st.just(False)),
        st.tuples(st.just("wait"), st.integers(0, 8), st.just(0), st.just(False)),
    ),
    max_size=120,
)
ALLOWED_MOVES = {
    (CLOSED, OPEN),
    (OPEN, HALF_OPEN),
    (HALF_OPEN, OPEN),
    (HALF_OPEN, CLOSED),
}


@given(events=events, probes=st.integers(1, 4), min_calls=st.integers(1, 20))
def test_the_breaker_moves_only_along_its_edges_and_keeps_its_promises(
    events: list[tuple[str, int, int, bool]], probes: int, min_calls: int
) -> None:
    breaker = Breaker(
        error_ratio=0.5, window=10.0, min_calls=min_calls, open_seconds=5.0, probes=probes
    )
    now = 0.0
    probes_in_flight = 0
    successes = 0
    for kind, a, b, saturated in events:
        before = breaker.state
        if kind == "window":
            failures = min(a, b)
            moved = breaker.record(now, a, failures, saturated)
            if before != CLOSED:
                assert moved is None  # only a closed breaker judges windows
            if moved == OPEN and not saturated:
                assert failures > 0
        elif kind == "wait":
            now += a
        else:
            failed = bool(a)
            allowed = breaker.allow(now)
            if before == OPEN and now < breaker.open_until:
                assert not allowed
            if breaker.state == HALF_OPEN and before != HALF_OPEN:
                probes_in_flight = successes = 0
            if breaker.state != before:  # a call may move it twice: here, and on its probe
                assert (before, breaker.state) in ALLOWED_MOVES
                before = breaker.state
            if allowed and breaker.state == HALF_OPEN:
                probes_in_flight += 1
                assert probes_in_flight <= probes
                moved = breaker.probe_done(now, failed)
                probes_in_flight -= 1
                if failed:
                    assert moved == OPEN
                    assert breaker.open_until == now + 5.0
                else:
                    successes += 1
                    assert (moved == CLOSED) == (successes == probes)
        if breaker.state != before:
            assert (before, breaker.state) in ALLOWED_MOVES
        assert breaker.state in (CLOSED, OPEN, HALF_OPEN)


def test_the_breaker_opens_on_a_saturated_pool_and_not_on_one_busy_window() -> None:
    breaker = Breaker(error_ratio=0.5, window=10.0, min_calls=5, open_seconds=1.0, probes=1)
    assert breaker.record(0.1, 10, 0, True) is None
    assert breaker.record(0.2, 10, 0, False) is None
    assert breaker.record(0.3, 10, 0, True) is None
    assert breaker.record(0.4, 10, 0, True) == OPEN
    assert breaker.opened_by == "saturation"


def test_old_windows_leave_the_breakers_judgement() -> None:
    breaker = Breaker(error_ratio=0.5, window=1.0, min_calls=10, open_seconds=1.0, probes=1)
    assert breaker.record(0.0, 8, 8, False) is None  # too few calls yet
    assert breaker.record(2.0, 8, 0, False) is None  # the failures are out of the window
    assert breaker.record(2.5, 8, 8, False) == OPEN  # 8 of 16 within the last second


# -- Gradient2 limit -----------------------------------------------------------------------


@given(
    initial=st.integers(1, 300),
    bounds=st.tuples(st.integers(1, 50), st.integers(50, 400)),
    windows=st.lists(
        st.tuples(st.floats(1e-4, 5.0), st.integers(0, 500)), min_size=1, max_size=100
    ),
)
def test_the_limit_stays_in_its_bounds_and_app_limited_windows_leave_it(
    initial: int, bounds: tuple[int, int], windows: list[tuple[float, int]]
) -> None:
    low, high = bounds
    limit = GradientLimit(initial, low, high)
    for rtt, in_flight in windows:
        before = limit.limit
        limit.update(rtt, in_flight)
        assert low <= limit.limit <= high
        if in_flight < before / 2:
            assert limit.limit == before


@given(rtt=st.floats(1e-4, 1.0), ratio=st.floats(2.0, 20.0))
def test_the_limit_falls_under_queueing_and_recovers_after(rtt: float, ratio: float) -> None:
    limit = GradientLimit(50, 1, 200)
    for _ in range(20):
        limit.update(rtt, in_flight=int(limit.limit))
    steady = limit.limit
    for _ in range(30):
        limit.update(rtt * ratio, in_flight=int(limit.limit))
    overloaded = limit.limit
    assert overloaded < steady / 2
    for _ in range(300):
        limit.update(rtt, in_flight=int(limit.limit))
    assert limit.limit > overloaded * 2


# -- the guard's accounting ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["enter", "exit", "fail", "tick"]),
            st.sampled_from(PRIORITIES),
            st.sampled_from([None, "k1", "k2"]),
        ),
        max_size=150,
    )
)
def test_every_call_is_admitted_or_refused_once_and_never_over_the_limit(
    ops: list[tuple[str, str, str | None]],
) -> None:
    clock = Clock()
    config = GuardConfig(
        limit_initial=4,
        limit_min=1,
        limit_max=8,
        queue_timeout=0.0,
        min_calls=3,
        open_seconds=1.0,
        probes=1,
        client_rate=5.0,
        sample_window=0.05,
        min_samples=2,
    )
    guard = Guard("g", config, failure_types=(TimeoutError,), clock=clock)
    running: list[tuple[float, bool]] = []
    attempts = 0
    for op, priority, client in ops:
        if op == "enter":
            attempts += 1
            refused: Rejected | None = None
            try:
                running.append(guard.enter(client, priority))
            except Rejected as exc:
                refused = exc
            if refused is not None:
                assert refused.retry_after >= 0
                assert refused.status == (429 if refused.reason == "client_rate" else 503)
            assert guard.in_flight == len(running)
            assert guard.in_flight <= max(1, int(guard.limit))
        elif op in ("exit", "fail") and running:
            clock.now += 0.01
            guard.exit(running.pop(0), TimeoutError() if op == "fail" else None)
        elif op == "tick":
            clock.now += 0.5
    admitted, refused, _ = guard.snapshot()
    assert sum(admitted.values()) + sum(refused.values()) == attempts


def test_a_priority_not_in_the_list_is_a_clear_error() -> None:
    import obs

    with pytest.raises(ValueError, match=r"priority='urgent'\): priority must be one of"):
        obs.guard("payouts", priority="urgent")
