"""Query smells, read from commands as pymongo sends them."""

from __future__ import annotations

import re

import pytest
from bson import Regex

from obs.instrumentation.query_smells import smells


def find(**fields: object) -> dict[str, object]:
    return {"find": "users", **fields}


@pytest.mark.parametrize(
    ("name", "command", "expected"),
    [
        ("find", find(filter={"email": "a"}, limit=1, singleBatch=True), ()),
        ("find", find(filter={"_id": 5}), ()),
        ("find", find(filter={"_id": {"$in": [1, 2]}}), ()),
        ("find", find(filter={}), ("unbounded_find",)),
        ("find", find(filter={"_id": {"$gt": 5}}), ("unbounded_find",)),
        ("find", find(filter={"status": "a"}, limit=20, skip=999), ()),
        ("find", find(filter={"status": "a"}, limit=20, skip=1000), ("large_skip",)),
        ("find", find(filter={"name": {"$regex": "^ann"}}, limit=5), ()),
        ("find", find(filter={"name": {"$regex": "ann"}}, limit=5), ("unanchored_regex",)),
        ("find", find(filter={"name": Regex("ann", "i")}, limit=5), ("unanchored_regex",)),
        ("find", find(filter={"name": re.compile(r"\Aann")}, limit=5), ()),
        (
            "find",
            find(filter={"$or": [{"a": 1}, {"n": {"$regex": "x"}}]}, limit=1),
            ("unanchored_regex",),
        ),
        ("find", find(filter={"tags": {"$in": [re.compile("x")]}}, limit=1), ("unanchored_regex",)),
        ("find", find(filter={"$where": "this.a > 1"}, limit=1), ("where",)),
        (
            "aggregate",
            {
                "aggregate": "logs",
                "pipeline": [{"$match": {"m": {"$regex": "err"}}}, {"$skip": 5000}],
            },
            ("unanchored_regex", "large_skip"),
        ),
        ("count", {"count": "logs", "query": {"$where": "1"}}, ("where",)),
        (
            "delete",
            {"delete": "logs", "deletes": [{"q": {"m": {"$regex": "x"}}, "limit": 0}]},
            ("unanchored_regex",),
        ),
        ("update", {"update": "u", "updates": [{"q": {"a": 1}, "u": {"$set": {"b": 2}}}]}, ()),
        ("insert", {"insert": "u", "documents": [{"$where": "not a filter"}]}, ()),
    ],
)
def test_smells(name: str, command: dict[str, object], expected: tuple[str, ...]) -> None:
    assert smells(name, command, 1000) == expected


def test_the_skip_threshold_is_configurable() -> None:
    command = find(filter={"a": 1}, limit=10, skip=200)
    assert smells("find", command, 100) == ("large_skip",)
    assert smells("find", command, 1000) == ()


def test_huge_and_deep_filters_stop_early() -> None:
    deep: dict[str, object] = {"$regex": "x"}
    for _ in range(50):
        deep = {"a": deep}
    assert smells("find", find(filter=deep, limit=1), 10) == ()
    wide = {f"f{i}": i for i in range(10_000)} | {"z": {"$regex": "x"}}
    assert smells("find", find(filter=wide, limit=1), 10) == ()
