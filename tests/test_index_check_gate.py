"""The gate against a real database (SecantusDB): an admin API's collections with realistic
indexes, shapes with known verdicts, the baseline and the exit codes of `obs index-check`."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient

from obs.cli import main
from obs.index_check.check import check, distinct_shapes
from obs.index_check.explainer import Explainer
from obs.index_check.model import Sample, Thresholds
from obs.index_check.shapes_file import write_shapes
from support.servers import MongoServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser


@pytest.fixture(scope="module")
def seeded(mongo: MongoServer) -> Iterator[tuple[Any, str]]:
    """An admin API's collections, a little data each, the indexes an admin API would have."""
    client: Any = MongoClient(mongo.uri)
    name = f"seed_{uuid.uuid4().hex[:8]}"
    db = client[name]
    db.users.insert_many(
        [
            {
                "_id": i,
                "email": f"u{i}@example.com",
                "status": ["active", "banned"][i % 2],
                "createdAt": i,
                "age": 20 + i % 40,
                "externalId": f"x{i}",
            }
            for i in range(60)
        ]
    )
    db.transactions.insert_many(
        [{"userId": i % 10, "amount": i, "createdAt": i, "txId": i} for i in range(60)]
    )
    db.payouts.insert_many(
        [{"transactionId": i, "status": ["pending", "paid"][i % 2], "amount": i} for i in range(30)]
    )
    db.logs.insert_many([{"level": ["info", "error"][i % 2], "createdAt": i} for i in range(60)])
    db.clicks.insert_many([{"campaignId": i % 4, "userRef": f"x{i}", "ts": i} for i in range(60)])
    db.create_collection("notifications")  # exists, empty
    db.users.create_index([("email", ASCENDING)], unique=True)
    db.users.create_index([("status", ASCENDING), ("createdAt", DESCENDING)])
    db.transactions.create_index([("userId", ASCENDING), ("createdAt", DESCENDING)])
    db.payouts.create_index([("status", ASCENDING)])
    db.logs.create_index([("createdAt", DESCENDING)])
    db.clicks.create_index([("campaignId", ASCENDING), ("ts", DESCENDING)])
    db.notifications.create_index([("userId", ASCENDING)])
    yield client, name
    client.drop_database(name)
    client.close()


def lookup(from_: str, local: str, foreign: str) -> dict[str, Any]:
    return {"$lookup": {"from": from_, "localField": local, "foreignField": foreign, "as": "j"}}


def correlated(from_: str, field: str) -> dict[str, Any]:
    expr = {"$expr": {"$eq": [f"${field}", "$$ref"]}}
    return {
        "$lookup": {
            "from": from_,
            "let": {"ref": "$userId"},
            "pipeline": [{"$match": expr}],
            "as": "j",
        }
    }


