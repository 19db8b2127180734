"""Masked statements: one shape, one text; no value ever survives masking."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from bson import ObjectId, Regex
from hypothesis import given, settings
from hypothesis import strategies as st

from obs.mongo_queries import masking
from obs.mongo_queries.masking import MAX_TEXT, masked_command, masked_text


def test_find_keeps_structure_and_drops_values() -> None:
    text = masked_text(
        {
            "find": "users",
            "filter": {"email": "ann@example.com", "status": {"$in": ["a", "b"]}},
            "sort": {"createdAt": -1},
            "projection": {"email": 1, "_id": 0},
            "skip": 40,
            "limit": 20,
            "lsid": {"id": "x"},
            "$db": "app",
            "$clusterTime": {"clusterTime": 1},
        }
    )
    assert json.loads(text) == {
        "find": "users",
        "filter": {"email": "?", "status": {"$in": ["?"]}},
        "sort": {"createdAt": -1},
        "projection": {"email": 1, "_id": 0},
        "skip": "?",
        "limit": "?",
    }


def test_in_lists_of_any_length_give_one_text() -> None:
    short = masked_text({"find": "t", "filter": {"k": {"$in": [1]}}})
    long = masked_text({"find": "t", "filter": {"k": {"$in": list(range(500))}}})
    other = masked_text({"find": "t", "filter": {"k": {"$nin": [ObjectId(), ObjectId()]}}})
    assert short == long
    assert other == '{"find":"t","filter":{"k":{"$nin":["?"]}}}'


def test_alike_documents_collapse_but_different_branches_stay() -> None:
    insert = masked_command({"insert": "logs", "documents": [{"m": "a"}, {"m": "b"}, {"m": "c"}]})
    assert insert["documents"] == [{"m": "?"}]
    either = masked_command({"find": "u", "filter": {"$or": [{"a": 1}, {"b": 2}]}})
    assert either["filter"] == {"$or": [{"a": "?"}, {"b": "?"}]}


def test_aggregation_keeps_field_paths_and_join_names() -> None:
    masked = masked_command(
        {
            "aggregate": "payouts",
            "pipeline": [
                {"$match": {"status": "paid", "note": "$5 off"}},
                {
                    "$lookup": {
                        "from": "users",
                        "localField": "uid",
                        "foreignField": "_id",
                        "as": "user",
                        "pipeline": [{"$match": {"tier": "gold"}}],
                    }
                },
                {"$group": {"_id": "$user.country", "total": {"$sum": "$amount"}}},
                {"$sort": {"total": -1}},
                {"$limit": 10},
            ],
            "cursor": {},
        }
    )
    assert masked["pipeline"] == [
        {"$match": {"status": "?", "note": "?"}},
        {
            "$lookup": {
                "from": "users",
                "localField": "uid",
                "foreignField": "_id",
                "as": "user",
                "pipeline": [{"$match": {"tier": "?"}}],
            }
        },
        {"$group": {"_id": "$user.country", "total": {"$sum": "$amount"}}},
        {"$sort": {"total": -1}},
        {"$limit": "?"},
    ]


def test_a_field_named_like_a_join_key_is_still_masked() -> None:
    masked = masked_command({"find": "mail", "filter": {"from": "ceo@corp.com", "as": "x"}})
    assert masked["filter"] == {"from": "?", "as": "?"}


def test_bson_values_are_masked() -> None:
    masked = masked_command(
        {
            "find": "events",
            "filter": {
                "_id": ObjectId(),
                "at": {"$gte": datetime.datetime(2026, 1, 1)},
                "name": Regex("^ann"),
                "tag": re.compile("x"),
                "raw": b"\x00secret",
            },
        }
    )
    assert masked["filter"] == {
        "_id": "?",
        "at": {"$gte": "?"},
        "name": "?",
        "tag": "?",
        "raw": "?",
    }


def test_getmore_keeps_its_collection() -> None:
    assert masked_command({"getMore": 123456789, "collection": "users", "batchSize": 10}) == {
        "getMore": "?",
        "collection": "users",
        "batchSize": "?",
    }


def test_long_statements_are_cut() -> None:
    command = {"find": "t", "filter": {f"field{i}": i for i in range(2000)}}
    text = masked_text(command)
    assert len(text) == MAX_TEXT
    assert text.endswith("…")


_plain = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789@._-", min_size=8, max_size=20)
# "$..." values look like field references: they must be masked in filters all the same.
_secret = st.one_of(_plain, _plain.map(lambda value: "$" + value))
_field = st.sampled_from(["email", "status", "amount", "from", "as", "key", "sort", "q", "u"])
_filters = st.recursive(
    st.dictionaries(_field, _secret, min_size=1, max_size=4),
    lambda inner: st.one_of(
        st.dictionaries(_field, inner, min_size=1, max_size=3),
        st.builds(lambda parts: {"$or": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda v: {"$in": v}, st.lists(_secret, max_size=5)),
        st.builds(lambda v: {"$gt": v}, _secret),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_filters, _secret)
def test_no_value_survives_masking(query: dict[str, object], projection_value: str) -> None:
    command = {"find": "users", "filter": query, "limit": 7, "hint": {"email": projection_value}}
    text = masked_text(command)
    for value in _strings(query) | {projection_value}:
        assert value not in text


def _strings(value: object) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def test_dollar_strings_are_values_outside_aggregation_expressions() -> None:
    masked = masked_command(
        {
            "find": "users",
            "filter": {"password": "$ecretValue", "$expr": {"$gt": ["$spent", "$limit"]}},
        }
    )
    assert masked["filter"] == {"password": "?", "$expr": {"$gt": ["$spent", "$limit"]}}
    assert masked_command({"insert": "u", "documents": [{"p": "$ecret"}]})["documents"] == [
        {"p": "?"}
    ]
    update = masked_command(
        {
            "update": "u",
            "updates": [
                {"q": {"a": "$x"}, "u": [{"$set": {"total": "$amount"}}]},  # pipeline update
                {"q": {"a": "$x"}, "u": {"$set": {"b": "$notAField"}}},  # document update
            ],
        }
    )
    assert update["updates"] == [
        {"q": {"a": "?"}, "u": [{"$set": {"total": "$amount"}}]},
        {"q": {"a": "?"}, "u": {"$set": {"b": "?"}}},
    ]


def test_literals_inside_aggregation_expressions_are_values() -> None:
    masked = masked_command(
        {
            "aggregate": "people",
            "pipeline": [
                {
                    "$graphLookup": {
                        "from": "people",
                        "startWith": "alice@example.com",  # a literal start, not a field
                        "connectFromField": "manager",
                        "connectToField": "email",
                        "as": "chain",
                        "restrictSearchWithMatch": {"team": "$ecretTeam"},
                    }
                },
                {"$graphLookup": {"from": "p", "startWith": "$boss", "as": "b"}},
                {"$project": {"tag": {"$literal": "$notAField"}, "total": "$amount"}},
                {"$search": {"text": {"query": "$earchTerm", "path": "title"}}},
                {"$documents": [{"code": "$ecret"}]},
            ],
        }
    )
    first, second, project, search, documents = masked["pipeline"]
    assert first["$graphLookup"]["startWith"] == "?"
    assert first["$graphLookup"]["restrictSearchWithMatch"] == {"team": "?"}
    assert first["$graphLookup"]["connectToField"] == "email"
    assert second["$graphLookup"]["startWith"] == "$boss"
    assert project == {"$project": {"tag": {"$literal": "?"}, "total": "$amount"}}
    assert search == {"$search": {"text": {"query": "?", "path": "?"}}}
    assert documents == {"$documents": [{"code": "?"}]}


def test_only_collection_commands_keep_their_first_value() -> None:
    assert masked_command({"usersInfo": "alice", "$db": "admin"}) == {"usersInfo": "?"}
    assert masked_command({"createUser": "bob", "pwd": "x", "roles": []}) == {
        "createUser": "?",
        "pwd": "?",
        "roles": [],
    }
    assert masked_command({"find": "users", "filter": {}})["find"] == "users"


# Shapes share a text: two commands whose skeletons are equal must mask alike, whatever
# the values. Keys include every key the masking treats apart; scalars come from a small
# pool, so generated commands often share a skeleton.
_any_key = st.sampled_from(
    [
        "find", "aggregate", "update", "getMore", "usersInfo", "collection", "filter",
        "pipeline", "updates", "q", "u", "sort", "projection", "hint", "$sort", "$in", "$gt",
        "$expr", "$match", "$lookup", "$literal", "let", "from", "as", "localField",
        "comment", "lsid", "$db", "total", "a",
    ]
)  # fmt: skip
_scalars = st.sampled_from(
    ["users", "x", "$a", "$$b", "$a.b", "", 0, 1, -1, 2, 10**12, True, False, 0.5, 1.0, None]
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.dictionaries(_any_key, inner, max_size=3),
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=2).map(tuple),
    ),
    max_leaves=10,
)
_commands = st.builds(
    lambda name, target, rest: {name: target, **rest},
    st.sampled_from(["find", "aggregate", "update", "getMore", "usersInfo"]),
    _scalars,
    st.dictionaries(_any_key, _values, max_size=4),
)


def _uncached(command: dict[str, object]) -> str:
    text = json.dumps(masked_command(command), separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@settings(max_examples=500)
@given(_commands, _commands)
def test_commands_of_one_skeleton_share_their_text(
    first: dict[str, object], second: dict[str, object]
) -> None:
    masking._TEXTS.clear()
    assert masked_text(first) == _uncached(first)
    assert masked_text(second) == _uncached(second)  # perhaps from the first's entry
    if masking._command_skeleton(first) == masking._command_skeleton(second):
        assert _uncached(first) == _uncached(second)


@settings(max_examples=300)
@given(_commands, st.data())
def test_a_command_with_other_masked_values_gets_its_own_correct_text(
    command: dict[str, object], data: st.DataObject
) -> None:
    """The cached text of a command is right for a variant whose masked scalars changed."""
    masking._TEXTS.clear()
    masked_text(command)
    variant = _vary(command, data)
    assert masked_text(variant) == _uncached(variant)


def _vary(value: object, data: st.DataObject) -> object:
    if isinstance(value, dict):
        return {k: _vary(v, data) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_vary(v, data) for v in value)
    return data.draw(_scalars) if data.draw(st.booleans()) else value


# A small alphabet, so two commands often share a skeleton or nearly do: a cache shared by
# commands whose texts differ (True against 1, a list one longer, a value moved into a
# nested document) is found.
_tiny_scalars = st.sampled_from([0, 1, -1, 2, True, False, "x", "$f", None, 1.5])
_tiny_values = st.recursive(
    _tiny_scalars,
    lambda inner: st.one_of(
        st.dictionaries(
            st.sampled_from(["a", "b", "$in", "sort", "from", "$sort", "$expr", "pipeline"]),
            inner,
            max_size=2,
        ),
        st.lists(inner, max_size=2),
        st.lists(inner, max_size=2).map(tuple),
    ),
    max_leaves=5,
)
_tiny_commands = st.builds(
    lambda target, rest: {"find": target, **rest},
    st.sampled_from(["c", "d"]),
    st.dictionaries(
        st.sampled_from(
            ["filter", "sort", "limit", "lsid", "hint", "pipeline", "collection", "let", "q"]
        ),
        _tiny_values,
        max_size=3,
    ),
)


@settings(max_examples=1000)
@given(_tiny_commands, _tiny_commands)
def test_a_cached_text_is_never_given_to_a_command_of_another_text(
    first: dict[str, object], second: dict[str, object]
) -> None:
    masking._TEXTS.clear()
    masked_text(first)
    assert masked_text(second) == _uncached(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # a key of a nested document against the same key one level up
        (
            {"find": "c", "filter": {"a": 1, "sort": {"x": 1}}},
            {"find": "c", "filter": {"a": 1}, "sort": {"x": 1}},
        ),
        # nested lists of kept strings, split differently
        (
            {"find": "c", "filter": {"a": [["$x"], "$y"]}},
            {"find": "c", "filter": {"a": [["$x", "$y"]]}},
        ),
        # True against 1 where both survive
        ({"find": "c", "sort": {"x": True}}, {"find": "c", "sort": {"x": 1}}),
        # documents of scalars are their keys alone, unless a key reads its value apart
        ({"find": "c", "filter": {"$sort": 1}}, {"find": "c", "filter": {"$sort": 5}}),
        ({"find": "c", "filter": {"$expr": "$a"}}, {"find": "c", "filter": {"$expr": "$b"}}),
        ({"find": "c", "filter": {"a": 1}}, {"find": "c", "filter": {"a": [1]}}),
        # top-level scalars are one marker, unless their key reads them apart
        ({"find": "c", "hint": "a_1"}, {"find": "c", "hint": "b_1"}),
        ({"aggregate": "c", "pipeline": "$a"}, {"aggregate": "c", "pipeline": "$b"}),
        ({"getMore": 1, "collection": "c"}, {"getMore": 1, "collection": "d"}),
    ],
    ids=[
        "nesting",
        "list lengths",
        "bool and int",
        "a $sort in a filter",
        "an expression in a filter",
        "a scalar and a list",
        "an index name",
        "a top-level expression",
        "getMore's collection",
    ],
)
def test_commands_whose_texts_differ_never_share_a_cached_text(
    first: dict[str, object], second: dict[str, object]
) -> None:
    assert _uncached(first) != _uncached(second)
    masking._TEXTS.clear()
    assert masked_text(first) == _uncached(first)
    assert masked_text(second) == _uncached(second)
    assert len(masking._TEXTS) == 2
