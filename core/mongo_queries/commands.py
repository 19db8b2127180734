"""Which collection a MongoDB command names.

Only commands that act on a collection carry its name as their first value; in any other
command that value is data (``db.command("usersInfo", "alice")`` names a user), so it must
never become a span name, a ``db.collection.name`` attribute or the kept part of a masked
statement.

Example:
    >>> collection_of("find", {"find": "users", "filter": {}})
    'users'
    >>> collection_of("getMore", {"getMore": 7, "collection": "users"})
    'users'
    >>> collection_of("usersInfo", {"usersInfo": "alice"}) is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Commands whose first value is the name of the collection they act on (MongoDB's database
# commands reference); getMore names it under "collection".
COLLECTION_COMMANDS = frozenset(
    {
        "aggregate",
        "count",
        "distinct",
        "find",
        "findAndModify",
        "findandmodify",
        "insert",
        "update",
        "delete",
        "mapReduce",
        "mapreduce",
        "create",
        "drop",
        "createIndexes",
        "dropIndexes",
        "deleteIndexes",
        "listIndexes",
        "collStats",
        "validate",
        "compact",
        "collMod",
        "reIndex",
        "convertToCapped",
        "cloneCollectionAsCapped",
        "killCursors",
        "geoSearch",
        "geoNear",
        "planCacheClear",
        "planCacheClearFilters",
        "planCacheListFilters",
        "planCacheSetFilter",
        "createSearchIndexes",
        "dropSearchIndex",
        "updateSearchIndex",
        "listSearchIndexes",
    }
)


def collection_of(name: str, command: Mapping[str, Any]) -> str | None:
    """The collection ``command`` (named ``name``) acts on, or None when it names none."""
    if name == "getMore":
        value = command.get("collection")
    elif name in COLLECTION_COMMANDS:
        value = command.get(name)
    else:
        return None
    return value if isinstance(value, str) else None
