"""The MongoDB profiler's ``system.profile``, read incrementally by ``ts`` per database.

Each run reads at most ``batch`` new entries per database, oldest first, and remembers
where it stopped: the last ``ts`` and how many entries with that ``ts`` it has already
read (several operations can share a millisecond). The first run starts at the newest
entry, so history from before the agent started is not counted (``--once`` reads the
latest ``batch`` entries instead). The agent only reads: profiling is the server's
setting (``mongo_profiler_level`` is the documented way to ask the agent to set it).

Every entry becomes one duration sample per database, collection, operation and plan;
every collection scan counts once under its query shape (fingerprint and masked text;
values never appear). The plan is ``planSummary`` when present; without it, an entry
that examined documents but no keys scanned the collection; otherwise the plan cache
explains the shape (see :mod:`obs.agent.collectors.mongo_plans`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from obs import catalog
from obs.agent.collectors.mongo import operation_name, watched_databases
from obs.agent.collectors.mongo_plans import COLLSCAN, PlanCache, plan_of_summary
from obs.agent.points import AttributeValue, Collected, Point
from obs.catalog import attr
from obs.mongo_queries.own_operations import is_obs_own
from obs.mongo_queries.shape import QueryShape, shape_of

SHAPE_TEXT_LIMIT = 256
OTHER_SHAPES = "(other shapes)"


def command_of(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The command an entry records, in the form the driver sent it.

    Profilers log some operations differently: an update or delete as its one statement
    (``{q, u, multi}``), a getMore with the query in ``originatingCommand``, old servers a
    find under ``query``.

    Example:
        >>> command_of({"op": "update", "ns": "app.users", "command": {"q": {"a": 1},
        ...             "u": {"$set": {"b": 2}}}})
        {'update': 'users', 'updates': [{'q': {'a': 1}, 'u': {'$set': {'b': 2}}}]}
    """
    op = entry.get("op")
    collection = str(entry.get("ns", "")).partition(".")[2]
    command = entry.get("command") or entry.get("query")
    if op == "getmore" and isinstance(entry.get("originatingCommand"), Mapping):
        command = entry["originatingCommand"]
    if not isinstance(command, Mapping) or not command:
        return None
    command = dict(command)
    if op == "update" and "q" in command and "update" not in command:
        return {"update": collection, "updates": [command]}
    if op == "remove" and "q" in command and "delete" not in command:
        return {"delete": collection, "deletes": [command]}
    if op == "query" and "find" not in command:
        return {"find": collection, "filter": command.get("filter", command)}
    return command


class ProfileCollector:
    """Reads the profiler of one target's databases; keeps scan totals by shape."""

    def __init__(
        self,
        client: Any,
        target: Mapping[str, AttributeValue],
        plans: PlanCache,
        *,
        databases: Sequence[str] | None = None,
        batch: int = 1000,
        backfill: bool = False,
        max_shapes: int = 1000,
    ) -> None:
        self.client = client
        self.target = dict(target)
        self.plans = plans
        self.databases = databases
        self.batch = batch
        self.backfill = backfill
        self.max_shapes = max_shapes
        self._marks: dict[str, tuple[datetime | None, int]] = {}
        self._scans: dict[tuple[str, str, str, str], int] = {}

    # --- reading --------------------------------------------------------------------

    def new_entries(self, database: str) -> list[Mapping[str, Any]]:
        """Entries added since the last run (at most ``batch``), oldest first."""
        profile = self.client[database]["system.profile"]
        mark = self._marks.get(database)
        if mark is None and not self.backfill:
            newest = list(profile.find({}, {"ts": 1}).sort("ts", -1).limit(1))
            if newest:
                ts = newest[0]["ts"]
                self._marks[database] = (ts, profile.count_documents({"ts": ts}))
            else:
                self._marks[database] = (None, 0)
            return []
        if mark is None:
            entries = list(profile.find({}).sort("ts", -1).limit(self.batch))[::-1]
        else:
            since, seen = mark
            query = {"ts": {"$gte": since}} if since is not None else {}
            found = list(profile.find(query).sort("ts", 1).limit(self.batch + seen))
            already = [e for e in found if e.get("ts") == since][:seen] if since else []
            skipped = {id(e) for e in already}
            entries = [e for e in found if id(e) not in skipped][: self.batch]
        if entries:
            last = entries[-1].get("ts")
            at_last = sum(1 for e in entries if e.get("ts") == last)
            if mark is not None and mark[0] == last:
                at_last += mark[1]
            self._marks[database] = (last, at_last)
        elif mark is None:
            self._marks[database] = (None, 0)
        return entries

    # --- measuring ------------------------------------------------------------------

    def _count_scan(self, database: str, collection: str, shape: QueryShape | None) -> None:
        fingerprint = shape.fingerprint if shape else ""
        text = (shape.text if shape else "")[:SHAPE_TEXT_LIMIT]
        key = (database, collection, fingerprint, text)
        if key not in self._scans and len(self._scans) >= self.max_shapes:
            key = (database, collection, "", OTHER_SHAPES)  # bounded memory, counts kept
        self._scans[key] = self._scans.get(key, 0) + 1

    def plan_of(
        self, entry: Mapping[str, Any], shape: QueryShape | None, command: Any
    ) -> str | None:
        summary = entry.get("planSummary")
        if isinstance(summary, str) and summary:
            return plan_of_summary(summary)
        if entry.get("keysExamined") == 0 and (entry.get("docsExamined") or 0) > 0:
            return COLLSCAN
        if shape is None or command is None:
            return None
        return self.plans.plan(shape, command)

    def observe(self, entry: Mapping[str, Any]) -> Point | None:
        """The duration sample of one entry (None for the agent's own operations);
        counts the entry's collection scan."""
        command = command_of(entry)
        if is_obs_own(entry, command) or "millis" not in entry:
            return None
        database, _, collection = str(entry.get("ns", "")).partition(".")
        shape = shape_of(database, command) if command else None
        plan = self.plan_of(entry, shape, command)
        labels: dict[str, AttributeValue] = {
            **self.target,
            attr.DB_NAMESPACE: database,
            attr.DB_COLLECTION_NAME: collection,
            attr.DB_OPERATION_NAME: operation_name(entry.get("op"), entry.get("command")),
        }
        if plan is not None:
            labels[attr.MONGO_PLAN] = plan
        if plan == COLLSCAN:
            self._count_scan(database, collection, shape)
        return Point.of(catalog.MONGO_PROFILED_DURATION, float(entry["millis"]) / 1000, labels)

    def scan_totals(self) -> Iterator[Point]:
        for (database, collection, fingerprint, text), count in self._scans.items():
            labels: dict[str, AttributeValue] = {
                **self.target,
                attr.DB_NAMESPACE: database,
                attr.DB_COLLECTION_NAME: collection,
                attr.QUERY_SHAPE: text,
                attr.QUERY_SHAPE_ID: fingerprint,
            }
            yield Point.of(catalog.MONGO_COLLECTION_SCANS, count, labels)

    def measure(self, entries: Sequence[Mapping[str, Any]]) -> Collected:
        """Points of profiler ``entries`` (recorded or live)."""
        samples = [p for p in (self.observe(e) for e in entries) if p is not None]
        return Collected(readings=tuple(self.scan_totals()), observations=tuple(samples))

    def collect(self) -> Collected:
        entries: list[Mapping[str, Any]] = []
        for database in watched_databases(self.client, self.databases):
            entries += self.new_entries(database)
        return self.measure(entries)
