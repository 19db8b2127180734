"""Index suggestions: Equality, Sort, Range; skipped when an index already serves them;
merged per collection."""

from __future__ import annotations

from typing import Any

from obs.index_check.suggest import Need, merged_suggestions, served_by, suggest
from obs.mongo_queries.shape import shape_of


def keys(command: dict[str, Any], existing: list[Any] | None = None) -> list[Any]:
    shape = shape_of("app", command)
    assert shape is not None
    return [s.keys for s in suggest(shape, existing or [])]


def test_esr_order() -> None:
    # MongoDB's ESR page example: manufacturer = Ford, cost > 10000, sort by model
    command = {
        "find": "cars",
        "filter": {"cost": {"$gt": 10000}, "manufacturer": "Ford"},
        "sort": {"model": 1},
    }
    assert keys(command) == [(("manufacturer", 1), ("model", 1), ("cost", 1))]


def test_in_is_equality_alone_and_range_with_a_sort() -> None:
    alone = {"find": "u", "filter": {"b": {"$in": [1, 2]}, "a": {"$lt": 3}}}
    assert keys(alone) == [(("b", 1), ("a", 1))]
    sorted_ = {"find": "u", "filter": {"b": {"$in": [1, 2]}, "s": 1}, "sort": {"t": -1}}
    assert keys(sorted_) == [(("s", 1), ("t", -1), ("b", 1))]


def test_ne_nin_regex_are_ranges() -> None:
    command = {
        "find": "u",
        "filter": {"z": 1, "a": {"$ne": 1}, "b": {"$nin": [1]}, "c": {"$regex": "^x"}},
    }
    assert keys(command) == [(("z", 1), ("a", 1), ("b", 1), ("c", 1))]


def test_existing_prefix_serves_the_suggestion() -> None:
    command = {"find": "u", "filter": {"a": 1, "b": 2}, "sort": {"t": -1}}
    assert keys(command, [(("b", 1), ("a", 1), ("t", -1), ("x", 1))]) == []
    assert keys(command, [(("b", -1), ("a", 1), ("t", 1))]) == []  # order reversed as a whole
    assert keys(command, [(("a", 1), ("t", -1))]) == [(("a", 1), ("b", 1), ("t", -1))]
    assert keys({"find": "u", "filter": {"_id": 3}}) == []


def test_served_by_checks_sort_direction_as_a_whole() -> None:
    need = Need("u", frozenset(), (("a", 1), ("b", -1)), frozenset())
    assert served_by(need, (("a", -1), ("b", 1)))
    assert not served_by(need, (("a", 1), ("b", 1)))


def test_or_branches_get_their_own_index() -> None:
    command = {"find": "u", "filter": {"$or": [{"a": 1}, {"b": {"$gt": 2}}]}}
    assert keys(command) == [(("a", 1),), (("b", 1),)]


def test_merge_per_collection() -> None:
    needs = [
        Need("users", frozenset({"status"}), (), frozenset()),
        Need("users", frozenset({"status", "tier"}), (("createdAt", -1),), frozenset()),
        Need("users", frozenset({"tier"}), (), frozenset()),  # conflicts with status first
        Need("logs", frozenset({"level"}), (), frozenset()),
        Need("logs", frozenset({"level"}), (), frozenset()),
        Need("logs", frozenset(), (), frozenset({"level"})),
    ]
    assert [(s.collection, s.keys) for s in merged_suggestions(needs)] == [
        ("logs", (("level", 1),)),
        ("users", (("status", 1), ("tier", 1), ("createdAt", -1))),
        ("users", (("tier", 1),)),
    ]


def test_sort_prefix_merges() -> None:
    needs = [
        Need("t", frozenset({"u"}), (("at", -1),), frozenset()),
        Need("t", frozenset({"u"}), (("at", -1),), frozenset({"amount"})),
        Need("t", frozenset({"u"}), (), frozenset()),
    ]
    assert [s.keys for s in merged_suggestions(needs)] == [(("u", 1), ("at", -1), ("amount", 1))]
