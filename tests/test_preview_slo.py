"""SLOs evaluated over the preview's store: ratios of counts, time slices, burn rates over
the alerts' windows, budget left. Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obs import catalog
from obs.catalog import attr
from obs.preview.evaluate import Step
from obs.preview.scrape import Histogram, Reading, Scrape
from obs.preview.slo import slices, slo_status, span
from obs.preview.store import Round, Store
from obs.slos import PAGE, SLO, BurnRate, Ratio, TimeSlice, burn, count, p99
from obs.slos.shipped import CACHE_AVAILABILITY, JOB_SUCCESS, MONGO_LATENCY, MONGO_SUCCESS

DURATION = catalog.DB_CLIENT_OPERATION_DURATION
JOBS = catalog.MESSAGING_PROCESS_DURATION
BOUNDS = (*DURATION.buckets, math.inf)  # type: ignore[misc]


def cumulative(per_bucket: dict[float, float]) -> Histogram:
    running, out = 0.0, []
    for bound in BOUNDS:
        running += per_bucket.get(bound, 0.0)
        out.append(running)
    return Histogram(BOUNDS, tuple(out), 0.0, running)


def store_of(rounds: int, readings: Callable[[int], list[Reading]], every: float = 10.0) -> Store:
    """``rounds`` scrapes ``every`` seconds apart; ``readings(i)`` what round i reads."""
    store = Store(capacity=rounds + 1)
    for i in range(rounds):
        r = store.begin_round(every * i)
        store.add(r, "http://service/metrics", Scrape(tuple(readings(i))), every * i)
    return store


def jobs(completed_per_round: float, failed_per_round: float) -> Callable[[int], list[Reading]]:
    """Cumulative job runs, the given numbers more each round (job durations all <= 10 ms)."""

    def at(i: int) -> list[Reading]:
        return [
            Reading(JOBS, ((attr.JOB_OUTCOME, outcome),), cumulative({0.01: per * i}))
            for outcome, per in (("completed", completed_per_round), ("failed", failed_per_round))
        ]

    return at


def test_a_ratio_is_good_over_total_and_its_burn_rate_the_bad_share_over_the_budget() -> None:
    # 13 rounds 10 s apart: 120 s, 12 increases of 9 completed and 1 failed
    status = slo_status(JOB_SUCCESS, store_of(13, jobs(9, 1)), None)
    assert (status.good, status.total, status.seconds) == (108, 120, 120)
    assert status.sli == pytest.approx(90.0)
    assert status.state == "missed"  # 90 % < 99 %
    # 10 % bad of a 1 % budget: 10x; a whole 30-day budget lasts 3 days at that rate
    assert status.burn_rate == pytest.approx(10.0)
    assert status.budget_left == pytest.approx(-9.0)
    assert status.exhaustion == pytest.approx(3 * 86400)
    assert status.burning
    page, ticket = status.alerts
    # the windows are cut to the 120 s held: the rate is 10x over both, below 14.4, above 6
    assert (page.long, page.short, page.long_seconds) == (pytest.approx(10), pytest.approx(10), 120)
    assert not page.firing
    assert ticket.firing


def test_an_alert_fires_only_when_both_windows_reach_its_factor() -> None:
    # 60 rounds 10 s apart (590 s): no failures for the first 50 increases, then 9 in 10 fail
    def at(i: int) -> list[Reading]:
        failing = max(0, i - 50)
        return [
            Reading(
                JOBS, ((attr.JOB_OUTCOME, "completed"),), cumulative({0.01: 10 * i - 9 * failing})
            ),
            Reading(JOBS, ((attr.JOB_OUTCOME, "failed"),), cumulative({0.01: 9 * failing})),
        ]

    slo = SLO("t.jobs", "Jobs", JOB_SUCCESS.sli, {"30d": 99.0}, alerts=(PAGE,))
    (page,) = slo_status(slo, store_of(60, at), None).alerts
    # short window 5 m = the last 300 s = 30 increases, 9 of them failing 90 %:
    # 81 bad of 300 = 27 %: 27x; the long window (1 h, cut to 590 s): 81 of 590: 13.7x
    assert page.short == pytest.approx(27.0)
    assert page.long == pytest.approx(81 / 590 / 0.01)
    assert not page.firing  # 13.7 < 14.4 over the long window
    tighter = SLO("t.jobs", "Jobs", JOB_SUCCESS.sli, {"30d": 99.5}, alerts=(PAGE,))
    (page,) = slo_status(tighter, store_of(60, at), None).alerts
    assert page.firing  # 27.5x and 54x against a 0.5 % budget


def test_a_count_with_no_series_counts_nothing() -> None:
    # Mongo commands, none failing: good = all - errors, with no error series at all
    def at(i: int) -> list[Reading]:
        return [Reading(DURATION, ((attr.DB_COLLECTION_NAME, "users"),), cumulative({0.01: 5 * i}))]

    status = slo_status(MONGO_SUCCESS, store_of(5, at), None)
    assert (status.good, status.total, status.sli, status.burn_rate) == (20, 20, 100.0, 0.0)
    assert status.state == "ok"
    assert status.exhaustion is None  # nothing burns


def test_a_time_slice_counts_the_slices_meeting_the_threshold() -> None:
    # 31 rounds 10 s apart (300 s) cut into 60 s slices from the end: (240, 300], (180, 240],
    # (120, 180], (60, 120], (0, 60]; the round at 0 s alone would be a sixth slice without an
    # increase, which counts neither way. Commands take 5 ms, but 2 of 20 take 1 s in each
    # step of (120, 180]: that slice's p99 is 1 s, over 250 ms.
    def at(i: int) -> list[Reading]:
        slow = 2 * min(max(0, i - 12), 6)
        buckets = {0.005: 20 * i - slow, 1.0: slow}
        return [Reading(DURATION, (), cumulative(buckets))]

    status = slo_status(MONGO_LATENCY, store_of(31, at), None)
    assert (status.counted, status.good, status.total) == ("slices", 4, 5)
    assert status.sli == pytest.approx(80.0)
    assert status.burn_rate == pytest.approx(20.0)  # 20 % of slices bad, 1 % budget


def test_a_ratio_of_counts_in_a_slice_uses_default_zero_when_nothing_hit() -> None:
    # kpi: 10 lookups a round; hits only in the last 60 s (4 of 10)
    def at(i: int) -> list[Reading]:
        hits = 4 * max(0, i - 7)
        return [
            Reading(catalog.CACHE_REQUESTS, ((attr.CACHE_RESULT, "hit"),), float(hits)),
            Reading(catalog.CACHE_REQUESTS, ((attr.CACHE_RESULT, "miss"),), 10.0 * i - hits),
        ]

    status = slo_status(CACHE_AVAILABILITY, store_of(14, at), None)
    # slices (70, 130], (10, 70] and the rest (0, 10]: 24 hits of 60 lookups (0.4 < 0.5) in
    # the newest, no hit at all in the others: 0 by default_zero(), not "no data"
    assert (status.good, status.total) == (0, 3)


def test_environment_targets_apply() -> None:
    slo = SLO("t.jobs", "Jobs", JOB_SUCCESS.sli, {"30d": 99.0}, env_targets={"dev": {"7d": 80.0}})
    status = slo_status(slo, store_of(13, jobs(9, 1)), "dev")
    assert (status.window, status.target, status.state) == ("7d", 80.0, "ok")
    assert status.burn_rate == pytest.approx(0.5)
    assert status.exhaustion == pytest.approx(14 * 86400)


@pytest.mark.parametrize(
    ("slo", "reason"),
    [
        (
            SLO("t.x", "X", TimeSlice(p99(catalog.CACHE_REQUESTS), "<", 1), {"30d": 99.0}),
            "p99 needs a histogram",
        ),
        (SLO("t.x", "X", JOB_SUCCESS.sli, {"30d": 100.0}), "target 100 % is not a percentage"),
        (
            SLO(
                "t.x", "X", JOB_SUCCESS.sli, {"30d": 99.0}, alerts=(BurnRate("a", 1, "1 h", "5m"),)
            ),
            "'1 h' is not a window",
        ),
    ],
)
def test_an_slo_the_preview_cannot_evaluate_says_why(slo: SLO, reason: str) -> None:
    # The preview draws definitions as they are; obs provision would refuse these.
    status = slo_status(slo, store_of(3, jobs(1, 0)), None)
    assert status.state == "error"
    assert reason in (status.error or "")
    json.dumps(status.as_json(), allow_nan=False)  # what /api/slos serves


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.floats(0.1, 50.0), min_size=1, max_size=40),
    length=st.sampled_from([60.0, 300.0, 7.5]),
)
def test_slices_partition_the_span(times: list[float], length: float) -> None:
    rounds, now = [], 0.0
    for i, gap in enumerate(times):
        now += gap
        rounds.append(Round(i, now))
    step = span(rounds, None)
    cuts = slices(rounds, step, length)
    # consecutive, covering (after, through]; each but the oldest begins at the newest round
    # at least a slice before its end
    assert cuts[0].after == step.after
    assert cuts[-1].through == step.through
    assert all(a.through == b.after for a, b in itertools.pairwise(cuts))
    assert all(c.after < c.through for c in cuts)
    at = {r.index: r.time for r in rounds}
    for cut in cuts[1:]:
        assert at[cut.after] <= at[cut.through] - length
        assert at[cut.after + 1] > at[cut.through] - length


@pytest.mark.parametrize(
    ("seconds", "expected"), [(None, Step(-1, 9, 90.0)), (30, Step(6, 9, 30.0))]
)
def test_a_span_is_the_last_seconds_held(seconds: float | None, expected: Step) -> None:
    assert span([Round(i, 10.0 * i) for i in range(10)], seconds) == expected
    assert span([Round(i, 10.0 * i) for i in range(10)], 1000) == Step(-1, 9, 90.0)


@settings(max_examples=100, deadline=None)
@given(
    share=st.floats(0.001, 1.0),
    long=st.integers(1, 48),
    window=st.sampled_from([7, 30, 90]),
)
def test_at_its_factor_an_alert_spends_its_share_of_the_budget_in_its_long_window(
    share: float, long: int, window: int
) -> None:
    alert = BurnRate("a", share, f"{long}h", "1m")
    factor = burn.factor_for(alert, window)
    spent = factor * burn.seconds(alert.long_window) / (window * 86400)
    assert spent == pytest.approx(share, rel=1e-9)
    # and a whole budget lasts the long window divided by the share
    assert burn.exhaustion_seconds(window, factor) == pytest.approx(long * 3600 / share, rel=1e-9)


def test_shipped_slos_use_count_queries() -> None:
    assert isinstance(JOB_SUCCESS.sli, Ratio)
    assert list(JOB_SUCCESS.sli.total.queries()) == [count(JOBS)]
