"""Masked statements: one shape, one text; no value ever survives masking."""

from __future__ import annotations

import datetime
import json
import re

from bson import ObjectId, Regex
from hypothesis import given, settings
from hypothesis import strategies as st

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
