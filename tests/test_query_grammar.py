"""The query grammar reads back what it writes, on generated queries, formulas and monitor
queries; any other text is either read or refused with one typed error naming the character;
and the preview evaluates every word of the grammar or says it does not."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obs import catalog
from obs.catalog import Emitter, Kind, Metric
from obs.metric_query import grammar
from obs.metric_query.grammar import (
    COMPARATORS,
    FUNCTIONS,
    MODIFIERS,
    NUMBER_ARGUMENT,
    PRECEDENCE,
    ROLLUP_METHODS,
    SPACE_AGGREGATORS,
    TIME_AGGREGATIONS,
    Function,
    Modifier,
    QueryParseError,
    Quote,
    Seconds,
    Word,
    parse_distribution,
    parse_expression,
    parse_formula,
    parse_monitor_query,
    parse_query,
    render,
    render_distribution,
    render_formula,
    render_monitor_query,
    render_query,
)
from obs.metric_query.tree import (
    PERCENTILES,
    RESOURCE_TAGS,
    BinOp,
    Call,
    Expr,
    MonitorQuery,
    Number,
    Query,
    Quoted,
    Rollup,
    Tag,
    Var,
    avg,
    call,
    forecast,
    maximum,
    rate,
)
from obs.preview import evaluate, formulas
from obs.preview.evaluate import PreviewError, Step
from obs.preview.store import Entry, SeriesView

METRICS = tuple(catalog.CATALOG.values())
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _text(pattern: Any) -> st.SearchStrategy[str]:
    """Short text matching ``pattern`` (one whose every non-empty prefix matches too)."""
    return st.from_regex(pattern, fullmatch=True).map(lambda s: s[:12])


numbers = st.floats(allow_nan=False, allow_infinity=False)


def _argument(param: Word | Seconds) -> st.SearchStrategy[object]:
    if isinstance(param, Word):
        return st.sampled_from(param.choices)
    return st.integers(1, 10**9 - 1)


def _modifier_value(modifier: Modifier) -> st.SearchStrategy[object]:
    """Absent, or a value with every argument the grammar allows (optional ones left out)."""
    if modifier.value is None:
        return st.booleans()
    arguments = [
        _argument(p) | st.none() if f.default is None else _argument(p)
        for p, f in zip(modifier.params, dataclasses.fields(modifier.value), strict=True)
    ]
    return st.none() | st.builds(modifier.value, *arguments)


_MODIFIER_VALUES = {m.name: _modifier_value(m) for m in MODIFIERS}


def _queries_of(metric: Metric) -> st.SearchStrategy[Query]:
    keys = st.sampled_from((*metric.attributes, *sorted(RESOURCE_TAGS)))
    tag = st.builds(Tag, keys, _text(grammar.TAG_VALUE), st.booleans())
    variable = st.builds(Var, _text(grammar.VARIABLE))
    return st.builds(
        Query,
        st.just(metric),
        st.sampled_from(SPACE_AGGREGATORS),
        st.lists(tag | variable, max_size=4).map(tuple),
        st.lists(keys, max_size=3).map(tuple),
        **_MODIFIER_VALUES,
    )


_QUERIES_OF = {m: _queries_of(m) for m in METRICS}


def queries(metrics: tuple[Metric, ...] = METRICS) -> st.SearchStrategy[Query]:
    """A query of a catalog metric over its attribute keys and the resource's tags, with any
    aggregator, scope, grouping and modifiers the grammar has."""
    return st.sampled_from(metrics).flatmap(_QUERIES_OF.__getitem__)


def _word(allowed: Any) -> st.SearchStrategy[str]:
    if isinstance(allowed, Quote):
        return st.sampled_from(allowed.choices)
    return st.from_regex(allowed, fullmatch=True).filter(lambda text: len(text) < 16)


def _arguments_of(function: Function) -> st.SearchStrategy[tuple[Expr, ...]]:
    """What ``function`` takes after its expression, in order."""
    return st.tuples(
        *(
            numbers.map(Number) if a == NUMBER_ARGUMENT else _word(a).map(Quoted)
            for a in function.arguments
        )
    )


def _options_of(function: Function) -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    """Any of ``function``'s options, each at most once, with values it allows."""
    if not function.options:
        return st.just(())
    return st.lists(st.sampled_from(function.options), unique=True).flatmap(
        lambda chosen: st.tuples(*(st.tuples(st.just(o.name), _word(o.value)) for o in chosen))
    )


