"""Query smells: command shapes that slow an admin API down as data grows, spotted as they
are sent.

- ``large_skip``: ``skip`` (or a ``$skip`` stage) at or above the threshold: offset
  pagination that makes the server walk and discard documents; use a range on an indexed
  field (cursor pagination) instead.
- ``unbounded_find``: a ``find`` with no ``limit`` and no ``_id`` equality: reads however many
  documents match.
- ``unanchored_regex``: a ``$regex`` not starting with ``^``: it cannot use an index bound.
- ``where``: ``$where`` runs JavaScript per document.

The checks read the command in place (no copy, no serialisation) and stop early.

Example:
    >>> smells("find", {"find": "users", "filter": {"name": {"$regex": "ann"}}, "skip": 5000},
    ...        1000)
    ('large_skip', 'unbounded_find', 'unanchored_regex')
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

LARGE_SKIP = "large_skip"
UNBOUNDED_FIND = "unbounded_find"
UNANCHORED_REGEX = "unanchored_regex"
WHERE = "where"
ALL = (LARGE_SKIP, UNBOUNDED_FIND, UNANCHORED_REGEX, WHERE)

# Commands whose filter is worth reading, and where that filter lives.
FILTERED = frozenset(
    {"find", "aggregate", "count", "distinct", "delete", "update", "findAndModify"}
)
_MAX_DEPTH = 8
# Values that hold no filter and no pattern (checked by exact type: the ABC checks cost
# more than the rest of the walk).
_PLAIN = frozenset({str, int, float, bool, type(None), bytes, datetime.datetime, ObjectId})
_OPERATORS_OF_PLAIN_VALUES = frozenset({"$where", "$regex"})  # a plain value that is a smell
_MAX_NODES = 200  # a huge filter is not worth walking on a request thread


def smells(name: str, command: Mapping[str, Any], skip_threshold: int) -> tuple[str, ...]:
    """The smells of one command (empty for almost every command)."""
    found: list[str] = []
    if name == "find":
        skip = command.get("skip")
        if isinstance(skip, int) and skip >= skip_threshold:
            found.append(LARGE_SKIP)
        query = command.get("filter")
        if not command.get("limit") and not _id_equality(query):
            found.append(UNBOUNDED_FIND)
        _walk_filter(query, found)
    elif name == "aggregate":
        for stage in command.get("pipeline") or ():
            if not isinstance(stage, Mapping):
                continue
            skip = stage.get("$skip")
            if isinstance(skip, int) and skip >= skip_threshold:
                found.append(LARGE_SKIP)
            if "$match" in stage:
                _walk_filter(stage["$match"], found)
    elif name in ("count", "distinct") or name == "findAndModify":
        _walk_filter(command.get("query"), found)
    elif name in ("delete", "update"):
        for statement in command.get("deletes" if name == "delete" else "updates") or ():
            if isinstance(statement, Mapping):
                _walk_filter(statement.get("q"), found)
    return tuple(dict.fromkeys(found)) if found else ()  # each smell once, in order


def _id_equality(query: Any) -> bool:
    if not isinstance(query, Mapping) or "_id" not in query:
        return False
    value = query["_id"]
    if isinstance(value, Mapping):
        return any(op in value for op in ("$eq", "$in"))
    return True


def _walk_filter(query: Any, found: list[str]) -> None:
    # The top level is walked here, without _walk's bookkeeping: most filters are a few
    # fields with plain values, and this runs for every command.
    if not query or (type(query) is not dict and not isinstance(query, Mapping)):
        return
    if len(query) > _MAX_NODES:
        _walk(query, found, 0, [_MAX_NODES])
        return
    for key, value in query.items():
        if type(value) in _PLAIN and key not in _OPERATORS_OF_PLAIN_VALUES:
            continue
        _walk(query, found, 0, [_MAX_NODES])  # something to look into: the whole walk
        return


def _walk(node: Mapping[str, Any], found: list[str], depth: int, budget: list[int]) -> None:
    if depth > _MAX_DEPTH:
        return
    for key, value in node.items():
        budget[0] -= 1
        if budget[0] < 0:
            return
        if key == "$where":
            found.append(WHERE)
            continue
        if key == "$regex":
            if not _anchored(value):
                found.append(UNANCHORED_REGEX)
            continue
        kind = type(value)
        if kind in _PLAIN:  # most values: nothing to look at
            continue
        if kind is dict or isinstance(value, Mapping):
            _walk(value, found, depth + 1, budget)
        elif kind is list:
            for item in value:
                if isinstance(item, Mapping):
                    _walk(item, found, depth + 1, budget)
                elif _is_pattern(item) and not _anchored(item):
                    found.append(UNANCHORED_REGEX)
        elif _is_pattern(value) and not _anchored(value):
            found.append(UNANCHORED_REGEX)


def _is_pattern(value: Any) -> bool:
    # bson.regex.Regex has .pattern too; checking the attribute avoids importing bson here.
    return isinstance(value, re.Pattern) or type(value).__name__ == "Regex"


def _anchored(value: Any) -> bool:
    pattern = getattr(value, "pattern", value)
    if isinstance(pattern, bytes):
        pattern = pattern.decode("utf-8", "replace")
    return isinstance(pattern, str) and pattern.startswith(("^", "\\A"))
