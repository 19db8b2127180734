"""Queue names reach PromQL matchers and Datadog tag filters intact: whatever the name,
the query read back (by a reader written from Prometheus' rules, and by obs's Datadog
query parser) selects that queue and nothing else."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from obs import catalog
from obs.autoscale.escaping import MAX_TAG_LENGTH, datadog_tag, datadog_tag_value, promql_string
from obs.autoscale.signals import (
    BACKLOG_STATES,
    Queue,
    backlog_datadog,
    backlog_promql,
    oldest_age_datadog,
    oldest_age_promql,
)
from obs.catalog import attr
from obs.metric_query.grammar import parse_expression
from obs.metric_query.tree import BinOp, Number, Query, Tag
from support.promql import Matcher, PromQLError, parse, selectors, unquote

NAMES = st.text(min_size=1)  # any Unicode but lone surrogates, control characters included


@given(st.text())
@example('"}) or vector(1) # ')
@example("\\x41")
@example("line\nbreak\r\t\x00\x7f\ufffd\x85\u2028\u202e\U000e0001")
def test_a_promql_string_reads_back_as_the_same_text(value: str) -> None:
    literal = promql_string(value)
    assert "\ufffd" not in literal  # what Prometheus' lexer refuses
    assert literal.isprintable()  # no line break YAML would fold, nothing invisible
    assert unquote(literal, 0) == (value, len(literal))


def test_the_reader_refuses_what_prometheus_refuses() -> None:
    """The reader is strict, so the round trip above means something."""
    for bad in ('"a\nb"', '"\ufffd"', '"a\\qb"', '"open', '"\\x4"'):
        with pytest.raises(PromQLError):
            unquote(bad, 0)


@given(prefix=NAMES, name=NAMES)
@example(prefix="{bull}", name="reports:daily:eu")
@example(prefix="bull", name='x"} or vector(1) or foo{a="')
def test_promql_selects_exactly_the_queue(prefix: str, name: str) -> None:
    queue = Queue(prefix, name)
    same_queue = (
        Matcher("bullmq_queue_prefix", "=", prefix),
        Matcher("bullmq_queue_name", "=", name),
    )
    backlog = parse(backlog_promql(queue))
    assert [(s.name, s.matchers) for s in selectors(backlog)] == [
        (
            "bullmq_queue_jobs",
            (*same_queue, Matcher("bullmq_queue_jobs_state", "=~", "|".join(BACKLOG_STATES))),
        ),
        ("obs_bullmq_queue_paused", same_queue),
    ]
    age = parse(oldest_age_promql(queue))
    assert [(s.name, s.matchers) for s in selectors(age)] == [
        ("obs_bullmq_queue_oldest_waiting_age_seconds", same_queue),
        ("obs_bullmq_queue_paused", same_queue),
    ]


KEPT = set(string.ascii_lowercase + string.digits + "_-:./")


@given(NAMES)
@example("Mail EU!")
@example("{bull}")
@example("a" * 500)
def test_a_datadog_tag_value_is_what_datadog_keeps(value: str) -> None:
    key = attr.QUEUE_NAME
    try:
        stored = datadog_tag_value(key, value)
    except ValueError:
        # Nothing left: every character was one Datadog replaces, and at the end.
        assert datadog_tag(f"{key}:{value}") == f"{key}:"
        return
    assert stored
    assert all(c in KEPT or c.isalpha() or c.isdigit() for c in stored), stored
    assert not any(c in stored for c in ",{}()! \t\n\"'")  # nothing ends a tag filter
    assert "__" not in stored
    assert not stored.endswith("_")
    assert len(f"{key}:{stored}") <= MAX_TAG_LENGTH
    assert datadog_tag_value(key, stored) == stored  # already what Datadog stores


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("exports", "exports"),
        ("reports:daily:eu", "reports:daily:eu"),  # colons are kept
        ("Reports:Daily", "reports:daily"),  # lowercased
        ("{jobs}", "_jobs"),  # a run inside becomes "_", a run at the end is dropped
        ("a  b!!c", "a_b_c"),
        ("a__b", "a_b"),  # "_" itself is in the run
        ("x/y-z.1", "x/y-z.1"),
        ("Ünïcödé", "ünïcödé"),  # letters of any script are kept
        ("1st", "1st"),  # after the key, digits may start the value
    ],
)
def test_datadog_tag_values_follow_datadogs_rules(value: str, stored: str) -> None:
    assert datadog_tag_value(attr.QUEUE_NAME, value) == stored


def test_a_tag_starts_with_a_letter_and_ends_at_200_characters() -> None:
    assert datadog_tag("12:ab") == ":ab"  # leading non-letters dropped (":" counts as one)
    assert datadog_tag("9lives") == "lives"
    long = datadog_tag("k:" + "a" * 300)
    assert len(long) == MAX_TAG_LENGTH
    with pytest.raises(ValueError, match="no character Datadog keeps"):
        datadog_tag_value(attr.QUEUE_NAME, "{}")


def _tags(query: Query) -> dict[str, str]:
    assert all(isinstance(f, Tag) and not f.negate for f in query.scope)
    return {f.key: f.value for f in query.scope if isinstance(f, Tag)}


@given(prefix=NAMES, name=NAMES)
@example(prefix="{bull}", name="reports:daily:EU")
@example(prefix="bull", name="x},!bullmq.queue.name:y,{")
def test_datadog_queries_filter_on_exactly_the_queue(prefix: str, name: str) -> None:
    queue = Queue(prefix, name)
    try:
        where = {
            attr.QUEUE_PREFIX: datadog_tag_value(attr.QUEUE_PREFIX, prefix),
            attr.QUEUE_NAME: datadog_tag_value(attr.QUEUE_NAME, name),
        }
    except ValueError:
        with pytest.raises(ValueError, match="no character Datadog keeps"):
            backlog_datadog(queue)
        return
    backlog = parse_expression(backlog_datadog(queue), catalog.by_datadog_name)
    # (max:jobs{queue,wait} + max:jobs{queue,prioritized}) * (1 - max:paused{queue})
    assert isinstance(backlog, BinOp)
    assert backlog.op == "*"
    assert backlog.left == BinOp(
        "+",
        *(
            Query(
                catalog.BULLMQ_QUEUE_JOBS,
                "max",
                tuple(Tag(k, v) for k, v in {**where, attr.QUEUE_STATE: state}.items()),
            )
            for state in BACKLOG_STATES
        ),
    )
    paused = Query(catalog.BULLMQ_QUEUE_PAUSED, "max", tuple(Tag(k, v) for k, v in where.items()))
    assert backlog.right == BinOp("-", Number(1), paused)
    age = parse_expression(oldest_age_datadog(queue), catalog.by_datadog_name)
    assert age == BinOp(
        "*",
        Query(catalog.BULLMQ_OLDEST_WAITING_AGE, "max", tuple(Tag(k, v) for k, v in where.items())),
        BinOp("-", Number(1), paused),
    )