def _calls(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    @st.composite
    def one(draw: st.DrawFn) -> Expr:
        function = draw(st.sampled_from(sorted(FUNCTIONS.values(), key=lambda f: f.name)))
        arguments = draw(_arguments_of(function))
        return Call(function.name, (draw(inner), *arguments), draw(_options_of(function)))

    return one()


def expressions(leaves: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    """Arithmetic and function calls over ``leaves`` and numbers."""
    return st.recursive(
        leaves | numbers.map(Number),
        lambda inner: (
            st.builds(BinOp, st.sampled_from(sorted(PRECEDENCE)), inner, inner) | _calls(inner)
        ),
        max_leaves=12,
    )


monitor_queries = st.builds(
    MonitorQuery,
    st.sampled_from(TIME_AGGREGATIONS),
    st.builds(
        "{}_{}{}".format,
        st.sampled_from(("last", "next")),
        st.integers(1, 10**4),
        st.sampled_from("mhdw"),
    ),
    expressions(queries()),
    st.sampled_from(COMPARATORS),
    numbers,
)


def respaced(text: str, spaces: st.DataObject) -> str:
    """``text`` with other whitespace wherever the grammar allows it: around its spaces and
    brackets and after its commas (never inside a name, a tag or a number)."""
    gap = st.text(" \t\n", max_size=2)
    after, before, between = (spaces.draw(gap) for _ in range(3))
    out = []
    for char in text:
        if char == " ":
            out.append(" " + between)
        elif char in "({,":
            out.append(char + after)
        elif char in ")}":
            out.append(before + char)
        else:
            out.append(char)
    return "".join(out)


# --- what it writes, it reads -------------------------------------------------------------


@EXAMPLES
@given(queries())
def test_a_query_reads_back_as_the_same_query(query: Query) -> None:
    assert grammar.problems(query) == []
    text = render_query(query)
    assert parse_query(text, catalog.by_datadog_name) == query
    assert parse_expression(text, catalog.by_datadog_name) == query
    assert render_query(parse_query(text, catalog.by_datadog_name)) == text


@EXAMPLES
@given(expressions(queries()), st.data())
def test_an_inline_expression_reads_back_as_the_same_tree(
    expr: Expr, spaces: st.DataObject
) -> None:
    assert grammar.problems(expr) == []
    text = render(expr)
    assert parse_expression(text, catalog.by_datadog_name) == expr
    assert render(parse_expression(text, catalog.by_datadog_name)) == text
    # What Datadog sends back spaced otherwise reads as the same tree (normalize relies on it).
    assert parse_expression(respaced(text, spaces), catalog.by_datadog_name) == expr


# Formulas are drawn over stand-ins, then each stand-in becomes one of the drawn queries.
_STAND_INS = tuple(Query(m) for m in METRICS[:4])
formulas_over_stand_ins = expressions(st.sampled_from(_STAND_INS))


@EXAMPLES
@given(formulas_over_stand_ins, st.lists(queries(), min_size=4, max_size=4), st.data())
def test_a_formula_reads_back_over_the_same_named_queries(
    shape: Expr, drawn: list[Query], spaces: st.DataObject
) -> None:
    named = dict(zip(_STAND_INS, drawn, strict=True))
    expr = shape.map(named.__getitem__)
    names: dict[Query, str] = {}
    for query in expr.queries():
        names.setdefault(query, f"query{len(names) + 1}")
    text = render_formula(expr, names.__getitem__)
    by_name = {n: q for q, n in names.items()}
    assert parse_formula(text, by_name) == expr
    assert render_formula(parse_formula(text, by_name), names.__getitem__) == text
    assert parse_formula(respaced(text, spaces), by_name) == expr


@EXAMPLES
@given(monitor_queries, st.data())
def test_a_monitor_query_reads_back_as_the_same_value(
    monitor: MonitorQuery, spaces: st.DataObject
) -> None:
    text = render_monitor_query(monitor)
    assert parse_monitor_query(text, catalog.by_datadog_name) == monitor
    assert render_monitor_query(parse_monitor_query(text, catalog.by_datadog_name)) == text
    assert parse_monitor_query(respaced(text, spaces), catalog.by_datadog_name) == monitor


@EXAMPLES
@given(queries(tuple(m for m in METRICS if m.kind is Kind.HISTOGRAM)))
def test_a_distribution_query_reads_back_without_its_aggregator(query: Query) -> None:
    text = render_distribution(query)
    assert text.startswith("histogram:")
    assert parse_distribution(text, catalog.by_datadog_name) == replace(query, aggregation="avg")


# Any characters, those of the grammar more often, in the fields of a tree.
_loose_text = st.text(
    st.sampled_from("az09_-.:/*$!,{}()+ é") | st.characters(), min_size=0, max_size=6
)


_loose_tag = st.builds(Tag, _loose_text, _loose_text, st.booleans())
_loose_rollup = st.builds(
    Rollup,
    st.sampled_from(ROLLUP_METHODS) | _loose_text,
    st.none() | st.integers(-5, 10**10),
)
# Queries whose names, tags and modifier values may be anything at all.
loose_queries = st.builds(
    Query,
    st.builds(
        Metric,
        _loose_text,
        st.just(Kind.GAUGE),
        st.just(""),
        st.just(""),
        st.just(()),
        st.just(Emitter.AGENT),
    ),
    st.sampled_from(SPACE_AGGREGATORS) | _loose_text,
    st.lists(_loose_tag | st.builds(Var, _loose_text), max_size=3).map(tuple),
    st.lists(_loose_text, max_size=2).map(tuple),
    st.booleans(),
    st.booleans(),
    st.none() | _loose_rollup,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        loose_queries | st.floats().map(Number),
        lambda inner: (
            st.builds(BinOp, st.sampled_from(sorted(PRECEDENCE)), inner, inner)
            | st.builds(Call, st.sampled_from(sorted(FUNCTIONS)) | _loose_text, st.tuples(inner))
            | st.builds(
                Call,
                st.sampled_from(sorted(FUNCTIONS)) | _loose_text,
                st.tuples(inner, st.builds(Quoted, _loose_text | st.just("linear")), inner),
                st.lists(st.tuples(_loose_text | st.just("model"), _loose_text)).map(tuple),
            )
            | st.builds(Quoted, _loose_text)
            | st.builds(call, st.sampled_from(["timeshift", "clamp_min"]), inner, inner)
        ),
        max_leaves=6,
    )
)
def test_a_tree_without_problems_reads_back_whatever_its_fields_hold(expr: Expr) -> None:
    # problems() is the grammar's promise: a tree it finds nothing wrong with reads back.
    if grammar.problems(expr):
        return
    metrics = {q.metric.name: q.metric for q in expr.queries()}
    assert parse_expression(render(expr), metrics.__getitem__) == expr


def test_what_the_tree_cannot_say_is_named() -> None:
    memory = catalog.REDIS_MEMORY_USED
    assert grammar.problems(avg(memory, variables=("my-env",))) == []
    assert grammar.problems(
        Query(memory, "p42", (Tag("a b", "x,y"),), ("c:d",), rollup=Rollup("last", 0))  # type: ignore[arg-type]
    ) == [
        "aggregation 'p42' is unknown",
        "tag key 'a b' is not valid",
        "tag value 'x,y' is not valid",
        "group-by key 'c:d' is not valid",
        "rollup(last, 0) is not valid",
    ]
    assert grammar.problems(call("timeshift", avg(memory)) * math.inf) == [
        "timeshift(expression, number) takes other arguments",
        "inf is not a finite number",
    ]
    deep: Expr = avg(memory)
    for _ in range(grammar.MAX_DEPTH):
        deep = 1 + deep
    assert grammar.problems(deep) == [
        f"the expression is nested more than {grammar.MAX_DEPTH} deep"
    ]


def test_a_forecast_takes_a_quoted_word_a_number_and_options_written_in_name_order() -> None:
    size = maximum(catalog.MONGO_COLLECTION_SIZE)
    text = "forecast(max:obs.mongo.collection.size{*},'linear',2, model = 'simple',history='1w')"
    parsed = parse_expression(text, catalog.by_datadog_name)
    assert parsed == forecast(size, "linear", 2, history="1w", model="simple")
    assert render(parsed) == (
        "forecast(max:obs.mongo.collection.size{*}, 'linear', 2, history='1w', model='simple')"
    )
    monitor = parse_monitor_query(f"max(next_2w):{text} >= 5e11", catalog.by_datadog_name)
    assert (monitor.window, monitor.expr) == ("next_2w", parsed)
    signature = (
        "forecast(expression, 'linear'|'seasonal', number, history=..., interval=..., "
        "model=..., seasonality=...) takes other arguments"
    )
    for wrong in (
        "forecast(max:obs.mongo.collection.size{*}, 'cubic', 1)",
        "forecast(max:obs.mongo.collection.size{*}, 'linear', 1, history='soon')",
        "forecast(max:obs.mongo.collection.size{*}, 'linear', 1, horizon='1w')",
        "forecast(max:obs.mongo.collection.size{*}, 'linear', 1, model='simple', model='simple')",
        "forecast(max:obs.mongo.collection.size{*}, 1, 'linear')",
    ):
        with pytest.raises(QueryParseError, match=re.escape(signature)):
            parse_expression(wrong, catalog.by_datadog_name)
    for wrong, reason in (
        ("'linear' + 1", "expected a query, a number or '('"),
        ("forecast(max:obs.mongo.collection.size{*}, 'linear' + 1, 1)", "expected ')'"),
        (
            "forecast(max:obs.mongo.collection.size{*}, history='1w', 'linear', 1)",
            "name='value' options come after the other arguments",
        ),
    ):
        with pytest.raises(QueryParseError, match=re.escape(reason)):
            parse_expression(wrong, catalog.by_datadog_name)
    assert grammar.problems(Quoted("linear") + 1) == [
        "'linear' is a function's argument, not an expression"
    ]
    assert grammar.problems(call("forecast", size, "linear", 1, horizon="1w")) == [signature]


# --- anything else is refused with one typed error ----------------------------------------


def _read_every_way(text: str) -> None:
    """Read ``text`` with each entry point: it reads, or fails naming a character in it."""
    names = {"query1": rate(catalog.CACHE_REQUESTS), "query2": avg(catalog.REDIS_MEMORY_USED)}
    for read in (
        lambda t: parse_expression(t, catalog.by_datadog_name),
        lambda t: parse_query(t, catalog.by_datadog_name),
        lambda t: parse_distribution(t, catalog.by_datadog_name),
        lambda t: parse_monitor_query(t, catalog.by_datadog_name),
        lambda t: parse_formula(t, names),
    ):
        try:
            read(text)
        except QueryParseError as exc:
            error = exc
        else:
            continue
        assert 0 <= error.position <= len(text)
        assert error.text == text
        assert f"at character {error.position + 1} of " in str(error)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_any_text_reads_or_fails_with_the_typed_error(text: str) -> None:
    _read_every_way(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(monitor_queries, st.data())
def test_damaged_query_text_reads_or_fails_with_the_typed_error(
    monitor: MonitorQuery, data: st.DataObject
) -> None:
    # Near misses reach further into the parser than random text: cut, repeat and insert.
    text = render_monitor_query(monitor)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(at, min(len(text), at + 8)))
        inserted = data.draw(
            st.text(st.sampled_from("(){}[],:.$!*+-/<>=e0 avg_countp95"), max_size=3)
        )
        text = data.draw(
            st.sampled_from(
                [text[:at] + text[end:], text[:end] + text[at:], text[:at] + inserted + text[at:]]
            )
        )
        _read_every_way(text)
        _read_every_way(text.split(":", 1)[-1])


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "1" + ")" * 5000,
        "abs(" * 5000 + "1" + ")" * 5000,
        "1" + " + 1" * 5000,
        "1 - (" * 5000 + "1" + ")" * 5000,
        "avg:redis.memory.used{*}.rollup(avg, " + "9" * 5000 + ")",
        "1e999",
        "avg(last_5m):avg:redis.memory.used{*} > 1e999",
        "avg(last_5m):" + " " * 100_000 + "x",
    ],
)
def test_hostile_text_gets_the_typed_error_not_a_crash(text: str) -> None:
    with pytest.raises(QueryParseError):
        parse_monitor_query(text, catalog.by_datadog_name) if text.startswith(
            "avg("
        ) else parse_expression(text, catalog.by_name)


