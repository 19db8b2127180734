"""The agent's MongoDB collectors, against SecantusDB and recorded real-mongod documents
(tests/fixtures/mongod) for the fields SecantusDB lacks."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import json_util

from obs import catalog
from obs.agent.collectors.mongo import APP_NAME, server_attributes
from obs.agent.collectors.mongo_currentop import CurrentOpCollector
from obs.agent.collectors.mongo_plans import PlanCache
from obs.agent.collectors.mongo_profile import ProfileCollector, command_of
from obs.agent.collectors.mongo_stats import StatsCollector
from obs.agent.collectors.mongo_status import ServerStatusCollector
from obs.agent.points import Collected, Point
from obs.catalog import attr
from obs.mongo_queries.shape import shape_of
from support.servers import MongoServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

FIXTURES = Path(__file__).parent / "fixtures" / "mongod"
TARGET = {attr.SERVER_ADDRESS: "mongo1", attr.SERVER_PORT: 27017}


def fixture(name: str) -> Any:
    return json_util.loads((FIXTURES / name).read_text())


def values(collected: Collected, metric: catalog.Metric) -> dict[tuple[Any, ...], float]:
    """{attribute values other than the target's: value} of one metric's readings."""
    out = {}
    for point in collected.readings:
        if point.metric is metric:
            key = tuple(v for k, v in point.attributes if k not in TARGET)
            out[key] = point.value
    return out


@pytest.fixture
def client(mongo: MongoServer) -> Iterator[Any]:
    c: Any = pymongo.MongoClient(mongo.uri, appname=APP_NAME)
    yield c
    c.close()


@pytest.fixture
def app_db(mongo: MongoServer) -> Iterator[Any]:
    """A fresh database of users with an email index, profiled at level 2 by the test
    (the agent never sets it unless asked)."""
    user: Any = pymongo.MongoClient(mongo.uri)
    name = f"app_{uuid.uuid4().hex[:8]}"
    db = user[name]
    db.users.insert_many([{"email": f"u{i}", "age": i} for i in range(30)])
    db.users.create_index("email")
    db.command("profile", 2)
    yield db
    db.command("profile", 0)
    user.drop_database(name)
    user.close()


# --- serverStatus -------------------------------------------------------------------


def test_server_status_of_a_real_mongod_document() -> None:
    status = fixture("serverStatus.json")
    collector = ServerStatusCollector(None, TARGET)
    first = collector.measure(status)
    assert values(first, catalog.MONGODB_OPERATION_COUNT) == {
        ("insert",): 405822,
        ("query",): 94,
        ("update",): 21,
        ("delete",): 46793,
        ("getmore",): 683559,
        ("command",): 804106,
    }
    assert values(first, catalog.MONGODB_CONNECTION_COUNT) == {
        ("current",): 12,
        ("available",): 838848,
        ("active",): 4,
    }
    assert values(first, catalog.MONGO_SCANNED_KEYS) == {(): 1203871}
    assert values(first, catalog.MONGO_SCANNED_OBJECTS) == {(): 9845120}
    assert values(first, catalog.MONGO_SERVER_COLLECTION_SCANS) == {(): 815}
    assert values(first, catalog.MONGO_SCAN_AND_ORDER) == {(): 37}
    assert values(first, catalog.MONGO_WIREDTIGER_CACHE) == {
        ("used",): 734003200,
        ("dirty",): 12582912,
        ("max",): 1073741824,
    }
    # First reading: latency since the server started (µs per operation).
    latency = values(first, catalog.MONGODB_OPERATION_LATENCY)
    assert latency[("read",)] == pytest.approx(292772677 / 683576)
    assert latency[("write",)] == pytest.approx(428259242 / 499392)

    # 15 s later: 1,000 more reads that took 250 ms in all; no writes; commands as before.
    later = copy.deepcopy(status)
    later["localTime"] += timedelta(seconds=15)
    later["uptimeMillis"] += 15000
    later["opLatencies"]["reads"]["latency"] += 250_000
    later["opLatencies"]["reads"]["ops"] += 1000
    second = collector.measure(later)
    assert values(second, catalog.MONGODB_OPERATION_LATENCY) == {("read",): 250.0}

    # After a restart the totals start again: the new totals are the interval's.
    restarted = copy.deepcopy(later)
    restarted["uptimeMillis"] = 5000
    restarted["opLatencies"]["reads"] = {"latency": 3000, "ops": 10}
    third = collector.measure(restarted)
    assert values(third, catalog.MONGODB_OPERATION_LATENCY)[("read",)] == 300.0
    restart_epochs = {p.epoch for p in third.readings if p.metric.kind is catalog.Kind.COUNTER}
    assert restart_epochs != {p.epoch for p in second.readings if p.epoch}


def test_server_status_from_secantusdb_uses_what_it_has(client: Any) -> None:
    collected = ServerStatusCollector(client, TARGET).collect()
    counts = values(collected, catalog.MONGODB_OPERATION_COUNT)
    status = client.admin.command("serverStatus")
    assert counts[("insert",)] == status["opcounters"]["insert"]
    assert counts[("command",)] >= 1
    assert values(collected, catalog.MONGODB_CONNECTION_COUNT)[("current",)] >= 1
    # SecantusDB has no opLatencies and no WiredTiger cache section: nothing is invented.
    assert not values(collected, catalog.MONGODB_OPERATION_LATENCY)
    assert not values(collected, catalog.MONGO_WIREDTIGER_CACHE)


# --- currentOp ------------------------------------------------------------------------


def test_current_op_counts_slow_client_operations_only() -> None:
    collected = CurrentOpCollector(None, TARGET, threshold=1.0).measure(fixture("currentOp.json"))
    # The 42 s find and the 3 s update; not the fast find, the agent's own currentOp, the
    # long-polling hello, the tailable getMore or the TTL monitor thread.
    assert values(collected, catalog.MONGO_SLOW_OPERATIONS) == {
        ("app", "find"): 1,
        ("app", "update"): 1,
    }
    assert values(collected, catalog.MONGO_OLDEST_OPERATION_AGE) == {(): pytest.approx(42.310551)}


def test_current_op_from_secantusdb(client: Any) -> None:
    collected = CurrentOpCollector(client, TARGET, threshold=1.0).collect()
    assert values(collected, catalog.MONGO_SLOW_OPERATIONS) == {}
    assert values(collected, catalog.MONGO_OLDEST_OPERATION_AGE)[()] < 1.0


# --- system.profile -------------------------------------------------------------------


def durations(collected: Collected) -> list[dict[str, Any]]:
    return [
        {**dict(p.attributes), "seconds": p.value}
        for p in collected.observations
        if p.metric is catalog.MONGO_PROFILED_DURATION
    ]


def unused_plans(explain: Any = None, per_minute: int = 0) -> PlanCache:
    def refuse(database: str, command: Any) -> Any:
        raise AssertionError("no explain expected")

    return PlanCache(explain or refuse, per_minute)


def test_profile_entries_of_a_real_mongod_use_plan_summary_and_statement_updates() -> None:
    collector = ProfileCollector(None, TARGET, unused_plans())
    entries = [fixture(f) for f in ("profile_find_ixscan.json", "profile_getmore.json")]
    entries.append(fixture("profile_update_collscan.json"))
    collected = collector.measure(entries)
    assert [
        (d["db.operation.name"], d["obs.mongo.plan"], d["seconds"]) for d in durations(collected)
    ] == [
        ("find", "IXSCAN", 69.132),
        ("getMore", "IXSCAN", 69.132),
        ("update", "COLLSCAN", 164.687),
    ]
    assert {d["db.namespace"] for d in durations(collected)} == {"test"}
    assert {d["db.collection.name"] for d in durations(collected)} == {"report"}
    # The update's collection scan counts under the shape of the whole update command.
    update = command_of(entries[2])
    assert update == {"update": "report", "updates": [entries[2]["command"]]}
    shape = shape_of("test", update)
    assert shape is not None
    scans = [p for p in collected.readings if p.metric is catalog.MONGO_COLLECTION_SCANS]
    assert [dict(p.attributes)[attr.QUERY_SHAPE_ID] for p in scans] == [shape.fingerprint]
    assert dict(scans[0].attributes)[attr.QUERY_SHAPE] == shape.text
    assert "25000" not in shape.text  # values masked
    assert "$rename" in shape.text  # structure kept


def test_profile_without_plan_summary_infers_scans_from_examined_counts() -> None:
    entry = fixture("profile_update_collscan.json")
    del entry["planSummary"]
    collected = ProfileCollector(None, TARGET, unused_plans()).measure([entry])
    assert durations(collected)[0]["obs.mongo.plan"] == "COLLSCAN"


def test_profile_reads_new_entries_incrementally_and_explains_each_shape_once(
    client: Any, app_db: Any
) -> None:
    list(app_db.users.find({"age": {"$gt": 100}}))  # before the agent: not counted
    explained: list[Any] = []

    def explain(database: str, command: Any) -> Any:
        explained.append(command)
        return client[database].command(command)

    collector = ProfileCollector(
        client, TARGET, PlanCache(explain, per_minute=60), databases=[app_db.name], batch=1000
    )
    assert collector.collect().observations == ()  # the first run only finds its place

    for age in (10, 20, 25):  # one shape, three values
        list(app_db.users.find({"age": {"$gt": age}}))
    list(app_db.users.find({"email": "u3"}))
    first = collector.collect()
    found = [(d["db.operation.name"], d.get("obs.mongo.plan")) for d in durations(first)]
    assert found == [("find", "COLLSCAN")] * 3 + [("find", "IXSCAN")]
    assert len(explained) == 2  # one explain per shape, not per entry
    assert all(c["verbosity"] == "queryPlanner" for c in explained)
    scans = {dict(p.attributes)[attr.QUERY_SHAPE]: p.value for p in first.readings}
    assert scans == {'{"find":"users","filter":{"age":{"$gt":"?"}}}': 3}

    assert durations(collector.collect()) == []  # nothing new, nothing counted twice
    list(app_db.users.find({"age": {"$lt": 3}}))
    again = collector.collect()
    assert len(durations(again)) == 1
    assert sum(p.value for p in again.readings) == 4  # scan totals keep rising


def test_profile_reading_is_capped_per_cycle_and_resumes(client: Any, app_db: Any) -> None:
    collector = ProfileCollector(client, TARGET, unused_plans(), databases=[app_db.name], batch=3)
    collector.collect()
    for i in range(7):
        app_db.users.insert_one({"email": f"new{i}"})
    sizes = [len(durations(collector.collect())) for _ in range(4)]
    assert sizes == [3, 3, 1, 0]


def test_explains_are_rate_limited(client: Any, app_db: Any) -> None:
    calls = []

    def explain(database: str, command: Any) -> Any:
        calls.append(command)
        return client[database].command(command)

    collector = ProfileCollector(
        client, TARGET, PlanCache(explain, per_minute=1), databases=[app_db.name]
    )
    collector.collect()
    list(app_db.users.find({"age": 1}))
    list(app_db.users.find({"email": "x", "age": {"$gt": 1}}))
    plans = [d.get("obs.mongo.plan") for d in durations(collector.collect())]
    assert len(calls) == 1
    assert plans == ["COLLSCAN", None]  # the second shape waits for a token


def test_the_agent_never_changes_the_profiler_unless_asked(mongo: MongoServer, app_db: Any) -> None:
    from obs.agent.app import collect_once
    from obs.agent.config import load
    from obs.lifecycle.providers import Resource

    app_db.command("profile", 0)
    config = load(flags={"mongo": [mongo.uri]}, environ={"OBS_AGENT_LISTEN": ""})
    collect_once(config, Resource.create({}))
    assert app_db.command("profile", -1)["was"] == 0

    asked = load(
        flags={"mongo": [mongo.uri]},
        environ={"OBS_AGENT_MONGO_PROFILER_LEVEL": "1", "OBS_AGENT_LISTEN": ""},
    )
    collect_once(asked, Resource.create({}))
    assert app_db.command("profile", -1)["was"] == 1


# --- collStats / $indexStats ----------------------------------------------------------


def test_collection_and_index_stats(client: Any, app_db: Any) -> None:
    app_db.users.create_index("age")
    list(app_db.users.find({"email": "u1"}).hint("email_1"))
    collected = StatsCollector(client, TARGET, databases=[app_db.name]).collect()
    stats = app_db.command("collStats", "users")
    name = app_db.name
    assert values(collected, catalog.MONGO_COLLECTION_DOCUMENTS) == {("users", name): 30}
    assert values(collected, catalog.MONGO_COLLECTION_SIZE) == {("users", name): stats["size"]}
    sizes = values(collected, catalog.MONGO_INDEX_SIZE)
    assert sizes == {("users", name, k): v for k, v in stats["indexSizes"].items()}
    accesses = {
        row["name"]: row["accesses"]["ops"] for row in app_db.users.aggregate([{"$indexStats": {}}])
    }
    assert values(collected, catalog.MONGO_INDEX_ACCESSES) == {
        ("users", name, k): v for k, v in accesses.items()
    }
    unused = sum(1 for k, v in accesses.items() if k != "_id_" and not v)
    assert values(collected, catalog.MONGO_UNUSED_INDEXES) == {("users", name): unused}


def test_target_attributes_come_from_the_uri_without_credentials() -> None:
    assert server_attributes("mongodb://app:pw@db1:27018,db2:27019/?replicaSet=rs") == {
        attr.SERVER_ADDRESS: "db1",
        attr.SERVER_PORT: 27018,
    }


def test_points_reject_undeclared_attributes() -> None:
    with pytest.raises(ValueError, match="does not declare"):
        Point.of(catalog.MONGO_SCANNED_KEYS, 1, {"db.namespace": "app"})


def test_a_failing_explain_costs_only_its_shape_for_the_ttl(
    client: Any, app_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The profiler's read position has moved on: the batch must still be measured."""
    calls: list[Any] = []
    now = [1000.0]

    def explain(database: str, command: Any) -> Any:
        calls.append(command)
        if command["explain"].get("filter", {}).get("email"):
            return client[database].command(command)
        raise pymongo.errors.OperationFailure("not authorized on app to explain", code=13)

    plans = PlanCache(explain, per_minute=60, ttl=600, clock=lambda: now[0])
    collector = ProfileCollector(client, TARGET, plans, databases=[app_db.name])
    collector.collect()
    for age in (1, 2):
        list(app_db.users.find({"age": {"$gt": age}}))
    list(app_db.users.find({"email": "u3"}))
    first = collector.collect()
    assert [d["obs.mongo.plan"] for d in durations(first)] == ["UNKNOWN", "UNKNOWN", "IXSCAN"]
    assert len(calls) == 2  # the failure is cached for its shape like a plan
    assert plans.failures == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "code 13" in warnings[0]
    assert "$gt" not in warnings[0]  # nothing of the query itself

    list(app_db.users.find({"age": {"$gt": 3}}))
    assert [d["obs.mongo.plan"] for d in durations(collector.collect())] == ["UNKNOWN"]
    assert len(calls) == 2
    now[0] += 601  # the TTL ran out: explained again
    list(app_db.users.find({"age": {"$gt": 4}}))
    collector.collect()
    assert len(calls) == 3
    assert plans.failures == 2


def test_a_collection_dropped_after_listing_is_skipped(client: Any, app_db: Any) -> None:
    app_db.gone.insert_one({"x": 1})

    class DroppedMeanwhile(StatsCollector):
        def collections(self) -> Iterator[tuple[str, str]]:
            listed = list(super().collections())
            assert (app_db.name, "gone") in listed
            app_db.drop_collection("gone")  # between listCollections and collStats
            return iter(listed)

    collected = DroppedMeanwhile(client, TARGET, databases=[app_db.name]).collect()
    assert values(collected, catalog.MONGO_COLLECTION_DOCUMENTS) == {("users", app_db.name): 30}
