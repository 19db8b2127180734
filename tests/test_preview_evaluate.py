"""obs preview's evaluator: histogram quantiles, counter increases and rates across resets,
gauges, grouping and scope, formulas, and the scalar reductions of query values and toplists.
Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from obs import catalog
from obs.catalog import attr
from obs.dashboards import (
    ENV,
    Dashboard,
    Formula,
    QueryValue,
    Rollup,
    Tag,
    Timeseries,
    Toplist,
    avg,
    call,
    count,
    forecast,
    maximum,
    p50,
    p95,
    query,
    rate,
    total,
)
from obs.preview.evaluate import PreviewError, Step, distribution, evaluate
from obs.preview.formulas import combine
from obs.preview.model import bind, dashboard_model
from obs.preview.quantile import quantile
from obs.preview.scrape import Histogram, Reading, Scrape
from obs.preview.store import Entry, SeriesView, Store
from obs.preview.units import format_value

INF = math.inf
DURATION = catalog.DB_CLIENT_OPERATION_DURATION
BOUNDS = (*DURATION.buckets, INF)  # type: ignore[misc]


def histogram(per_bucket: dict[float, int], total_sum: float = 0.0) -> Histogram:
    """A cumulative histogram on the duration buckets from per-bucket counts."""
    running, cumulative = 0.0, []
    for bound in BOUNDS:
        running += per_bucket.get(bound, 0)
        cumulative.append(running)
    return Histogram(BOUNDS, tuple(cumulative), total_sum, running)


def series(metric: catalog.Metric, tags: dict[str, str], *values: object) -> SeriesView:
    """A series with one entry per round 0, 1, 2... ten seconds apart."""
    entries = tuple(Entry(i, 10.0 * i, v) for i, v in enumerate(values))  # type: ignore[arg-type]
    return SeriesView(metric, tuple(sorted(tags.items())), entries)


def steps(rounds: int) -> list[Step]:
    return [Step(r - 1, r, 10.0) for r in range(rounds)]


# --- quantiles ------------------------------------------------------------------------------


def test_quantile_interpolates_inside_the_bucket_as_promql_does() -> None:
    # ClickHouse's documented example of the PromQL interpolation: rank 9.5 of 19 falls in
    # (0, 0.5] holding observations 7..11, so 0 + 0.5 * (9.5 - 6) / 5.
    assert quantile(0.5, (0.0, 0.5, 1.0, INF), (6, 11, 14, 19)) == pytest.approx(0.35)
    # rank 99 of 100 in the +Inf bucket: the highest finite bound, as PromQL answers
    assert quantile(0.99, (0.1, 1.0, INF), (50, 90, 100)) == 1.0
    # a first bucket with a positive bound starts at 0: rank 19 of 20 -> 0.001 * 19 / 20
    assert quantile(0.95, (0.001, INF), (20, 20)) == pytest.approx(0.00095)
    assert quantile(0.5, (1.0, INF), (0, 0)) is None
    # counts that dip (merged histograms) are made monotonic before the search
    assert quantile(0.5, (1.0, 2.0, INF), (10, 8, 20)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside"):
        quantile(1.5, (1.0, INF), (1, 1))


def test_p95_merges_the_buckets_of_every_series_in_a_group_and_survives_a_reset() -> None:
    # Series A gains 100 observations per step: 40 <= 5 ms, 40 <= 50 ms, 10 <= 100 ms,
    # 10 <= 500 ms; p95 = rank 95 in (0.1, 0.5] holding 91..100 -> 0.1 + 0.4 * 5/10 = 0.3.
    step_a = {0.005: 40, 0.05: 40, 0.1: 10, 0.5: 10}
    a1 = histogram(step_a)
    a2 = histogram({b: 2 * c for b, c in step_a.items()})
    # the process restarted before round 3: its histogram starts again from one step's worth
    a = series(DURATION, {attr.DB_COLLECTION_NAME: "users"}, histogram({}), a1, a2, a1)
    result = evaluate(p95(DURATION), [a], steps(4))
    assert result[()][0] is None  # no earlier sample to measure an increase from
    assert result[()][1:] == pytest.approx([0.3, 0.3, 0.3])
    # Series B gains 10 observations in (0.5, 1] per step. Merged: 110 per step, rank
    # 104.5 lands in (0.5, 1] holding 101..110 -> 0.5 + 0.5 * 4.5/10 = 0.725.
    b = series(
        DURATION,
        {attr.DB_COLLECTION_NAME: "transactions"},
        *(histogram({1.0: 10 * i}) for i in range(4)),
    )
    merged = evaluate(p95(DURATION), [a, b], steps(4))
    assert merged[()][1:] == pytest.approx([0.725] * 3)
    by_collection = evaluate(p95(DURATION, by=(attr.DB_COLLECTION_NAME,)), [a, b], steps(4))
    assert by_collection[((attr.DB_COLLECTION_NAME, "transactions"),)][1] == pytest.approx(0.975)
    assert by_collection[((attr.DB_COLLECTION_NAME, "users"),)][1] == pytest.approx(0.3)


def test_histogram_count_sum_avg_min_max_and_rate() -> None:
    # per step: 4 observations of 0.02 (bucket (0.01, 0.05]) and 1 of 3.0 ((1, 5])
    h = [histogram({0.05: 4 * i, 5.0: i}, total_sum=3.08 * i) for i in range(3)]
    s = series(DURATION, {}, *h)
    two = steps(3)[1:]
    assert evaluate(count(DURATION), [s], two)[()] == [5.0, 5.0]
    assert evaluate(query(DURATION, "sum"), [s], two)[()] == pytest.approx([3.08, 3.08])
    assert evaluate(avg(DURATION), [s], two)[()] == pytest.approx([0.616, 0.616])
    assert evaluate(maximum(DURATION), [s], two)[()] == [5.0, 5.0]
    assert evaluate(query(DURATION, "min"), [s], two)[()] == [0.01, 0.01]
    per_second = evaluate(rate(DURATION, by=()), [s], two)  # sum:...as_rate(): sum per second
    assert per_second[()] == pytest.approx([0.308, 0.308])
    # the whole frame as one step: 10 observations, 8 of them <= 50 ms
    window = distribution(p95(DURATION), [s], Step(-1, 2))
    assert window is not None
    assert window.count == 10.0
    assert window.buckets[0.05] == 8.0
    assert window.buckets[5.0] == 2.0


# --- counters and gauges --------------------------------------------------------------------


def test_counter_rates_and_counts_handle_a_reset() -> None:
    # 100 -> 150 in 10 s: +50, 5/s; then 30: the counter restarted, so +30, 3/s
    hits = series(catalog.REDIS_KEYSPACE_HITS, {}, 100.0, 150.0, 30.0)
    assert evaluate(rate(catalog.REDIS_KEYSPACE_HITS), [hits], steps(3))[()] == [None, 5.0, 3.0]
    assert evaluate(count(catalog.REDIS_KEYSPACE_HITS), [hits], steps(3))[()] == [
        None,
        50.0,
        30.0,
    ]
    # one step over the whole frame: 50 + 30, over 20 s
    assert evaluate(rate(catalog.REDIS_KEYSPACE_HITS), [hits], [Step(-1, 2)])[()] == [4.0]


def test_gauges_aggregate_across_series_and_keep_a_missed_value_a_few_rounds() -> None:
    memory = catalog.REDIS_MEMORY_USED
    one = series(memory, {attr.SERVER_ADDRESS: "r1"}, 10.0, 20.0)
    two = series(memory, {attr.SERVER_ADDRESS: "r2"}, 30.0, 40.0)
    both = [one, two]
    assert evaluate(avg(memory), both, steps(2))[()] == [20.0, 30.0]
    assert evaluate(total(memory), both, steps(2))[()] == [40.0, 60.0]
    assert evaluate(maximum(memory), both, steps(2))[()] == [30.0, 40.0]
    assert evaluate(query(memory, "min"), both, steps(2))[()] == [10.0, 20.0]
    assert evaluate(query(memory, "count"), both, steps(2))[()] == [2.0, 2.0]
    # last seen in round 1: still drawn in rounds 2 and 3, gone from round 4 (lookback 3)
    assert evaluate(avg(memory), [one], steps(6))[()] == [10.0, 20.0, 20.0, 20.0, None, None]
    # the mean of the frame's samples when one step spans them
    assert evaluate(avg(memory), [one], [Step(-1, 1)])[()] == [15.0]


@pytest.mark.parametrize("seed", range(20))
def test_the_one_pass_per_round_path_agrees_with_the_step_by_step_one(seed: int) -> None:
    # Series with gaps, resets and samples before the frame; a rollup (avg of one value is
    # the value) sends the same query through the general step-by-step evaluation.
    chance = random.Random(seed)
    start = chance.randrange(0, 8)
    if seed % 2:  # scattered gaps
        present = [r for r in range(30) if chance.random() < 0.7]
    else:  # samples before the frame, a gap where it starts, then a sample every round
        present = [*range(start), *range(start + chance.randrange(1, 5), 30)]
    frame = [Step(r - 1, r) for r in range(start, 30)]
    for metric, make in (
        (catalog.REDIS_MEMORY_USED, lambda r: float(chance.randrange(100))),
        (catalog.REDIS_KEYSPACE_HITS, lambda r: float(r * 10 % 70)),  # resets every 7 rounds
    ):
        view = SeriesView(metric, (), tuple(Entry(r, 10.0 * r, make(r)) for r in present))
        for q in (avg(metric), rate(metric), count(metric)):
            slow = replace(q, rollup=Rollup("avg"))
            assert evaluate(q, [view], frame) == evaluate(slow, [view], frame), (metric, q)


def test_percentiles_of_a_gauge_are_refused_with_the_reason() -> None:
    memory = series(catalog.REDIS_MEMORY_USED, {}, 1.0)
    with pytest.raises(PreviewError, match=r"p95 needs a histogram; redis.memory.used is a gauge"):
        evaluate(p95(catalog.REDIS_MEMORY_USED), [memory], steps(1))


# --- grouping and scope ---------------------------------------------------------------------


def test_by_groups_scope_filters_and_template_variables() -> None:
    jobs = catalog.BULLMQ_QUEUE_JOBS
    rows = [
        series(jobs, {attr.QUEUE_NAME: "export", attr.QUEUE_STATE: "wait", "env": "prod"}, 5.0),
        series(jobs, {attr.QUEUE_NAME: "export", attr.QUEUE_STATE: "active", "env": "prod"}, 2.0),
        series(jobs, {attr.QUEUE_NAME: "mail", attr.QUEUE_STATE: "wait", "env": "dev"}, 7.0),
        series(jobs, {attr.QUEUE_STATE: "wait"}, 1.0),  # no queue name: Datadog's N/A group
    ]
    by_queue = evaluate(total(jobs, by=(attr.QUEUE_NAME,)), rows, steps(1))
    assert by_queue == {
        ((attr.QUEUE_NAME, "N/A"),): [1.0],
        ((attr.QUEUE_NAME, "export"),): [7.0],
        ((attr.QUEUE_NAME, "mail"),): [7.0],
    }
    waiting = total(jobs, where={attr.QUEUE_STATE: "wait"}, variables=("env",))
    assert evaluate(waiting, rows, steps(1)) == {(): [13.0]}  # $env unchosen: everything
    prod = bind(waiting, [ENV], {"env": "prod"})
    assert prod.text() == "sum:bullmq.queue.jobs{env:prod,bullmq.queue.jobs.state:wait}"
    assert evaluate(prod, rows, steps(1)) == {(): [5.0]}  # type: ignore[arg-type]
    assert bind(waiting, [ENV], {"env": "*"}) == waiting
    named = total(jobs, where={attr.QUEUE_NAME: "*"})
    assert evaluate(named, rows, steps(1)) == {(): [14.0]}  # key:* needs the key
    not_export = total(jobs).scoped(Tag(attr.QUEUE_NAME, "exp*", negate=True))
    assert evaluate(not_export, rows, steps(1)) == {(): [8.0]}


# --- formulas -------------------------------------------------------------------------------


def test_formulas_pair_groups_broadcast_scalars_and_give_nothing_for_zero_division() -> None:
    requests = catalog.CACHE_REQUESTS
    by = (attr.CACHE_NAME,)
    hits = count(requests, where={attr.CACHE_RESULT: "hit"}, by=by)
    lookups = count(requests, by=by)
    everything = count(requests)
    kpi, sessions = ((attr.CACHE_NAME, "kpi"),), ((attr.CACHE_NAME, "sessions"),)
    results = {
        hits: {kpi: [3.0, 0.0], sessions: [1.0, 2.0]},
        lookups: {kpi: [4.0, 0.0], sessions: [4.0, 8.0], ((attr.CACHE_NAME, "x"),): [1.0, 1.0]},
        everything: {(): [8.0, 8.0]},
    }
    seconds = [10.0, 10.0]
    assert combine(hits / lookups, results.__getitem__, seconds) == {
        kpi: [0.75, None],  # 0 / 0: no value
        sessions: [0.25, 0.25],
    }
    assert combine(100 * hits / everything, results.__getitem__, seconds) == {
        kpi: [37.5, 0.0],
        sessions: [12.5, 25.0],
    }
    assert combine(call("per_second", hits), results.__getitem__, seconds)[kpi] == [0.3, 0.0]
    assert combine(call("abs", 0 - everything), results.__getitem__, seconds) == {(): [8.0, 8.0]}
    with pytest.raises(PreviewError, match=r"timeshift\(\) is not evaluated locally"):
        combine(call("timeshift", hits, -3600), results.__getitem__, seconds)


# --- what the page gets ---------------------------------------------------------------------


def _store_with_latency() -> Store:
    """Three rounds, 10 s apart, of a histogram gaining 100 observations per round in
    users/find (p95 0.3 as above) and 10 in (0.5, 1] in transactions/aggregate; orders
    only appears in the first round."""
    store = Store(capacity=10)
    users = {attr.DB_COLLECTION_NAME: "users", attr.DB_OPERATION_NAME: "find"}
    trans = {attr.DB_COLLECTION_NAME: "transactions", attr.DB_OPERATION_NAME: "aggregate"}
    for i in range(3):
        r = store.begin_round(float(i))
        readings = (
            Reading(
                DURATION,
                tuple(sorted(users.items())),
                histogram({0.005: 40 * i, 0.05: 40 * i, 0.1: 10 * i, 0.5: 10 * i}),
                10.0 * i,
            ),
            Reading(DURATION, tuple(sorted(trans.items())), histogram({1.0: 10 * i}), 10.0 * i),
        )
        if i == 0:  # a collection seen once: no increase, so no value and no toplist row
            orders = ((attr.DB_COLLECTION_NAME, "orders"),)
            readings += (Reading(DURATION, orders, histogram({0.1: 3}), 0.0),)
        store.add(r, "http://source/metrics", Scrape(readings), float(i))
    return store


def test_scalar_widgets_reduce_each_query_then_apply_the_formula() -> None:
    by = (attr.DB_COLLECTION_NAME,)
    dashboard = Dashboard(
        "t",
        "T",
        (
            QueryValue("p95", (p95(DURATION),), unit="s"),
            QueryValue("avg of p50 per round", (p50(DURATION),), reduce="avg"),
            QueryValue(
                "aggregate share",
                (count(DURATION, where={"db.operation.name": "aggregate"}) / count(DURATION),),
            ),
            Toplist("by collection", (Formula(p95(DURATION, by=by), limit=1),)),
            Toplist("ascending", (Formula(p95(DURATION, by=by), order="asc"),)),
            Timeseries("commands", (Formula(count(DURATION, by=by), alias="n"),)),
        ),
    )
    page = dashboard_model(dashboard, _store_with_latency(), {})
    value, p50_avg, share, top, ascending, lines = page["widgets"]
    # 110 observations per step: rank 104.5 in (0.5, 1] -> 0.725
    assert value["value"] == pytest.approx(0.725)
    assert value["text"] == "725 ms"
    # p50: rank 55 in (0.01, 0.05] holding 41..80 -> 0.01 + 0.04 * 15/40 = 0.025
    assert p50_avg["value"] == pytest.approx(0.025)
    assert share["value"] == pytest.approx(10 / 110)
    assert [(r["name"], r["value"]) for r in top["rows"]] == [
        ("db.collection.name:transactions", pytest.approx(0.975))
    ]
    assert [r["name"] for r in ascending["rows"]] == [
        "db.collection.name:users",
        "db.collection.name:transactions",
    ]
    assert [(s["name"], s["points"]) for s in lines["series"]] == [
        ("n (db.collection.name:transactions)", [None, 10.0, 10.0]),
        ("n (db.collection.name:users)", [None, 100.0, 100.0]),
    ]
    assert [t["text"] for t in lines["ticks"]] == ["0", "50", "100"]


def test_values_are_written_in_their_unit() -> None:
    assert format_value(0.000_25, "s") == "250 µs"
    assert format_value(150.0, "us") == "150 µs"
    assert format_value(2.5, "s") == "2.5 s"
    assert format_value(268_435_456, "By") == "256 MiB"
    assert format_value(1_500_000, None) == "1.5M"
    assert format_value(0.125, "/s") == "0.125/s"
    assert format_value(12.0, "{job}", precision=1) == "12.0"
    assert format_value(None, "s") == "no data"


def test_a_forecast_is_the_least_squares_line_continued_a_third_of_the_window_ahead() -> None:
    size = catalog.MONGO_COLLECTION_SIZE
    store = Store()
    # users grows by 100 bytes a round, 10 s apart, with noise the fit cancels out (its sum
    # and its sum weighted by the round are both 0)
    for i, noise in enumerate((5, -5, 0, 0, 0, -5, 5)):
        r = store.begin_round(float(10 * i))
        reading = Reading(size, ((attr.DB_COLLECTION_NAME, "users"),), 1000.0 + 100 * i + noise)
        store.add(r, "http://source/metrics", Scrape((reading,)), float(10 * i))
    by = (attr.DB_COLLECTION_NAME,)
    dashboard = Dashboard(
        "t",
        "T",
        (
            Timeseries(
                "size",
                (
                    Formula(maximum(size, by=by), alias="size"),
                    Formula(forecast(maximum(size, by=by), history="1w"), alias="forecast"),
                ),
            ),
        ),
    )
    (lines,) = dashboard_model(dashboard, store, {})["widgets"]
    # 7 rounds held, 7 // 3 = 2 rounds ahead, 10 s apart
    assert list(lines["times"]) == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    measured, line = lines["series"]
    assert measured["points"][:7] == [1005.0, 1095.0, 1200.0, 1300.0, 1400.0, 1495.0, 1605.0]
    assert measured["points"][7:] == [None, None]
    # the fit recovers 1000 + 10 per second exactly, and continues it
    assert line["points"] == pytest.approx([1000.0 + 10 * t for t in range(0, 90, 10)])
    assert line["last"] == pytest.approx(1800.0)