def test_the_longest_error_shows_where_it_is() -> None:
    with pytest.raises(QueryParseError) as caught:
        parse_expression("1 + " * 10_000 + "?", catalog.by_datadog_name)
    # the operator that makes the tree one level too deep
    assert caught.value.position == 4 * (grammar.MAX_DEPTH - 1) + 2
    assert len(str(caught.value)) < 300


# --- the definition is consistent, and the preview evaluates it ---------------------------


def test_modifiers_are_query_fields_with_one_parameter_per_value_field() -> None:
    fields = {f.name for f in dataclasses.fields(Query)}
    for modifier in MODIFIERS:
        assert modifier.name in fields
        if modifier.value is not None:
            assert len(modifier.params) == len(dataclasses.fields(modifier.value))


def test_every_function_is_evaluated_or_said_not_to_be() -> None:
    assert set(formulas.FUNCTIONS) == set(FUNCTIONS), "give a new function an entry"
    lookups = rate(catalog.CACHE_REQUESTS)
    results = {lookups: {(): [4.0, 8.0]}}
    for function in FUNCTIONS.values():
        arguments = [
            Number(60) if a == NUMBER_ARGUMENT else Quoted(a.choices[0]) for a in function.arguments
        ]
        expr = Call(function.name, (lookups, *arguments))
        if formulas.FUNCTIONS[function.name] is not None:
            assert formulas.combine(expr, results.__getitem__, [10.0, 10.0])
        else:
            with pytest.raises(
                PreviewError, match=rf"{function.name}\(\) is not evaluated locally"
            ):
                formulas.combine(expr, results.__getitem__, [10.0, 10.0])