INDEXED: list[dict[str, Any]] = [
    {"find": "users", "filter": {"email": "u3@example.com"}, "limit": 1},
    {"find": "users", "filter": {"_id": 4}},
    {"find": "users", "filter": {"status": "active"}, "sort": {"createdAt": -1}, "limit": 20},
    {"find": "transactions", "filter": {"userId": 3}, "sort": {"createdAt": -1}, "limit": 20},
    {"find": "clicks", "filter": {"campaignId": 1, "ts": {"$gte": 10}}},
    {"count": "users", "query": {"status": "banned"}},
    {"count": "users", "query": {}},
    {"distinct": "payouts", "key": "amount", "query": {"status": "paid"}},
    {"find": "users", "filter": {}, "limit": 10},
    {"find": "notifications", "filter": {"userId": 3}},  # empty collection, indexed field
    {"update": "users", "updates": [{"q": {"email": "u1@example.com"}, "u": {"$set": {"a": 1}}}]},
    {
        "aggregate": "transactions",
        "pipeline": [{"$match": {"userId": 3}}, lookup("users", "userId", "_id")],
        "cursor": {},
    },
    {
        "aggregate": "transactions",
        "pipeline": [{"$match": {"userId": 3}}, correlated("users", "_id")],
        "cursor": {},
    },
]
OFFENDING: list[tuple[dict[str, Any], list[str]]] = [
    ({"find": "logs", "filter": {"level": "error"}}, ["collection_scan@logs"]),
    ({"find": "users", "filter": {"age": {"$gt": 30}}, "limit": 5}, ["collection_scan@users"]),
    (
        {"find": "payouts", "filter": {"status": "pending"}, "sort": {"amount": -1}, "limit": 10},
        ["in_memory_sort@payouts"],
    ),
    ({"find": "users", "filter": {}}, ["collection_scan@users", "unbounded@users"]),
    ({"find": "notifications", "filter": {"kind": "mail"}}, ["collection_scan@notifications"]),
    (
        {
            "aggregate": "transactions",
            "pipeline": [{"$match": {"userId": 3}}, lookup("payouts", "txId", "transactionId")],
            "cursor": {},
        },
        ["collection_scan@payouts"],
    ),
    (
        {
            "aggregate": "clicks",
            "pipeline": [{"$match": {"campaignId": 2}}, lookup("users", "userRef", "externalId")],
            "cursor": {},
        },
        ["collection_scan@users"],
    ),
    (
        {
            "aggregate": "transactions",
            "pipeline": [{"$match": {"userId": 3}}, correlated("users", "age")],
            "cursor": {},
        },
        ["collection_scan@users"],
    ),
    (
        {
            "aggregate": "logs",
            "pipeline": [{"$group": {"_id": "$level", "n": {"$sum": 1}}}],
            "cursor": {},
        },
        ["collection_scan@logs"],
    ),
    (
        {"delete": "logs", "deletes": [{"q": {"level": "info"}, "limit": 0}]},
        ["collection_scan@logs"],
    ),
    ({"find": "users", "filter": {"$or": [{"email": "a"}, {"age": 3}]}}, ["collection_scan@users"]),
]


def verdicts_of(client: Any, name: str, commands: list[dict[str, Any]]) -> list[Any]:
    samples = [Sample(name, command, "test") for command in commands]
    return check(samples, Explainer(client), Thresholds())


def test_indexed_shapes_are_not_flagged(seeded: tuple[Any, str]) -> None:
    client, name = seeded
    verdicts = verdicts_of(client, name, INDEXED)
    assert len(verdicts) == len(INDEXED)
    assert {v.shape.summary: [f.evidence for f in v.findings] for v in verdicts if v.findings} == {}
    assert all(v.error is None for v in verdicts)


def test_every_scan_is_caught(seeded: tuple[Any, str]) -> None:
    client, name = seeded
    verdicts = verdicts_of(client, name, [command for command, _ in OFFENDING])
    found = {
        v.shape.summary: sorted(
            f"{f.problem.value}@{f.namespace.split('.', 1)[1]}" for f in v.findings
        )
        for v in verdicts
    }
    expected = {
        v.shape.summary: problems for v, (_, problems) in zip(verdicts, OFFENDING, strict=True)
    }
    assert found == expected


def test_suggestions_follow_esr_and_skip_existing(seeded: tuple[Any, str]) -> None:
    client, name = seeded
    commands = [command for command, _ in OFFENDING]
    suggested = {s.create_index for v in verdicts_of(client, name, commands) for s in v.suggestions}
    assert suggested == {
        'db.getCollection("logs").createIndex({ level: 1 })',
        'db.getCollection("users").createIndex({ age: 1 })',
        'db.getCollection("payouts").createIndex({ status: 1, amount: -1 })',
        'db.getCollection("notifications").createIndex({ kind: 1 })',
        'db.getCollection("payouts").createIndex({ transactionId: 1 })',
        'db.getCollection("users").createIndex({ externalId: 1 })',
    }  # no email index ($or branch): users already has one


def write_shapes_file(path: Path, name: str, commands: list[dict[str, Any]]) -> None:
    write_shapes(distinct_shapes(Sample(name, c, "t") for c in commands), path)


