"""MongoDB ``currentOp``: operations running longer than a threshold, and the oldest one.

Only client operations count: the agent's own (app name ``obs-agent``), idle slots
(``op: none``), server threads (no client), long-polling ``hello``/``isMaster`` (drivers
wait there on purpose) and tailable cursors (change streams, oplog tailing) are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from obs import catalog
from obs.agent.collectors.mongo import APP_NAME, dig, operation_name
from obs.agent.points import AttributeValue, Collected, Point
from obs.catalog import attr

_WAITING_COMMANDS = frozenset({"hello", "isMaster", "ismaster"})


def running_seconds(op: Mapping[str, Any]) -> float:
    micros = op.get("microsecs_running")
    if isinstance(micros, int | float):
        return float(micros) / 1e6
    return float(op.get("secs_running") or 0)


def counts(op: Mapping[str, Any]) -> bool:
    """True for a client operation worth reporting."""
    if not op.get("active", True) or op.get("op") in (None, "none"):
        return False
    if not op.get("client") and not str(op.get("desc", "")).startswith("conn"):
        return False  # a server thread (TTL monitor, replication, ...)
    app = op.get("appName") or dig(op, "clientMetadata", "application", "name")
    if app == APP_NAME:
        return False
    command = op.get("command") if isinstance(op.get("command"), Mapping) else {}
    if command and next(iter(command)) in _WAITING_COMMANDS:
        return False
    return not dig(op, "cursor", "tailable")


def points(
    inprog: Iterable[Mapping[str, Any]], target: Mapping[str, AttributeValue], threshold: float
) -> Iterator[Point]:
    """Slow operations per database and operation, and the oldest operation's age."""
    slow: Counter[tuple[str, str]] = Counter()
    oldest = 0.0
    for op in inprog:
        if not counts(op):
            continue
        seconds = running_seconds(op)
        oldest = max(oldest, seconds)
        if seconds >= threshold:
            database = str(op.get("ns", "")).split(".", 1)[0]
            slow[database, operation_name(op.get("op"), op.get("command"))] += 1
    for (database, operation), n in sorted(slow.items()):
        labels = {**target, attr.DB_NAMESPACE: database, attr.DB_OPERATION_NAME: operation}
        yield Point.of(catalog.MONGO_SLOW_OPERATIONS, n, labels)
    yield Point.of(catalog.MONGO_OLDEST_OPERATION_AGE, oldest, target)


class CurrentOpCollector:
    """Collects currentOp of one target."""

    def __init__(self, client: Any, target: Mapping[str, AttributeValue], threshold: float):
        self.client = client
        self.target = dict(target)
        self.threshold = threshold

    def measure(self, reply: Mapping[str, Any]) -> Collected:
        """Points of a currentOp reply (recorded or live)."""
        inprog = reply.get("inprog") or []
        return Collected(readings=tuple(points(inprog, self.target, self.threshold)))

    def collect(self) -> Collected:
        return self.measure(self.client.admin.command("currentOp", active=True))
