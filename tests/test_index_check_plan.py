"""Explain and profiler documents of real mongod (tests/fixtures, from MongoDB's docs and
its golden test outputs): the layouts SecantusDB does not produce."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from bson import json_util

import obs.index_check
from obs.index_check import explainer
from obs.index_check.model import Observed, Problem, Thresholds
from obs.index_check.plan import PlanFacts, read_plan
from obs.index_check.profile_source import sample_from_profile
from obs.index_check.verdict import judge
from obs.mongo_queries.shape import shape_of

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json_util.loads((FIXTURES / name).read_text())


def problems(command: dict[str, Any], facts: PlanFacts, **kwargs: Any) -> list[str]:
    shape = shape_of("test", command)
    assert shape is not None
    found = judge(
        shape,
        facts,
        kwargs.get("lookup_facts", [None] * len(shape.lookups)),
        kwargs.get("indexes", {}),
        kwargs.get("observed", ()),
        thresholds=kwargs.get("thresholds", Thresholds()),
    )
    return sorted(f"{f.problem.value}@{f.namespace}" for f in found)


RANGE = {"find": "inventory", "filter": {"quantity": {"$gte": 100, "$lte": 200}}}


def test_classic_collscan_and_ixscan() -> None:
    scan = read_plan(load("explain/analyze_collscan.json"))
    assert scan.collection_scans == ("test.inventory",)
    assert (scan.docs_examined, scan.keys_examined, scan.returned) == (10, 0, 3)
    assert problems(RANGE, scan) == ["collection_scan@test.inventory"]

    indexed = read_plan(load("explain/analyze_ixscan.json"))
    assert indexed.collection_scans == ()
    assert indexed.indexes == ("quantity_1",)
    assert indexed.summary == "FETCH > IXSCAN quantity_1"
    assert problems(RANGE, indexed) == []


def test_examined_ratio_threshold() -> None:
    indexed = read_plan(load("explain/analyze_ixscan.json"))  # 3 docs for 3 returned
    assert problems(RANGE, indexed, thresholds=Thresholds(0.5, 0.5)) == [
        "docs_examined@test.inventory",
        "keys_examined@test.inventory",
    ]
    assert problems(RANGE, indexed, thresholds=Thresholds(1.0, 1.0)) == []


def test_missing_collection_is_judged_by_its_indexes() -> None:
    facts = read_plan(load("explain/eof_nonexistent.json"))
    assert facts.missing_collection
    assert facts.collection_scans == ()
    query = {"find": "notifications", "filter": {"userId": 7}}
    assert problems(query, facts) == ["collection_scan@test.notifications"]
    with_index = {"test.notifications": [(("userId", 1), ("at", -1))]}
    assert problems(query, facts, indexes=with_index) == []
    by_id = {"find": "notifications", "filter": {"_id": 7}}
    assert problems(by_id, facts) == []  # every collection has the _id index


def test_sbe_hash_join_scans_both_joined_collections() -> None:
    facts = read_plan(load("explain/sbe_eq_lookup_hashjoin.json"))
    assert facts.collection_scans == (
        "test.basic_joins_md_foreign2",
        "test.basic_joins_md_foreign1",
        "test.basic_joins_md",
    )
    assert set(facts.joins_reported) == {
        "test.basic_joins_md_foreign1",
        "test.basic_joins_md_foreign2",
    }
    pipeline = [
        {
            "$lookup": {
                "from": f"basic_joins_md_foreign{i}",
                "as": x,
                "localField": k,
                "foreignField": k,
            }
        }
        for i, x, k in ((1, "x", "a"), (2, "y", "b"))
    ]
    command = {"aggregate": "basic_joins_md", "pipeline": pipeline, "cursor": {}}
    assert problems(command, facts) == [
        "collection_scan@test.basic_joins_md",
        "collection_scan@test.basic_joins_md_foreign1",
        "collection_scan@test.basic_joins_md_foreign2",
    ]


def test_sort_over_group_is_not_an_in_memory_query_sort() -> None:
    facts = read_plan(load("explain/sbe_sort_over_group.json"))
    assert not facts.blocking_sort
    sort_only = read_plan(
        {
            "queryPlanner": {
                "namespace": "t.c",
                "winningPlan": {
                    "stage": "SORT",
                    "inputStage": {"stage": "IXSCAN", "indexName": "a_1"},
                },
            }
        }
    )
    assert sort_only.blocking_sort


def test_classic_lookup_stats() -> None:
    facts = read_plan(load("explain/classic_lookup_stats.json"))
    assert facts.namespace == "app.transactions"
    assert facts.collection_scans == ("app.payouts",)
    assert facts.joins_reported == ("app.payouts", "app.users")
    assert facts.indexes == ("userId_1", "_id_")
    assert (facts.docs_examined, facts.returned) == (4, 4)
    command = {
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
                    "localField": "userId",
                    "foreignField": "_id",
                    "as": "u",
                }
            },
        ],
        "cursor": {},
    }
    shape = shape_of("app", command)
    assert shape is not None
    found = judge(shape, facts, [None, None], {}, (), thresholds=Thresholds())
    assert [(f.problem, f.namespace) for f in found] == [(Problem.COLLECTION_SCAN, "app.payouts")]


def test_sbe_query_plan_sort_ignores_rejected_plans() -> None:
    facts = read_plan(load("explain/sbe_queryplan_sort.json"))
    assert facts.blocking_sort
    assert facts.collection_scans == ()  # the COLLSCAN is a rejected plan
    assert facts.summary == "SORT > FETCH > IXSCAN status_1"
    command = {"find": "users", "filter": {"status": "active"}, "sort": {"age": 1}, "limit": 5}
    assert problems(command, facts, indexes={"test.users": [(("status", 1),)]}) == [
        "in_memory_sort@test.users"
    ]
    # an index giving the order after the equality field: the sort is the engine's choice
    served = {"test.users": [(("status", 1), ("age", -1))]}
    assert problems(command, facts, indexes=served) == []


def test_profiler_find_entry() -> None:
    sample = sample_from_profile(load("profile/find_ixscan.json"))
    assert sample is not None
    assert sample.database == "test"
    assert sample.command["filter"] == {"a": {"$lte": 500}}
    assert sample.observed == Observed("IXSCAN { a: 1, _id: -1 }", 101, 101, 101, False)
    command = dict(sample.command)
    empty = PlanFacts("test.report")
    assert problems(command, empty, observed=[sample.observed]) == []


def test_profiler_update_entry_is_rebuilt_and_flagged() -> None:
    sample = sample_from_profile(load("profile/update_collscan.json"))
    assert sample is not None
    assert sample.observed is not None
    assert sample.command == {
        "update": "report",
        "updates": [{"q": {}, "u": {"$rename": {"a": "b"}}, "multi": True, "upsert": False}],
    }
    assert sample.observed.plan_summary == "COLLSCAN"
    assert problems(sample.command, PlanFacts("test.report"), observed=[sample.observed]) == [
        "collection_scan@test.report"
    ]
    assert explainer.readable("test", sample.command) == {"find": "report", "filter": {}}


def test_profiler_sort_stage_and_ratio() -> None:
    seen = Observed(
        "IXSCAN { status: 1 }",
        docs_examined=50_000,
        keys_examined=50_000,
        returned=3,
        has_sort_stage=True,
    )
    command = {"find": "users", "filter": {"status": "a"}, "sort": {"age": 1}}
    assert problems(command, PlanFacts("test.users"), observed=[seen]) == [
        "docs_examined@test.users",
        "in_memory_sort@test.users",
        "keys_examined@test.users",
    ]


def test_profiler_skips_truncated_and_namespaceless_entries() -> None:
    assert (
        sample_from_profile(
            {"op": "query", "ns": "app.u", "command": {"$truncated": "{ find: ...", "comment": "x"}}
        )
        is None
    )
    assert sample_from_profile({"op": "command", "command": {"find": "u"}}) is None
    getmore = sample_from_profile(
        {
            "op": "getmore",
            "ns": "app.u",
            "command": {"getMore": 1, "collection": "u"},
            "originatingCommand": {"find": "u", "filter": {}},
        }
    )
    assert getmore is not None
    assert getmore.command == {"find": "u", "filter": {}}


def test_unbounded_find_and_bounded_scans() -> None:
    scan = PlanFacts("test.users", collection_scans=("test.users",))
    assert problems({"find": "users", "filter": {}}, scan) == [
        "collection_scan@test.users",
        "unbounded@test.users",
    ]
    assert problems({"find": "users", "filter": {}, "limit": 10}, scan) == []
    assert problems({"count": "users", "query": {}}, scan) == []
    sorted_scan = PlanFacts("test.users", collection_scans=("test.users",), blocking_sort=True)
    assert problems({"find": "users", "sort": {"age": 1}, "limit": 10}, sorted_scan) == [
        "collection_scan@test.users",
        "in_memory_sort@test.users",
    ]


def test_masked_commands_become_explainable() -> None:
    masked = {
        "find": "users",
        "filter": {
            "n": {"$regex": "?", "$options": "?"},
            "t": {"$type": "?"},
            "tags": {"$size": "?"},
        },
        "limit": "?",
        "skip": "?",
    }
    assert explainer.readable("app", masked) == {
        "find": "users",
        "filter": {
            "n": {"$regex": "^", "$options": ""},
            "t": {"$type": "string"},
            "tags": {"$size": 0},
        },
        "limit": 1,
        "skip": 1,
    }
    pipeline = {
        "aggregate": "c",
        "pipeline": [{"$match": {"a": "?"}}, {"$limit": "?"}, {"$out": "copy"}],
        "cursor": {},
    }
    assert explainer.readable("app", pipeline)["pipeline"] == [
        {"$match": {"a": "?"}},
        {"$limit": 1},
    ]


@pytest.mark.parametrize("name", [m.name for m in pkgutil.iter_modules(obs.index_check.__path__)])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"obs.index_check.{name}")
    assert doctest.testmod(module).failed == 0


class _Refusing:
    """A client whose server refuses every explain with mongod's message for a bad
    ``$size``, which quotes the value it was given."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __getitem__(self, name: str) -> Any:
        return self

    def command(self, body: Any) -> Any:
        from pymongo.errors import OperationFailure

        message = f'Failed to parse $size. Expected a number in: $size: "{self.value}"'
        raise OperationFailure(
            message, 9, {"ok": 0, "errmsg": message, "code": 9, "codeName": "FailedToParse"}
        )


