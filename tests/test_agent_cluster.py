"""The agent on a real Redis Cluster (three primaries started by the test): queues made by
the `bullmq` package under `{tag}` prefixes on every primary, found by SCAN on each, read
with one pipeline per primary and counted as BullMQ's own getJobCounts() counts them;
INFO of every primary; `obs agent --once` on a `redis+cluster://` URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from obs import catalog
from obs.agent.app import collect_once, redis_client
from obs.agent.collectors.bullmq import (
    COMMANDS_PER_QUEUE,
    STATES,
    BullMQCollector,
    Queue,
    ReplyError,
    discover,
)
from obs.agent.config import load
from obs.catalog import attr
from obs.lifecycle.providers import Resource
from support.bullmq_states import Layout, job_counts, make_queue, run
from support.redis_topologies import LocalCluster

pytestmark = pytest.mark.servers  # starts servers, processes or a browser


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    started = LocalCluster().start()
    yield started
    started.remove()


@pytest.fixture(scope="module")
def admin(cluster: LocalCluster) -> Iterator[Any]:
    client = cluster.client(decode_responses=True)
    yield client
    client.close()


def tags_on_every_primary(admin: Any) -> list[str]:
    """One hash tag per primary: `{t0}`-style prefixes whose slots each primary holds."""
    chosen: dict[str, str] = {}
    for n in range(1000):
        node = admin.get_node_from_key(f"{{t{n}}}")
        chosen.setdefault(node.name, f"{{t{n}}}")
        if len(chosen) == len(admin.get_primaries()):
            return sorted(chosen.values())
    raise AssertionError("no tag found for some primary")


@pytest.fixture(scope="module")
def queues(cluster: LocalCluster, admin: Any) -> list[Queue]:
    made = []
    for index, prefix in enumerate(tags_on_every_primary(admin)):
        layout = Layout(flows=0, paused=index == 1)  # BullMQ's FlowProducer refuses clusters
        run(make_queue(cluster.url, f"mail:{index}", prefix, layout))
        made.append(Queue(prefix, f"mail:{index}"))
    return made


def executed_by_primary(admin: Any) -> dict[str, int]:
    """Commands each primary has executed, INFO aside."""
    out = {}
    for node in admin.get_primaries():
        stats = admin.get_redis_connection(node).info("commandstats")
        out[node.name] = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
    return out


# What a read-only agent user needs on a cluster: redis-py's cluster client reads the
# slot map (CLUSTER SLOTS) and the command table (COMMAND) when it connects.
CLUSTER_READER_RULES = ("-@all", "+@read", "+ping", "+cluster|slots", "+command")


def test_queues_of_every_primary_are_found_and_counted(
    cluster: LocalCluster, admin: Any, queues: list[Queue]
) -> None:
    for node in cluster.nodes:  # ACL users are per node
        node_admin = node.client()
        node_admin.execute_command(
            "ACL", "SETUSER", "agent", "reset", "on", ">pw", "~*", "&*", *CLUSTER_READER_RULES
        )
        node_admin.config_resetstat()
        node_admin.close()
    client = redis_client(cluster.url.replace("://", "://agent:pw@"), timeout=5)
    assert discover(client, [q.prefix for q in queues]) == sorted(queues)
    collector = BullMQCollector(client, {}, [q.prefix for q in queues], discovery_interval=3600)
    collector.collect()  # discovery (SCAN on each primary) and connections
    before = executed_by_primary(admin)
    collected = collector.collect()
    after = executed_by_primary(admin)
    for node in admin.get_primaries():
        stats = admin.get_redis_connection(node).info("commandstats")
        refused = {k for k, v in stats.items() if v.get("rejected_calls") or v.get("failed_calls")}
        assert refused == set(), (node.name, refused)
    jobs: dict[tuple[Any, ...], dict[Any, float]] = {}
    ages, paused = {}, {}
    for point in collected.readings:
        labels = dict(point.attributes)
        if point.metric is catalog.BULLMQ_QUEUES_UNREADABLE:
            assert point.value == 0
            continue
        queue = Queue(str(labels[attr.QUEUE_PREFIX]), str(labels[attr.QUEUE_NAME]))
        if point.metric is catalog.BULLMQ_QUEUE_JOBS:
            jobs.setdefault(queue, {})[labels[attr.QUEUE_STATE]] = point.value
        if point.metric is catalog.BULLMQ_OLDEST_WAITING_AGE:
            ages[queue] = point.value
        if point.metric is catalog.BULLMQ_QUEUE_PAUSED:
            paused[queue] = point.value
    for queue in queues:
        assert jobs[queue] == run(job_counts(cluster.url, queue.name, queue.prefix)), queue
        assert set(jobs[queue]) == set(STATES)
    assert all(0 < ages[q] < 120 for q in queues)
    assert [paused[q] for q in queues] == [0, 1, 0]

    # Each primary ran exactly the commands of its own queues, plus one HMGET of the oldest
    # waiting job per queue with jobs waiting (a cluster refuses SORT's GET patterns).
    expected: dict[str, int] = {}
    for queue in queues:
        node = admin.get_node_from_key(queue.key("meta")).name
        extra = 1 if jobs[queue]["wait"] else 0
        expected[node] = expected.get(node, 0) + COMMANDS_PER_QUEUE + extra
    assert {node: after[node] - before[node] for node in after} == expected
    assert len(expected) == 3


def test_a_prefix_without_a_tag_is_read_key_by_key(cluster: LocalCluster, admin: Any) -> None:
    """BullMQ cannot run on a cluster without a `{tag}` prefix, but keys written that way
    still reach the agent: each command goes to the primary holding its key."""
    queue = Queue("plain", "spread")
    admin.hset(queue.key("meta"), "opts.maxLenEvents", "10000")
    admin.rpush(queue.key("wait"), "2", "1")
    admin.hset(queue.key("1"), mapping={"timestamp": 1_700_000_000_000, "delay": 0})
    admin.zadd(queue.key("failed"), {"3": 1})
    slots = {admin.get_node_from_key(queue.key(s)).name for s in ("meta", "wait", "failed", "1")}
    assert len(slots) > 1  # really spread over primaries
    client = redis_client(cluster.url, timeout=5)
    (state,) = [
        p.value
        for p in BullMQCollector(client, {}, ["plain"]).collect().readings
        if p.metric is catalog.BULLMQ_QUEUE_JOBS and (attr.QUEUE_STATE, "wait") in p.attributes
    ]
    assert state == 2
    from obs.agent.collectors.bullmq import read

    (read_state,) = read(client, [queue])
    assert read_state.counts["failed"] == 1
    assert read_state.oldest_waiting_since_ms == 1_700_000_000_000


def test_once_on_a_cluster_url(cluster: LocalCluster, queues: list[Queue], admin: Any) -> None:
    prefixes = ",".join(q.prefix for q in queues)
    config = load(
        flags={"redis": [cluster.url]},
        environ={"OBS_AGENT_BULLMQ_PREFIXES": prefixes, "OBS_AGENT_LISTEN": ""},
    )
    rows, errors = collect_once(config, Resource.create({}))
    assert errors == []
    names = {row["attributes"].get("bullmq.queue.name") for row in rows}
    assert {q.name for q in queues} <= names
    used = {row["attributes"]["server.port"] for row in rows if row["name"] == "redis.memory.used"}
    assert used == {node.port for node in cluster.nodes}  # INFO of every primary
    up = [row for row in rows if row["name"] == "obs.agent.up"]
    assert [(r["attributes"]["obs.target"], r["value"]) for r in up] == [(config.redis[0].label, 1)]
    assert config.redis[0].label == f"redis+cluster://127.0.0.1:{cluster.nodes[0].port}"


def test_a_plain_url_to_a_cluster_node_is_refused_clearly(cluster: LocalCluster) -> None:
    plain = f"redis://127.0.0.1:{cluster.nodes[0].port}/0"
    with pytest.raises(
        ReplyError, match=r"node of a Redis Cluster: name the target redis\+cluster"
    ):
        BullMQCollector(redis_client(plain, timeout=5), {}, ["bull"]).collect()


def test_a_cluster_has_one_database() -> None:
    from obs.agent.config import ConfigError

    with pytest.raises(ConfigError, match="only database 0"):
        load(flags={"redis": ["redis+cluster://10.0.0.1:7000/3"]}, environ={})


def test_the_slot_map_is_read_again_through_redis_py_internals(admin: Any) -> None:
    from obs.internals import redis_py

    def slot_reads() -> int:
        total = 0
        for node in admin.get_primaries():
            stats = admin.get_redis_connection(node).info("commandstats")
            total += sum(int(v["calls"]) for k, v in stats.items() if "cluster|slots" in k)
        return total

    before = slot_reads()
    redis_py.reload_slots(admin)
    assert slot_reads() > before
