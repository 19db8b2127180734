"""pymongo instrumentation against a real MongoDB-wire server (SecantusDB), asserting on what
reached the OTLP receiver."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pymongo
import pytest
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pymongo import AsyncMongoClient, MongoClient, monitoring

import obs
from obs import catalog
from obs.instrumentation import pymongo as listener
from obs.internals import InternalsChanged, pymongo_driver
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver, Point
from support.pools import hold_the_only_connection
from support.servers import MongoServer
from support.waiting import wait_for

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]
DURATION = "db.client.operation.duration"


@pytest.fixture
def client(mongo: MongoServer) -> Iterator[Callable[..., MongoClient[Any]]]:
    """Makes clients (after obs.init(), as the listeners require) and closes them."""
    made: list[MongoClient[Any]] = []

    def make(**options: Any) -> MongoClient[Any]:
        c: MongoClient[Any] = MongoClient(mongo.uri, **options)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def durations(otlp: GrpcReceiver, **match: Any) -> list[Point]:
    return [
        p for p in otlp.points(DURATION) if all(p.attributes.get(k) == v for k, v in match.items())
    ]


def latest_pool_value(otlp: GrpcReceiver, pool: str, name: str, **match: Any) -> float | None:
    """The last exported value of a pool metric of ``pool`` whose attributes match."""
    found = [
        p
        for p in otlp.points(name)
        if p.attributes.get("db.client.connection.pool.name") == pool
        and all(p.attributes.get(k) == v for k, v in match.items())
    ]
    return found[-1].value if found else None


def count(points: list[Point]) -> int:
    return sum(p.count or 0 for p in points)


def test_commands_are_measured_with_semantic_convention_attributes(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    mongo: MongoServer,
) -> None:
    start_obs()
    users = client().shop_a.users
    users.insert_one({"email": "ann@example.com", "tier": 1})
    for _ in range(3):
        users.find_one({"email": "ann@example.com"})
    users.update_one({"email": "ann@example.com"}, {"$set": {"tier": 2}})
    list(users.aggregate([{"$match": {"tier": 2}}]))
    users.delete_many({"tier": 5})
    assert obs.flush()

    finds = durations(
        otlp,
        **{"db.operation.name": "find", "db.collection.name": "users", "db.namespace": "shop_a"},
    )
    assert count(finds) == 3
    point = finds[0]
    assert point.unit == "s"
    assert point.attributes["db.system.name"] == "mongodb"
    assert point.attributes["server.address"] == "127.0.0.1"
    assert point.attributes["server.port"] == mongo.port
    assert "error.type" not in point.attributes
    assert point.bounds == (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
    assert 0 < point.sum < 3  # seconds, not microseconds
    for operation in ("insert", "update", "aggregate", "delete"):
        assert (
            count(durations(otlp, **{"db.operation.name": operation, "db.namespace": "shop_a"}))
            == 1
        ), operation


def test_a_failed_command_carries_error_type(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs()
    db = client().shop_b
    with pytest.raises(pymongo.errors.OperationFailure):
        db.command("noSuchCommand")
    assert obs.flush()
    failed = durations(otlp, **{"db.operation.name": "noSuchCommand"})
    assert [p.attributes["error.type"] for p in failed] == ["CommandNotFound"]
    # The server's error code, as text (OTel database semantic conventions).
    assert [p.attributes["db.response.status_code"] for p in failed] == ["59"]
    spans = otlp.spans("noSuchCommand")
    assert spans[0].status_code == 2  # ERROR
    assert spans[0].attributes["error.type"] == "CommandNotFound"
    assert spans[0].attributes["db.response.status_code"] == "59"


@pytest.mark.parametrize("readers", ["slots", "public properties"])
def test_the_listener_reads_events_either_way(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    readers: str,
) -> None:
    """What it reads by pymongo's public properties (where the slots moved) is what it
    reads by the slots: a success, a failure, their durations and spans."""
    if readers == "public properties":
        listener.COMMANDS.read_events(pymongo_driver.public_event_readers())
    try:
        start_obs()
        db = client().shop_readers
        db.users.find_one({"email": "ann@example.com"})
        with pytest.raises(pymongo.errors.OperationFailure):
            db.command("noSuchCommand")
        assert obs.flush()
    finally:
        listener.COMMANDS.read_events(pymongo_driver.event_readers())
    assert count(durations(otlp, **{"db.operation.name": "find", "db.namespace": "shop_readers"}))
    failed = durations(otlp, **{"db.operation.name": "noSuchCommand"})
    assert [p.attributes["error.type"] for p in failed] == ["CommandNotFound"]
    assert otlp.spans("find users")
    assert otlp.spans("noSuchCommand")[0].attributes["error.type"] == "CommandNotFound"


def test_a_command_naming_no_collection_exports_none(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs()
    user = f"user-{secrets.token_hex(6)}"
    db = client().shop_users
    # Servers without user management refuse it: the span is the same.
    with contextlib.suppress(pymongo.errors.OperationFailure):
        db.command("usersInfo", user)
    assert obs.flush()
    assert user.encode() not in otlp.exported()
    (span,) = otlp.spans("usersInfo")
    assert "db.collection.name" not in span.attributes
    assert json.loads(span.attributes["db.query.text"]) == {"usersInfo": "?"}
    points = durations(otlp, **{"db.operation.name": "usersInfo"})
    assert points
    assert all("db.collection.name" not in p.attributes for p in points)


def test_a_write_error_is_an_error(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs()
    users = client().shop_w.users
    users.create_index("email", unique=True)
    users.insert_one({"email": "a@example.com"})
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        users.insert_one({"email": "a@example.com"})
    assert obs.flush()
    inserts = durations(otlp, **{"db.namespace": "shop_w", "db.operation.name": "insert"})
    assert sorted(p.attributes.get("error.type", "") for p in inserts) == ["", "DuplicateKey"]
    codes = sorted(p.attributes.get("db.response.status_code", "") for p in inserts)
    assert codes == ["", "11000"]
    assert [s.status_code for s in otlp.spans("insert users")] == [0, 2]


def test_spans_carry_masked_statements_one_text_per_shape(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs()
    users = client().shop_c.users
    list(users.find({"email": "secret-ann@example.com", "tier": {"$in": [1, 2, 3]}}).limit(5))
    list(users.find({"email": "secret-bob@example.com", "tier": {"$in": [9]}}).limit(50))
    assert obs.flush()
    spans = otlp.spans("find users")
    assert len(spans) == 2
    texts = {s.attributes["db.query.text"] for s in spans}
    assert len(texts) == 1
    assert json.loads(texts.pop()) == {
        "find": "users",
        "filter": {"email": "?", "tier": {"$in": ["?"]}},
        "limit": "?",
    }
    exported = json.dumps([s.attributes for s in otlp.spans()])
    assert "secret-ann" not in exported
    assert "secret-bob" not in exported
    assert spans[0].kind == 3  # CLIENT
    assert spans[0].attributes["db.collection.name"] == "users"


def test_statements_can_be_left_out(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs(mongo_statement="off")
    client().shop_d.users.find_one({"email": "x"})
    assert obs.flush()
    (span,) = otlp.spans("find users")
    assert "db.query.text" not in span.attributes


def test_async_client_is_measured(
    start_obs: StartObs, otlp: GrpcReceiver, mongo: MongoServer
) -> None:
    start_obs()

    async def work() -> None:
        async_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo.uri)
        try:
            await async_client.shop_e.orders.insert_one({"n": 1})
            await async_client.shop_e.orders.find_one({"n": 1})
        finally:
            await async_client.close()

    asyncio.run(work())
    assert obs.flush()
    assert count(durations(otlp, **{"db.namespace": "shop_e", "db.operation.name": "find"})) == 1
    assert len(otlp.spans("insert orders")) == 1


def test_query_smells_are_counted(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs(mongo_skip_threshold=100)
    logs = client().shop_f.logs
    list(logs.find({"level": "error"}).skip(150).limit(10))  # large_skip
    list(logs.find({}))  # unbounded_find
    list(logs.find({"msg": {"$regex": "timeout"}}).limit(5))  # unanchored_regex
    # where: counted when sent, whether or not the server runs JavaScript (SecantusDB won't)
    with pytest.raises(pymongo.errors.OperationFailure):
        list(logs.find({"$where": "this.n > 1"}).limit(5))
    list(logs.find({"level": "error"}).limit(5))  # clean
    logs.find_one({"msg": {"$regex": "^timeout"}})  # clean: anchored, limit 1
    assert obs.flush()
    counted = {
        p.attributes["obs.query.smell"]: p.value
        for p in otlp.points("obs.mongo.query_smells")
        if p.attributes["db.collection.name"] == "logs"
    }
    assert counted == {"large_skip": 1, "unbounded_find": 1, "unanchored_regex": 1, "where": 1}


def _pool_gauges_hold(otlp: GrpcReceiver, pool: str, limit: int) -> None:
    latest = functools.partial(latest_pool_value, otlp, pool)
    assert latest("db.client.connection.max") == limit
    assert latest("db.client.connection.count", **{"db.client.connection.state": "used"}) == 0
    idle = latest("db.client.connection.count", **{"db.client.connection.state": "idle"})
    assert idle is not None
    assert idle >= 1
    assert latest("db.client.connection.pending_requests") == 0


def test_pool_gauges_are_read_off_the_pools_without_pool_events(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    mongo: MongoServer,
) -> None:
    status = start_obs()
    assert status["pymongo"].detail.startswith("command listener, pool gauges on")
    c = client(maxPoolSize=7)
    c.shop_g.t.insert_one({"a": 1})
    c.shop_g.t.find_one()
    assert obs.flush()
    _pool_gauges_hold(otlp, f"127.0.0.1:{mongo.port}", 7)
    # the timings are asked for separately: without them, pymongo publishes no pool event
    # to obs (a listener registered by an earlier test in this process stays switched off)
    assert otlp.points("db.client.connection.wait_time") == []
    assert otlp.points("db.client.connection.create_time") == []
    assert listener.pymongo_pool.EVENTS.snapshot() == []


def test_async_pools_are_read_too(
    start_obs: StartObs, otlp: GrpcReceiver, mongo: MongoServer
) -> None:
    start_obs()

    async def work() -> None:
        async_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo.uri, maxPoolSize=5)
        try:
            await async_client.shop_ga.t.find_one()
            assert obs.flush()
        finally:
            await async_client.close()

    asyncio.run(work())
    _pool_gauges_hold(otlp, f"127.0.0.1:{mongo.port}", 5)


def test_pool_timings_come_from_pool_events_when_asked_for(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    mongo: MongoServer,
) -> None:
    status = start_obs(mongo_pool_timings=True)
    assert "pool gauges and timings" in status["pymongo"].detail
    c = client(maxPoolSize=7)
    assert listener.pymongo_pool.EVENTS in c.options.event_listeners
    c.shop_w.t.insert_one({"a": 1})
    c.shop_w.t.find_one()
    assert obs.flush()
    pool = f"127.0.0.1:{mongo.port}"
    _pool_gauges_hold(otlp, pool, 7)  # still read off the pools, reported once
    waits = [
        p
        for p in otlp.points("db.client.connection.wait_time")
        if p.attributes["db.client.connection.pool.name"] == pool
    ]
    assert sum(p.count or 0 for p in waits) >= 2  # one checkout per operation
    assert otlp.points("db.client.connection.create_time")


@pytest.mark.parametrize("timings", [False, True], ids=["gauges", "gauges and timings"])
def test_pool_gauges_come_from_pool_events_when_the_pools_cannot_be_read(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    mongo: MongoServer,
    monkeypatch: pytest.MonkeyPatch,
    timings: bool,
) -> None:
    def moved(found: Any) -> None:
        raise InternalsChanged("pymongo", "synchronous.pool.Pool", AttributeError())

    monkeypatch.setattr(pymongo_driver, "track_pools", moved)
    status = start_obs(mongo_pool_timings=timings)
    assert status["pymongo"].detail.startswith("command listener, pool listener")
    c = client(maxPoolSize=7)
    c.shop_fb.t.insert_one({"a": 1})
    c.shop_fb.t.find_one()
    assert obs.flush()
    _pool_gauges_hold(otlp, f"127.0.0.1:{mongo.port}", 7)


def test_pool_gauges_count_checkouts_waiting_for_a_connection(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    mongo: MongoServer,
) -> None:
    start_obs()
    c = client(maxPoolSize=1, retryReads=False)
    c.shop_pw.t.insert_one({"a": 1})
    slow = hold_the_only_connection(c.shop_pw.t, 1500)
    waiting = threading.Thread(target=c.shop_pw.t.find_one)
    waiting.start()
    pending = listener.pymongo_pool.POOL_OBSERVERS[catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS]
    assert wait_for(lambda: [o.value for o in pending(CallbackOptions())] == [1], 10, 0.005)
    assert obs.flush()
    latest = functools.partial(latest_pool_value, otlp, f"127.0.0.1:{mongo.port}")
    assert latest("db.client.connection.count", **{"db.client.connection.state": "used"}) == 1
    slow.join()
    waiting.join()
    assert [o.value for o in pending(CallbackOptions())] == [0]


def test_pool_metrics_can_be_left_out(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    status = start_obs(mongo_pool=False)
    assert "pool" not in status["pymongo"].detail
    client().shop_p.t.find_one()
    assert obs.flush()
    assert count(durations(otlp, **{"db.namespace": "shop_p"})) == 1
    assert otlp.points("db.client.connection.count") == []
    assert otlp.points("db.client.connection.wait_time") == []


@pytest.mark.parametrize("timings", [False, True], ids=["read off the pools", "pool events"])
def test_two_clients_of_one_server_keep_their_pools(
    start_obs: StartObs, otlp: GrpcReceiver, mongo: MongoServer, timings: bool
) -> None:
    start_obs(mongo_pool_timings=timings)
    pool = f"127.0.0.1:{mongo.port}"
    latest = functools.partial(latest_pool_value, otlp, pool)

    first: MongoClient[Any] = MongoClient(mongo.uri, maxPoolSize=7)
    second: MongoClient[Any] = MongoClient(mongo.uri, maxPoolSize=7)
    first.shop_q.t.find_one()
    second.shop_q.t.find_one()
    assert obs.flush()
    assert latest("db.client.connection.max") == 14
    idle_both = latest("db.client.connection.count", **{"db.client.connection.state": "idle"})
    first.close()
    second.shop_q.t.find_one()
    otlp.clear()
    assert obs.flush()
    # the second client's pool survives the first one's close, with its own limit
    assert latest("db.client.connection.max") == 7
    idle_one = latest("db.client.connection.count", **{"db.client.connection.state": "idle"})
    assert idle_both is not None
    assert idle_one is not None
    assert 1 <= idle_one < idle_both
    second.close()


def test_pool_timeouts_are_counted(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
) -> None:
    start_obs(mongo_pool_timings=True)
    c = client(maxPoolSize=1, waitQueueTimeoutMS=100, retryReads=False)
    c.shop_h.t.insert_one({"a": 1})
    slow = hold_the_only_connection(c.shop_h.t, 600)
    with pytest.raises(pymongo.errors.WaitQueueTimeoutError):
        c.shop_h.t.find_one()
    slow.join()
    assert obs.flush()
    assert sum(p.value or 0 for p in otlp.points("db.client.connection.timeouts")) == 1
    failed_waits = [
        p
        for p in otlp.points("db.client.connection.wait_time")
        if p.attributes.get("error.type") == "timeout"
    ]
    assert sum(p.count or 0 for p in failed_waits) == 1


def test_traces_off_keeps_metrics(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    status = start_obs(traces=False)
    assert not status["traces"].on
    client().shop_i.t.find_one()
    assert obs.flush()
    assert count(durations(otlp, **{"db.namespace": "shop_i"})) == 1
    assert otlp.spans() == []


def test_metrics_off_keeps_spans(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs(metrics=False)
    client().shop_j.t.find_one()
    assert obs.flush()
    assert otlp.points(DURATION) == []
    assert len(otlp.spans("find t")) == 1


class _Untouchable(dict):  # type: ignore[type-arg]
    """A command that fails the test if anything copies or serialises it."""

    def copy(self) -> Any:
        raise AssertionError("the command was copied")

    def __copy__(self) -> Any:
        raise AssertionError("the command was copied")

    def __deepcopy__(self, memo: Any) -> Any:
        raise AssertionError("the command was deep-copied")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise AssertionError("the command was pickled")

    def items(self) -> Any:
        raise AssertionError("the command was serialised")


def _started(command: dict[str, Any], request_id: int) -> monitoring.CommandStartedEvent:
    return monitoring.CommandStartedEvent(command, "app", request_id, ("127.0.0.1", 1), 1)


def test_an_unsampled_command_is_neither_copied_nor_serialised(
    start_obs: StartObs, otlp: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_obs(traces_sampler="always_off")
    built: list[object] = []
    monkeypatch.setattr(listener, "masked_text", lambda c: built.append(c) or "")
    command = _Untouchable(find="users", filter={"email": "x"}, limit=1)
    listener.COMMANDS.started(_started(command, 10_001))
    listener.COMMANDS.succeeded(
        monitoring.CommandSucceededEvent(
            datetime.timedelta(microseconds=1500),
            {"ok": 1},
            "find",
            10_001,
            ("127.0.0.1", 1),
            None,
            database_name="app",
        )
    )
    assert built == []
    assert obs.flush()
    assert count(durations(otlp, **{"db.namespace": "app", "db.collection.name": "users"})) == 1
    assert obs.status().failures == {}


def test_init_twice_adds_no_second_listener_or_exporter(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    start_obs()
    first_provider = trace.get_tracer_provider()
    start_obs()
    obs.init(service_name="changed")
    assert "already ran" in caplog.text
    assert monitoring._LISTENERS.command_listeners.count(listener.COMMANDS) == 1
    assert len(first_provider._active_span_processor._span_processors) == 1
    client().shop_k.t.find_one()
    assert obs.flush()
    assert count(durations(otlp, **{"db.namespace": "shop_k"})) == 1
    assert len(otlp.spans("find t")) == 1


def test_shutdown_silences_the_listeners_and_init_brings_them_back(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs()
    c = client()
    obs.shutdown()
    c.shop_l.t.find_one()  # recorded nowhere, breaks nothing
    start_obs()
    c.shop_l.t.find_one()
    assert obs.flush()
    assert count(durations(otlp, **{"db.namespace": "shop_l"})) == 1


def test_a_span_whose_statement_fails_still_ends(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    client: Callable[..., MongoClient[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_obs()

    def broken(command: Any) -> str:
        raise ValueError("cannot mask")

    monkeypatch.setattr(listener, "masked_text", broken)
    assert client().shop_x.t.find_one({"a": 1}) is None
    assert obs.flush()
    (span,) = otlp.spans("find t")
    assert "db.query.text" not in span.attributes
    assert obs.status().failures == {"pymongo": 1}
    assert count(durations(otlp, **{"db.namespace": "shop_x"})) == 1


def test_a_processor_the_application_adds_to_obss_provider_sees_every_command(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs()
    provider: Any = trace.get_tracer_provider()
    theirs = InMemorySpanExporter()
    started: list[str] = []

    class Watching(SimpleSpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            started.append(span.name)

    c = client()
    c.shop_m.t.find_one({"a": 1})  # before: obs's processor alone
    provider.add_span_processor(Watching(theirs))
    with trace.get_tracer("app").start_as_current_span("request") as request:
        c.shop_m.t.find_one({"a": 2})
    assert obs.flush()
    (span,) = [s for s in theirs.get_finished_spans() if s.name == "find t"]
    assert started == ["request", "find t"]
    assert span.parent is not None
    assert span.parent.span_id == request.get_span_context().span_id
    assert span.attributes is not None
    assert (
        span.attributes["db.query.text"]
        == '{"find":"t","filter":{"a":"?"},"limit":"?","singleBatch":"?"}'
    )
    exported = otlp.spans("find t")
    assert len(exported) == 2  # obs's processor still gets both
    assert exported[1].parent_span_id == format(request.get_span_context().span_id, "016x")


def test_commands_in_a_request_span_are_its_children(
    start_obs: StartObs, otlp: GrpcReceiver, client: Callable[..., MongoClient[Any]]
) -> None:
    start_obs()
    c = client()
    with trace.get_tracer("app").start_as_current_span("request") as request:
        c.shop_n.t.find_one({"a": 1})
    c.shop_n.t.find_one({"a": 1})
    assert obs.flush()
    inside, outside = otlp.spans("find t")
    context = request.get_span_context()
    assert inside.trace_id == format(context.trace_id, "032x")
    assert inside.parent_span_id == format(context.span_id, "016x")
    assert outside.trace_id != inside.trace_id
    assert outside.parent_span_id == ""
