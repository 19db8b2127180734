"""Queries from catalog metrics render to Datadog's syntax, formulas keep their meaning, and
dashboards render through datadog-api-client's models."""

from __future__ import annotations

import random
import re

import pytest

from obs import catalog
from obs.catalog import attr
from obs.dashboards import (
    ENV,
    BinOp,
    Dashboard,
    Distribution,
    Expr,
    Formula,
    Group,
    Number,
    QueryValue,
    Rollup,
    TemplateVariable,
    Timeseries,
    Toplist,
    avg,
    call,
    count,
    p95,
    query,
    rate,
)
from obs.metric_query.grammar import (
    QueryParseError,
    parse_expression,
    parse_formula,
    render_formula,
)
from obs.provision.render_dashboard import render_dashboard

DURATION = catalog.DB_CLIENT_OPERATION_DURATION


def test_a_distribution_percentile_by_collection() -> None:
    q = p95(DURATION, by=(attr.DB_COLLECTION_NAME,), variables=("env",))
    assert q.text() == "p95:db.client.operation.duration{$env} by {db.collection.name}"


def test_counters_are_counts_or_rates_and_filters_keep_their_order() -> None:
    hits = count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "hit"}, variables=("env",))
    assert hits.text() == "sum:obs.cache.requests{$env,cache.result:hit}.as_count()"
    per_second = rate(catalog.MONGODB_OPERATION_COUNT, by=(attr.MONGO_OPERATION,))
    assert per_second.text() == "sum:mongodb.operation.count{*} by {operation}.as_rate()"
    # A distribution's sample count is its own aggregator, not as_count().
    assert count(DURATION).text() == "count:db.client.operation.duration{*}"
    rolled = query(catalog.REDIS_MEMORY_USED, "max", rollup=Rollup("max", 300))
    assert rolled.text() == "max:redis.memory.used{*}.rollup(max, 300)"


def test_arithmetic_keeps_its_meaning_with_the_fewest_parentheses() -> None:
    a, b, c = (
        avg(m) for m in (catalog.REDIS_MEMORY_USED, catalog.REDIS_MAXMEMORY, catalog.REDIS_DB_KEYS)
    )
    name = {a: "a", b: "b", c: "c"}.__getitem__
    assert render_formula(a / (a + b), name) == "a / (a + b)"
    assert render_formula(a - (b - c), name) == "a - (b - c)"
    # Operators associate to the left: a right operand keeps its parentheses to read back as
    # the same tree.
    assert render_formula(a + (b + c), name) == "a + (b + c)"
    assert render_formula(a - b - c, name) == "a - b - c"
    assert render_formula(a / (b * c), name) == "a / (b * c)"
    assert render_formula(100 * a / b, name) == "100 * a / b"
    assert render_formula(call("per_second", a + b), name) == "per_second(a + b)"


def _random_expr(rng: random.Random, depth: int, leaves: list[Expr]) -> Expr:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice([*leaves, Number(rng.choice([1, 2.5, 100]))])
    op = rng.choice(["+", "-", "*", "/"])
    return BinOp(op, _random_expr(rng, depth - 1, leaves), _random_expr(rng, depth - 1, leaves))  # type: ignore[arg-type]


def _value(expr: Expr, env: dict[str, float]) -> float:
    # Evaluate with each query standing for a number, to compare meanings.
    return float(eval(render_formula(expr, lambda q: repr(env[q.metric.name])), {}))


def test_formula_text_parses_back_to_the_same_meaning() -> None:
    rng = random.Random(7)
    leaves: list[Expr] = [avg(catalog.REDIS_MEMORY_USED), avg(catalog.REDIS_MAXMEMORY)]
    names = {"query1": leaves[0], "query2": leaves[1]}
    env = {"redis.memory.used": 3.0, "redis.maxmemory": 7.0}
    label = {leaves[0]: "query1", leaves[1]: "query2"}.__getitem__
    for _ in range(300):
        expr = _random_expr(rng, 4, leaves)
        text = render_formula(expr, label)
        again = parse_formula(text, names)  # type: ignore[arg-type]
        assert render_formula(again, label) == text
        try:
            expected = _value(expr, env)
        except ZeroDivisionError:
            continue
        assert _value(again, env) == pytest.approx(expected)