def test_explain_errors_do_not_echo_the_commands_values() -> None:
    from obs.index_check import render
    from obs.index_check.baseline import Baseline, gate
    from obs.index_check.check import check
    from obs.index_check.model import Sample

    value = "unusual-value-4f2a"
    sample = Sample("app", {"find": "users", "filter": {"age": {"$size": value}}}, "t")
    verdicts = check([sample], explainer.Explainer(_Refusing(value)), Thresholds())
    assert verdicts[0].error == "FailedToParse: Failed to parse $size. Expected a number in…"
    outcome = gate(verdicts, Baseline())
    for text in (render.table(outcome), render.to_json(outcome), render.to_junit(outcome)):
        assert value not in text


def test_unreadable_files_and_thresholds_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from obs.cli import main

    good = tmp_path / "good.jsonl"
    good.write_text('{"database": "app", "command": {"find": "u", "filter": {"a": 1}}}\n')
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"database": "app", "command": {"find": "caf\xe9"}}\n')
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"database": "app", "command": ' + "[" * 100_000 + "\n")
    nested = tmp_path / "nested.jsonl"
    body = '{"$and": [' * 150 + "{}" + "]}" * 150
    nested.write_text('{"database": "app", "command": {"find": "u", "filter": ' + body + "}}\n")
    baseline_latin1 = tmp_path / "b1.json"
    baseline_latin1.write_bytes(b'{"version": 1, "offenders": [], "about": "\xff"}')
    baseline_deep = tmp_path / "b2.json"
    baseline_deep.write_text("[" * 100_000)
    uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100"  # never reached
    cases = [
        (["--shapes", latin1], f"{latin1}:1: not UTF-8 text (byte 44)"),
        (["--shapes", deep], f"{deep}:1: nested too deeply to be a command"),
        (["--shapes", nested], f"{nested}:1: nested deeper than 100 levels"),
        (["--shapes", good, "--baseline", baseline_latin1], f"{baseline_latin1}: not UTF-8"),
        (["--shapes", good, "--baseline", baseline_deep], f"{baseline_deep}: nested too deeply"),
    ]
    for args, expected in cases:
        code = main(["index-check", "--mongo-uri", uri, *(str(a) for a in args)])
        err = capsys.readouterr().err
        assert code == 1, args
        assert expected in err
        assert len(err.strip().splitlines()) == 1, err
    for bad in ("inf", "nan"):
        with pytest.raises(SystemExit):
            main(["index-check", "--shapes", str(good), "--max-docs-per-returned", bad])
        assert "not a positive finite number" in capsys.readouterr().err


class _Profiler:
    """A client whose one database's system.profile holds ``entries``."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries

    def __getitem__(self, name: str) -> Any:
        return self

    def find(self, query: Any) -> Any:
        return self

    def sort(self, *args: Any) -> list[dict[str, Any]]:
        return self.entries


def test_the_profiler_source_leaves_obs_own_operations_out() -> None:
    from obs.index_check.profile_source import read_profile

    find = {"find": "orders", "filter": {"sku": "s1"}}
    entries = [
        {"op": "query", "ns": "app.orders", "command": find, "appName": "obs-agent"},
        {"op": "query", "ns": "app.orders", "command": find, "appName": "obs index-check"},
        {
            "op": "command",
            "ns": "app.orders",
            "command": {"aggregate": "orders", "pipeline": [{"$indexStats": {}}], "cursor": {}},
        },
        {"op": "query", "ns": "app.orders", "command": find, "appName": "shop-api"},
    ]
    read = read_profile(_Profiler(entries), ["app"])
    assert (read.entries, read.own, len(read.samples)) == (4, 3, 1)
    assert read.samples[0].command == find