def test_every_operator_and_aggregator_has_an_evaluator() -> None:
    assert set(formulas.OPERATORS) == set(PRECEDENCE)
    # Every aggregator over a histogram's merged buckets; all but percentiles over numbers.
    assert set(evaluate.OF_BUCKETS) == set(SPACE_AGGREGATORS)
    assert set(evaluate.OF_VALUES) == set(SPACE_AGGREGATORS) - PERCENTILES
    assert all(evaluate.OF_VALUES[m] is not None for m in ROLLUP_METHODS)


def test_every_modifier_has_an_entry_and_one_not_evaluated_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(evaluate.MODIFIERS) == {m.name for m in MODIFIERS}
    hits = SeriesView(
        catalog.REDIS_KEYSPACE_HITS, (), (Entry(0, 0.0, 100.0), Entry(1, 10.0, 150.0))
    )
    query = rate(catalog.REDIS_KEYSPACE_HITS)
    assert evaluate.evaluate(query, [hits], [Step(0, 1)]) == {(): [5.0]}
    monkeypatch.setitem(evaluate.MODIFIERS, "as_rate", False)  # type: ignore[index]
    with pytest.raises(PreviewError, match=r"\.as_rate\(\) is not evaluated locally"):
        evaluate.evaluate(query, [hits], [Step(0, 1)])
    monkeypatch.setitem(evaluate.OF_VALUES, "sum", None)  # type: ignore[index]
    with pytest.raises(PreviewError, match="the aggregator sum is not evaluated locally"):
        evaluate.evaluate(query, [hits], [Step(0, 1)])


def test_the_query_docs_name_every_word_of_the_grammar() -> None:
    text = (Path(__file__).parents[1] / "docs" / "queries.md").read_text()
    words = set(re.findall(r"[a-z_0-9]+", text))
    for word in (*FUNCTIONS, *SPACE_AGGREGATORS, *ROLLUP_METHODS, *TIME_AGGREGATIONS):
        assert word in words, f"docs/queries.md does not name {word}"
    assert all(f".{m.name}(" in text for m in MODIFIERS)
    drawn = sorted(n for n, f in formulas.FUNCTIONS.items() if f is not None)
    listed = ", ".join(f"`{n}`" for n in drawn[:-1]) + f" and `{drawn[-1]}`"
    assert f"The preview draws {listed};" in " ".join(text.split())