def test_query_text_parses_back_to_equal_values() -> None:
    for q in [
        p95(DURATION, by=(attr.DB_COLLECTION_NAME, attr.DB_OPERATION_NAME), variables=("env",)),
        count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "miss"}),
        query(catalog.AGENT_UP, "min", by=(attr.TARGET,), rollup=Rollup("avg")),
    ]:
        assert parse_expression(q.text(), catalog.by_datadog_name) == q


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("avg:no.such.metric{*}", "'no.such.metric' is not in the obs metric catalog"),
        ("avg:redis.memory.used{host0}", "expected ':' between a tag key and its value"),
        ("avg:redis.memory.used{*}.fill(zero)", "unsupported query function"),
        ("top(avg:redis.memory.used{*}, 10, 'mean', 'desc')", "unknown function top()"),
        ("diff:redis.memory.used{*}", "space aggregation 'diff' is not one obs writes"),
    ],
)
def test_unreadable_query_text_is_named(text: str, message: str) -> None:
    with pytest.raises(QueryParseError, match=re.escape(message)):
        parse_expression(text, catalog.by_datadog_name)


def test_dashboard_renders_formulas_over_named_queries_and_the_env_default() -> None:
    hits = count(catalog.CACHE_REQUESTS, where={attr.CACHE_RESULT: "hit"}, variables=("env",))
    lookups = count(catalog.CACHE_REQUESTS, variables=("env",))
    board = Dashboard(
        key="t.cache",
        title="Cache",
        template_variables=(ENV, TemplateVariable("cache", attr.CACHE_NAME)),
        teams=("platform",),
        widgets=(
            Group(
                "Ratio",
                (
                    Timeseries("hit ratio", (Formula(hits / lookups, alias="ratio"), hits)),
                    QueryValue("p95", (p95(DURATION, variables=("env",)),), precision=2),
                    Toplist(
                        "slowest",
                        (Formula(p95(DURATION, by=(attr.DB_COLLECTION_NAME,)), limit=5),),
                        reduce="max",
                    ),
                    Distribution("spread", p95(DURATION, variables=("env",))),
                ),
            ),
        ),
    )
    body = render_dashboard(board, env="prod")
    assert body["tags"] == ["team:platform"]
    assert body["template_variables"] == [
        {"name": "env", "prefix": "env", "defaults": ["prod"]},
        {"name": "cache", "prefix": "cache.name", "defaults": ["*"]},
    ]
    ratio, value, top, spread = (
        w["definition"] for w in body["widgets"][0]["definition"]["widgets"]
    )
    request = ratio["requests"][0]
    assert request["response_format"] == "timeseries"
    assert [f["formula"] for f in request["formulas"]] == ["query1 / query2", "query1"]
    assert [q["query"] for q in request["queries"]] == [
        "sum:obs.cache.requests{$env,cache.result:hit}.as_count()",
        "sum:obs.cache.requests{$env}.as_count()",
    ]
    assert value["requests"][0]["queries"][0]["aggregator"] == "percentile"
    assert value["requests"][0]["response_format"] == "scalar"
    assert top["requests"][0]["queries"][0]["aggregator"] == "max"
    assert top["requests"][0]["formulas"][0]["limit"] == {"count": 5}
    assert spread["requests"][0] == {
        "request_type": "histogram",
        "query": {
            "data_source": "metrics",
            "name": "query1",
            "query": "histogram:db.client.operation.duration{$env}",
        },
    }
    assert body["description"] == (
        "Managed by obs provision (obs-id:t.cache obs-env:prod). Edits made here are overwritten."
    )