def run_cli(*args: Any) -> int:
    return main(["index-check", *(str(a) for a in args)])


def test_baseline_and_exit_codes(
    seeded: tuple[Any, str], mongo: MongoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, name = seeded
    shapes, baseline = tmp_path / "shapes.jsonl", tmp_path / ".obs" / "index-baseline.json"
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    write_shapes_file(shapes, name, INDEXED + [c for c, _ in OFFENDING[:3]])
    assert "u3@example.com" not in shapes.read_text()  # shapes files hold masked commands
    common = ["--mongo-uri", mongo.uri, "--shapes", shapes, "--baseline", baseline]

    assert run_cli(*common, "--junit-xml", junit, "--json-report", report) == 2
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        str(len(INDEXED) + 3),
        "3",
        "0",
    )
    body = json.loads(report.read_text())
    assert body["exit_code"] == 2
    assert sorted(s["shape"] for s in body["shapes"] if s["status"] == "new") == sorted(
        [
            "find logs {level}",
            "find users {age $gt} limit",
            "find payouts {status} sort {amount: -1} limit",
        ]
    )
    capsys.readouterr()

    assert run_cli(*common, "--update-baseline") == 0
    accepted = json.loads(baseline.read_text())["offenders"]
    assert sorted(e["collection"] for e in accepted) == ["logs", "payouts", "users"]
    assert run_cli(*common) == 0  # every offender accepted
    assert "3 accepted in the baseline" in capsys.readouterr().out

    # a new offender fails the gate alone; a shape that got worse is new too
    write_shapes_file(shapes, name, INDEXED + [c for c, _ in OFFENDING[:4]])
    assert run_cli(*common, "--format", "json") == 2
    body = json.loads(capsys.readouterr().out)
    assert [s["shape"] for s in body["shapes"] if s["status"] == "new"] == ["find users"]
    assert body["summary"]["accepted"] == 3

    # fixing an offender leaves the gate green and reports the stale entry
    client[name].logs.create_index([("level", ASCENDING)])
    try:
        write_shapes_file(shapes, name, INDEXED + [c for c, _ in OFFENDING[:3]])
        assert run_cli(*common, "--format", "json") == 0
        assert json.loads(capsys.readouterr().out)["summary"]["fixed"] == 1
    finally:
        client[name].logs.drop_index("level_1")


def test_gate_never_writes(seeded: tuple[Any, str], mongo: MongoServer, tmp_path: Path) -> None:
    client, name = seeded
    shapes = tmp_path / "shapes.jsonl"
    shapes.write_text(
        json.dumps(
            {
                "database": name,
                "command": {"delete": "logs", "deletes": [{"q": {"level": "info"}, "limit": 0}]},
            }
        )
        + "\n"
        + json.dumps(
            {
                "database": name,
                "command": {
                    "aggregate": "logs",
                    "pipeline": [{"$match": {"level": "error"}}, {"$out": "logs_copy"}],
                    "cursor": {},
                },
            }
        )
        + "\n"
    )
    before = client[name].logs.count_documents({})
    assert (
        run_cli("--mongo-uri", mongo.uri, "--shapes", shapes, "--baseline", tmp_path / "b.json")
        == 2
    )
    assert client[name].logs.count_documents({}) == before
    assert "logs_copy" not in client[name].list_collection_names()


