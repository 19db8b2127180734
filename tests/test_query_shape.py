"""Query shapes: one fingerprint per shape whatever the values; the parts an index serves."""

from __future__ import annotations

import doctest
import hashlib
import json

import pytest

import obs.mongo_queries.shape
from obs.mongo_queries.shape import Predicate, shape_of


def fingerprint(command: dict[str, object], database: str = "app") -> str:
    shape = shape_of(database, command)
    assert shape is not None
    return shape.fingerprint


def test_values_do_not_change_the_shape() -> None:
    a = {"find": "users", "filter": {"email": "a@b", "tier": {"$in": [1, 2, 3]}}, "limit": 5}
    b = {"find": "users", "filter": {"tier": {"$in": [9]}, "email": "z@y"}, "limit": 500}
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize(
    "other",
    [
        {"find": "users", "filter": {"email": {"$gt": "a"}}},  # operator
        {"find": "users", "filter": {"mail": "a"}},  # field
        {"find": "accounts", "filter": {"email": "a"}},  # collection
        {"find": "users", "filter": {"email": "a"}, "limit": 1},  # limit present
        {"find": "users", "filter": {"email": "a"}, "sort": {"email": -1}},  # sort
        {"count": "users", "query": {"email": "a"}},  # operation
    ],
)
def test_shape_changes_with_structure(other: dict[str, object]) -> None:
    assert fingerprint({"find": "users", "filter": {"email": "a"}}) != fingerprint(other)


def test_database_is_not_part_of_the_fingerprint() -> None:
    command = {"find": "users", "filter": {"email": "a"}}
    assert fingerprint(command, "app") == fingerprint(command, "app_test_3f2a")


def test_fingerprint_is_pinned() -> None:
    # Baselines and the agent's obs.query.shape.id attribute store fingerprints: a change
    # here makes every committed baseline entry look new.
    shape = shape_of("app", {"find": "users", "filter": {"status": "a"}, "sort": {"at": -1}})
    assert shape is not None
    assert shape.canonical() == {
        "op": "find",
        "coll": "users",
        "filter": [["status", "$eq"]],
        "or": [],
        "sort": [["at", -1]],
        "projection": [],
        "skip": False,
        "limit": False,
        "stages": [],
        "lookups": [],
    }
    body = json.dumps(shape.canonical(), sort_keys=True, separators=(",", ":"))
    assert shape.fingerprint == hashlib.sha256(body.encode()).hexdigest()[:16]
    assert shape.fingerprint == "bd413a1a99bcaf5b"


def test_equality_and_ranges() -> None:
    shape = shape_of(
        "app",
        {
            "find": "transactions",
            "filter": {"$and": [{"userId": 3}, {"amount": {"$gte": 10, "$lt": 99}}]},
            "sort": {"createdAt": -1},
        },
    )
    assert shape is not None
    assert shape.equality == ("userId",)
    assert shape.ranges == ("amount",)
    assert shape.sort == (("createdAt", -1),)


def test_or_branches_are_alternatives() -> None:
    shape = shape_of("app", {"find": "u", "filter": {"s": 1, "$or": [{"a": 1}, {"b": 2}]}})
    assert shape is not None
    assert shape.predicates == (Predicate("s", "$eq"),)
    assert shape.alternatives == ((Predicate("a", "$eq"),), (Predicate("b", "$eq"),))


def test_only_leading_stages_are_the_query_part() -> None:
    shape = shape_of(
        "app",
        {
            "aggregate": "clicks",
            "pipeline": [
                {"$match": {"campaignId": 1}},
                {"$match": {"ts": {"$gt": 5}}},
                {"$sort": {"ts": -1}},
                {"$group": {"_id": "$userRef", "n": {"$sum": 1}}},
                {"$match": {"n": {"$gt": 3}}},
                {"$sort": {"n": -1}},
                {"$limit": 10},
            ],
            "cursor": {},
        },
    )
    assert shape is not None
    assert shape.equality == ("campaignId",)
    assert shape.ranges == ("ts",)  # the $match after $group filters groups, not documents
    assert shape.sort == (("ts", -1),)
    assert not shape.has_limit
    assert (
        shape.summary
        == "aggregate clicks {campaignId, ts $gt} sort {ts: -1} $group $match $sort $limit"
    )


def test_lookup_shapes_join_field_and_expr_correlation() -> None:
    shape = shape_of(
        "app",
        {
            "aggregate": "transactions",
            "pipeline": [
                {"$match": {"userId": 3}},
                {
                    "$lookup": {
                        "from": "payouts",
                        "localField": "txId",
                        "foreignField": "transactionId",
                        "as": "p",
                    }
                },
                {
                    "$lookup": {
                        "from": "users",
                        "let": {"u": "$userId"},
                        "pipeline": [
                            {
                                "$match": {
                                    "$expr": {
                                        "$and": [
                                            {"$eq": ["$_id", "$$u"]},
                                            {"$gt": [5, "$age"]},
                                            {"$eq": ["$a", "$b"]},
                                        ]
                                    }
                                }
                            }
                        ],
                        "as": "u",
                    }
                },
            ],
            "cursor": {},
        },
    )
    assert shape is not None
    assert shape.stages == ("$match", "$lookup:payouts", "$lookup:users")
    payouts, users = shape.lookups
    assert payouts.namespace == "app.payouts"
    assert payouts.equality == ("transactionId",)
    assert users.equality == ("_id",)
    # {$gt: [5, "$age"]} is age < 5; field-against-field stays opaque
    assert Predicate("age", "$expr.$lt") in users.predicates
    assert Predicate("$expr", "$expr") in users.predicates


def test_writes_and_non_queries() -> None:
    update = shape_of("app", {"update": "users", "updates": [{"q": {"a": 1}, "u": {}}]})
    assert update is not None
    assert update.equality == ("a",)
    assert shape_of("app", {"insert": "users", "documents": [{}]}) is None
    assert shape_of("app", {"getMore": 123, "collection": "users"}) is None
    assert shape_of("app", {"explain": {"find": "users"}}) is None


def test_summary_is_short_and_masked() -> None:
    filter_ = {f"field_{i}": f"secret-{i}" for i in range(40)}
    shape = shape_of("app", {"find": "users", "filter": filter_})
    assert shape is not None
    assert len(shape.summary) <= 160
    assert "secret" not in shape.summary
    assert "secret" not in shape.text


def test_docstring_examples() -> None:
    assert doctest.testmod(obs.mongo_queries.shape).failed == 0
