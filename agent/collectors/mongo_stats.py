"""MongoDB collection and index statistics: ``collStats`` and ``$indexStats``.

Per collection: data size and document count (growth is their rate of change), the size
of each index, how often each index was used since the server started, and how many
indexes (``_id_`` aside, which cannot be dropped) have no recorded use. Servers without
the ``collStats`` command (MongoDB 8 may drop it) are read with ``$collStats`` instead.
Runs rarely (at most every 5 minutes) and over at most ``max_collections`` collections. A
collection dropped between listing and reading it is skipped (NamespaceNotFound), not a
failure of the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from obs import catalog
from obs.agent.collectors.mongo import watched_databases
from obs.agent.points import AttributeValue, Collected, Point
from obs.catalog import attr

COMMAND_NOT_FOUND = 59
NAMESPACE_NOT_FOUND = 26


def collection_stats(database: Any, name: str) -> Mapping[str, Any]:
    """size, count and indexSizes of one collection."""
    from pymongo.errors import OperationFailure

    try:
        stats: Mapping[str, Any] = database.command("collStats", name)
        return stats
    except OperationFailure as exc:
        if exc.code != COMMAND_NOT_FOUND:
            raise
    for reply in database[name].aggregate([{"$collStats": {"storageStats": {}}}]):
        storage: Mapping[str, Any] = reply.get("storageStats") or {}
        return storage
    return {}


def points(
    labels: Mapping[str, AttributeValue],
    stats: Mapping[str, Any],
    index_stats: Sequence[Mapping[str, Any]],
) -> Iterator[Point]:
    """The catalog points of one collection.

    Example:
        >>> indexes = [{"name": "_id_", "accesses": {"ops": 0}}, {"name": "a_1"}]
        >>> [(p.metric.name, p.value) for p in points({}, {"size": 10, "count": 2}, indexes)]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('obs.mongo.collection.size', 10.0), ('obs.mongo.collection.documents', 2.0),
         ('obs.mongo.index.accesses', 0.0), ('obs.mongo.index.accesses', 0.0),
         ('obs.mongo.unused_indexes', 1.0)]
    """
    if "size" in stats:
        yield Point.of(catalog.MONGO_COLLECTION_SIZE, stats["size"], labels)
    if "count" in stats:
        yield Point.of(catalog.MONGO_COLLECTION_DOCUMENTS, stats["count"], labels)
    for index, size in (stats.get("indexSizes") or {}).items():
        named = {**labels, attr.MONGO_INDEX_NAME: index}
        yield Point.of(catalog.MONGO_INDEX_SIZE, size, named)
    unused = 0
    for index in index_stats:
        ops = (index.get("accesses") or {}).get("ops", 0)
        named = {**labels, attr.MONGO_INDEX_NAME: str(index.get("name"))}
        yield Point.of(catalog.MONGO_INDEX_ACCESSES, ops, named)
        if not ops and index.get("name") != "_id_":
            unused += 1
    if index_stats:
        yield Point.of(catalog.MONGO_UNUSED_INDEXES, unused, labels)


class StatsCollector:
    """Collects collection and index stats of one target."""

    def __init__(
        self,
        client: Any,
        target: Mapping[str, AttributeValue],
        databases: Sequence[str] | None = None,
        max_collections: int = 1000,
    ) -> None:
        self.client = client
        self.target = dict(target)
        self.databases = databases
        self.max_collections = max_collections

    def collections(self) -> Iterator[tuple[str, str]]:
        budget = self.max_collections
        for name in watched_databases(self.client, self.databases):
            listed = self.client[name].list_collection_names(filter={"type": "collection"})
            for collection in sorted(c for c in listed if not c.startswith("system.")):
                if budget <= 0:
                    return
                budget -= 1
                yield name, collection

    def collect(self) -> Collected:
        from pymongo.errors import OperationFailure

        readings: list[Point] = []
        for database_name, collection in self.collections():
            database = self.client[database_name]
            labels = {
                **self.target,
                attr.DB_NAMESPACE: database_name,
                attr.DB_COLLECTION_NAME: collection,
            }
            try:
                stats = collection_stats(database, collection)
                index_stats = list(database[collection].aggregate([{"$indexStats": {}}]))
            except OperationFailure as exc:
                if exc.code == NAMESPACE_NOT_FOUND:
                    continue  # dropped since it was listed
                raise
            readings += points(labels, stats, index_stats)
        return Collected(readings=tuple(readings))
