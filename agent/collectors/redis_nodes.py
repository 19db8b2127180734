"""The servers behind one Redis target, and what each one is.

A target is one server (``redis://``), or a Redis Cluster (``redis+cluster://``), whose
keys are spread over its primaries by slot. The collectors do not go through redis-py's
cluster command routing (they send packed pipelines of their own), so they ask here which
primaries there are and which one holds each key, and talk to each primary's own client.

A server says what it is in ``HELLO`` (no arguments: it does not switch the protocol). Any
authenticated user may send it, whereas ``INFO`` is refused to a user limited to read
commands (``+@read``), which the BullMQ collector needs no more than. Servers older than
6.2 refuse a bare ``HELLO``; they are older than 7 either way, which is all that is asked.

Example:
    >>> server_of_hello({"server": "redis", "version": "6.2.14", "mode": "standalone"})
    Server(version=(6, 2, 14), mode='standalone')
    >>> node_attributes("10.0.0.7:6380")
    {'server.address': '10.0.0.7', 'server.port': 6380}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from obs.agent.points import AttributeValue
from obs.catalog import attr
from obs.internals import redis_py


@dataclass(frozen=True)
class Server:
    """A Redis server's version and mode (``standalone``, ``cluster``, ``sentinel``)."""

    version: tuple[int, ...]
    mode: str

    @property
    def has_sort_ro(self) -> bool:
        return self.version >= (7,)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def server_of_hello(reply: Mapping[Any, Any] | Sequence[Any]) -> Server:
    """The :class:`Server` a ``HELLO`` reply describes (a map, or RESP2's flat list)."""
    if not isinstance(reply, Mapping):
        reply = dict(zip(reply[::2], reply[1::2], strict=True))
    fields = {_text(k): v for k, v in reply.items()}
    numbers = _text(fields.get("version", "")).split(".")
    version = tuple(int(n) for n in numbers if n.isdigit()) or (0,)
    return Server(version, _text(fields.get("mode", "")))


def server_of(client: Any) -> Server:
    """What the server behind ``client`` (a standalone client) is."""
    from redis.exceptions import ResponseError

    try:
        return server_of_hello(client.execute_command("HELLO"))
    except ResponseError:  # before 6.2 (HELLO needs a protocol version) or 6.0 (no HELLO)
        return Server((0,), "")


def is_cluster(client: Any) -> bool:
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def primaries(client: Any) -> list[tuple[str, Any]]:
    """``(host:port, client)`` of every primary of a cluster, or ``("", client)`` of a
    single server."""
    if not is_cluster(client):
        return [("", client)]
    nodes = sorted(client.get_primaries(), key=lambda node: node.name)
    return [(node.name, client.get_redis_connection(node)) for node in nodes]


def node_attributes(name: str) -> dict[str, AttributeValue]:
    """``server.address`` / ``server.port`` of a cluster node named ``host:port``."""
    host, _, port = name.rpartition(":")
    return {attr.SERVER_ADDRESS: host.strip("[]"), attr.SERVER_PORT: int(port)}


def route(client: Any, keys: Sequence[str]) -> list[tuple[Any, Sequence[int]]]:
    """Which server holds each of ``keys``: ``(client of the server, positions of its keys
    in keys)``, one pair per server. A single server holds them all (as a ``range``: a
    scrape keeps its positions, 13 per queue)."""
    if not is_cluster(client):
        return [(client, range(len(keys)))]
    groups: dict[str, tuple[Any, list[int]]] = {}
    for position, key in enumerate(keys):
        node = client.get_node_from_key(key)
        if node.name not in groups:
            groups[node.name] = (client.get_redis_connection(node), [])
        groups[node.name][1].append(position)
    return [(server, positions) for server, positions in groups.values()]


def refresh(client: Any) -> None:
    """Read a cluster's slot map again (after a failover or resharding); a single server
    has none."""
    if is_cluster(client):
        redis_py.reload_slots(client)