def test_profiler_source(
    mongo: MongoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client: Any = MongoClient(mongo.uri)
    name = f"prof_{uuid.uuid4().hex[:8]}"
    db = client[name]
    try:
        db.orders.insert_many([{"sku": f"s{i}", "state": "new", "at": i} for i in range(20)])
        db.orders.create_index([("state", ASCENDING), ("at", DESCENDING)])
        db.command("profile", 2)
        db.orders.find_one({"sku": "s3"})
        list(db.orders.find({"state": "new"}).sort("at", -1).limit(5))
        # obs's own reads of the database, as a server that records no app name profiles
        # them (SecantusDB; mongod's entries carry appName too): the agent's and explains
        list(db.orders.aggregate([{"$indexStats": {}}]))
        list(db.orders.aggregate([{"$collStats": {"storageStats": {}}}]))
        db.command("explain", {"find": "orders", "filter": {"at": 3}})
        db.command("profile", 0)
        common = ["--mongo-uri", mongo.uri, "--database", name, "--baseline", tmp_path / "b.json"]
        expected = {
            "find orders {sku} limit": "new",
            "find orders {state} sort {at: -1} limit": "ok",
        }
        for window in (["--since", "1h"], []):  # without --since: the whole (capped) profiler
            code = run_cli(*common, *window, "--format", "json")
            captured = capsys.readouterr()
            body = json.loads(captured.out)
            assert code == 2
            assert {s["shape"]: s["status"] for s in body["shapes"]} == expected
            assert "of obs's own" in captured.err
    finally:
        client.drop_database(name)
        client.close()


def test_bad_input_is_one_clear_error(
    mongo: MongoServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shapes = tmp_path / "shapes.jsonl"
    shapes.write_text('{"database": "app", "command": {"find": "u"}}\n{"database": "app"}\n')
    assert run_cli("--shapes", shapes) == 1
    assert "--mongo-uri" in capsys.readouterr().err
    monkeypatch.setenv("OBS_INDEX_CHECK_URI", mongo.uri)
    assert run_cli("--shapes", shapes) == 1
    assert f'{shapes}:2: needs a "command" object' in capsys.readouterr().err

    good = tmp_path / "good.jsonl"
    good.write_text('{"database": "app", "command": {"find": "u", "filter": {"a": 1}}}\n')
    broken = tmp_path / "baseline.json"
    broken.write_text('{"version": 1, "offenders": [{"fingerprint": "x", "problems": ["nope"]}]}')
    assert run_cli("--shapes", good, "--baseline", broken) == 1
    assert f"{broken}: offenders[0]" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        run_cli("--since", "yesterday")
    assert "not a duration" in capsys.readouterr().err


def test_unreachable_database_hides_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shapes = tmp_path / "shapes.jsonl"
    shapes.write_text('{"database": "app", "command": {"find": "u", "filter": {"a": 1}}}\n')
    uri = (
        "mongodb://app:hunter2@127.0.0.1:9/?serverSelectionTimeoutMS=300&directConnection=true"
        "&authMechanismProperties=AWS_SESSION_TOKEN:t0ken-value"
        "&tlsCertificateKeyFilePassword=pem-passw0rd"
    )
    assert run_cli("--mongo-uri", uri, "--shapes", shapes, "--baseline", tmp_path / "b") == 1
    captured = capsys.readouterr()
    for secret in ("hunter2", "t0ken-value", "pem-passw0rd", "authMechanismProperties"):
        assert secret not in captured.err + captured.out
    assert "obs index-check: MongoDB at mongodb://127.0.0.1:9: ServerSelectionTimeout" in (
        captured.err
    )
    # a password whose / moves the URI's structure is named as that, not as a bad port
    unescaped = "mongodb://app:hunter2/x@127.0.0.1:9/app"
    assert run_cli("--mongo-uri", unescaped, "--shapes", shapes, "--baseline", tmp_path / "b") == 1
    captured = capsys.readouterr()
    assert "hunter2" not in captured.err + captured.out
    assert "must be percent-escaped" in captured.err


def test_unexplainable_shape_is_an_error(
    seeded: tuple[Any, str],
    mongo: MongoServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, name = seeded
    shapes = tmp_path / "shapes.jsonl"
    shapes.write_text(
        json.dumps(
            {
                "database": name,
                "command": {"find": "users", "filter": "not a document"},
            }
        )
        + "\n"
    )
    assert (
        run_cli("--mongo-uri", mongo.uri, "--shapes", shapes, "--baseline", tmp_path / "b.json")
        == 1
    )
    assert "1 not explained" in capsys.readouterr().out
