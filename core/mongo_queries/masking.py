"""Masked MongoDB statements: the structure of a command with every value replaced by ``?``.

One query shape gives one text whatever the values: scalars become ``"?"``, ``$in`` /
``$nin`` / ``$all`` lists collapse to ``["?"]``, and lists whose masked elements are alike
(the documents of an insert, say) collapse to one element. Field names, operators, sort
directions, projections and ``$field`` references stay, because they are the shape.
Session and cluster bookkeeping (``lsid``, ``$clusterTime``, ...) is dropped.

Example:
    >>> masked_text({"find": "users", "filter": {"email": "a@b.c", "age": {"$gt": 30},
    ...              "tier": {"$in": [1, 2, 3]}}, "sort": {"createdAt": -1}, "limit": 20,
    ...              "$db": "app"})
    '{"find":"users","filter":{"email":"?","age":{"$gt":"?"},"tier":{"$in":["?"]}},\
"sort":{"createdAt":-1},"limit":"?"}'
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any

import bson

from obs.mongo_queries.commands import collection_of

MASK = "?"
MAX_TEXT = 4096  # long statements are cut: backends truncate or reject larger attributes
_MAX_DEPTH = 24

# Driver and session bookkeeping that pymongo adds to a command: never part of a statement
# (also left out when obs index-check sends a recorded command back to explain).
DRIVER_FIELDS = frozenset(
    {
        "$db",
        "lsid",
        "$clusterTime",
        "$readPreference",
        "txnNumber",
        "autocommit",
        "startTransaction",
        "$signature",
        "apiVersion",
        "apiStrict",
        "apiDeprecationErrors",
        "readConcern",
        "writeConcern",
        "maxTimeMS",
        "$audit",
        "comment",
    }
)
# let's values are data; explain still needs them, a masked statement does not.
_DROPPED = DRIVER_FIELDS | {"let"}
_COLLAPSED = frozenset({"$in", "$nin", "$all"})
# Top-level command fields that are structure, not data: sort directions, projections,
# index hints.
_STRUCTURAL = frozenset({"sort", "projection", "hint"})
# Stages whose named fields are collection and field names, not data.
_JOINS = frozenset({"$lookup", "$graphLookup", "$unionWith"})
_JOIN_NAMES = frozenset(
    {"from", "coll", "localField", "foreignField", "as", "connectFromField", "connectToField"}
)
# Operators and stages whose values are never field references, even inside a pipeline:
# filters, literals, search text and inline documents.
_LITERAL_CONTEXTS = frozenset(
    {"$match", "$literal", "$documents", "$search", "$searchMeta", "$vectorSearch", "$geoNear"}
)
_FIELD_PATH = re.compile(r"^\$\$?[A-Za-z_][\w.]*$")


def mask(value: Any, depth: int = 0, expression: bool = False) -> Any:
    """``value`` with every scalar replaced by ``"?"`` (see the module docstring).

    ``$field`` strings stay only in aggregation expressions (``expression``: pipeline stages
    other than ``$match``, ``$expr``, a ``$lookup``'s ``let``), where they are field
    references; in a filter or a document a string like ``"$ecret"`` is a value.

    Example:
        >>> mask({"$or": [{"a": 1}, {"b": {"$regex": "^x"}}]})
        {'$or': [{'a': '?'}, {'b': {'$regex': '?'}}]}
        >>> mask({"password": "$ecret"}), mask({"total": "$amount"}, expression=True)
        ({'password': '?'}, {'total': '$amount'})
    """
    if depth > _MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in _DROPPED:
                continue
            if key in _COLLAPSED:
                out[key] = [MASK]
            elif key == "$sort":
                out[key] = _structure(item, depth + 1)
            elif key in _JOINS and isinstance(item, Mapping):
                out[key] = _join(item, depth + 1)
            else:
                out[key] = mask(item, depth + 1, _expression_after(key, expression))
        return out
    if isinstance(value, list | tuple):
        return _collapse([mask(item, depth + 1, expression) for item in value])
    if expression and isinstance(value, str) and _FIELD_PATH.match(value):
        return value  # a field reference in an aggregation expression
    return MASK


def _collapse(items: list[Any]) -> list[Any]:
    """A list whose masked items are all alike is one item: one shape, one text."""
    if items and all(item == items[0] for item in items):
        return items[:1]
    return items


def _expression_after(key: str, expression: bool) -> bool:
    """Whether the value under ``key`` is an aggregation expression."""
    if key in _LITERAL_CONTEXTS:
        return False  # a filter or a literal, even inside a pipeline
    if key in ("$expr", "pipeline", "let", "$facet"):
        return True
    return expression


def _structure(value: Any, depth: int) -> Any:
    """Sort/projection/hint documents: keep field names and small integer directions."""
    if isinstance(value, Mapping):
        return {k: _structure(v, depth + 1) for k, v in value.items()}
    if isinstance(value, bool) or (isinstance(value, int) and -1 <= value <= 1):
        return value
    return mask(value, depth)


def _join(stage: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """$lookup and friends: the collection and field names they join on stay; everything
    else (``let``, ``pipeline``, ``startWith``) is an expression, ``restrictSearchWithMatch``
    a filter."""
    return {
        k: v
        if k in _JOIN_NAMES and isinstance(v, str)
        else mask(v, depth + 1, k != "restrictSearchWithMatch")
        for k, v in stage.items()
    }


def _statement(statement: Any, depth: int) -> Any:
    """One statement of an update: its ``u`` is an expression when it is a pipeline."""
    if not isinstance(statement, Mapping):
        return mask(statement, depth)
    return {
        k: mask(v, depth + 1, k == "u" and isinstance(v, list))
        for k, v in statement.items()
        if k not in _DROPPED
    }


def masked_command(command: Mapping[str, Any]) -> dict[str, Any]:
    """The masked form of a whole command: its first key (the command and its target
    collection) stays as sent.

    Example:
        >>> masked_command({"aggregate": "orders", "pipeline": [{"$match": {"s": "paid"}},
        ...                 {"$lookup": {"from": "users", "localField": "uid",
        ...                              "foreignField": "_id", "as": "u"}}], "cursor": {}})
        {'aggregate': 'orders', 'pipeline': [{'$match': {'s': '?'}}, {'$lookup': \
{'from': 'users', 'localField': 'uid', 'foreignField': '_id', 'as': 'u'}}], 'cursor': {}}
    """
    out: dict[str, Any] = {}
    name = next(iter(command), "")
    target = collection_of(name, command)
    for index, (key, item) in enumerate(command.items()):
        if key in _DROPPED:
            continue
        if (index == 0 or key == "collection") and target is not None and item == target:
            out[key] = item  # the command's target collection (getMore names it apart)
        elif key in _STRUCTURAL:
            out[key] = item if isinstance(item, str) else _structure(item, 1)  # str: index name
        elif key == "updates" and isinstance(item, list):
            out[key] = _collapse([_statement(s, 2) for s in item])
        else:
            out[key] = mask(item, 1, _expression_after(key, False))
    return out


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# skeleton of a command -> its masked text; commands of one shape share an entry
_TEXTS: dict[Any, str] = {}
_MAX_TEXTS = 4096
_MAX_SKELETON_DEPTH = 64
# Where a string value may survive masking (a command's collection, an index name, a
# join's names); everywhere else only "$" strings (field references) can. A skeleton keeps
# such strings, which may cost cache entries, never a wrong text.
_KEPT_UNDER = frozenset({"collection", *_STRUCTURAL, *_JOIN_NAMES})
# Markers of a skeleton's tokens (unique objects: no key or value is equal to one).
_DICT, _LIST, _TUPLE, _OTHER, _TEXT, _INT, _BOOL, _MASKED_DICT = (object() for _ in range(8))


class _TooDeep(Exception):
    pass


def _skeleton(value: Any, kept: bool, depth: int, out: list[Any]) -> None:
    """Append to ``out`` everything of ``value`` that its masked form depends on: keys,
    nesting, sequence types, the values that may survive (strings where ``kept``, ``$``
    strings, booleans and -1, 0, 1); every other scalar is one marker, since masking makes
    it ``"?"``. Containers are written as a marker and their length before their items, so
    one token sequence is one structure; the tokens are flat because a flat tuple hashes
    and compares without recursion (a nested one costs a walk for each)."""
    if depth > _MAX_SKELETON_DEPTH:
        raise _TooDeep
    kind = type(value)
    if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
        out += (_DICT, len(value))
        for k, v in value.items():
            out.append(k)
            _token(v, k in _KEPT_UNDER, depth + 1, out)
    else:
        out += (_LIST if kind is list else _TUPLE, len(value))
        for v in value:
            _token(v, kept, depth + 1, out)


def _token(value: Any, kept: bool, depth: int, out: list[Any]) -> None:
    """One value's tokens: scalars here, containers by :func:`_skeleton`."""
    kind = type(value)
    if kind is str:
        out.append(value if kept or value[:1] == "$" else _TEXT)
    elif kind is int:
        out += (_INT, value) if -1 <= value <= 1 else (_OTHER,)
    elif kind is bool:
        out += (_BOOL, value)  # True == 1: the marker tells them apart
    elif kind is dict or kind is list or kind is tuple:
        _skeleton(value, kept, depth, out)
    elif isinstance(value, str):
        out.append(value if kept or value[:1] == "$" else _TEXT)
    elif isinstance(value, bool):
        out += (_BOOL, value)
    elif isinstance(value, int):
        out += (_INT, value) if -1 <= value <= 1 else (_OTHER,)
    elif isinstance(value, (Mapping, list, tuple)):
        _skeleton(value, kept, depth, out)
    else:
        out.append(_OTHER)


# Top-level keys whose scalar values may survive masking, or whose values are read in
# another context (expressions, statements, structure); under every other key but the
# first, a scalar is masked to "?" whatever it is (masked_command's last branch).
_TOP_LEVEL_READ_APART = frozenset(
    {"collection", "updates", "$expr", "pipeline", "let", "$facet", *_STRUCTURAL}
)
# Keys inside a document that change how a scalar under them is masked; in a document
# without them, every scalar is masked to "?" (or collapsed to ["?"]: decided by the key).
_READ_APART = frozenset({"$sort", "$expr", "pipeline", "let", "$facet", *_JOINS})
# Exact types that are never a container (a str subclass such as bson's Code is not here:
# it takes the general walk).
_SCALARS = frozenset(
    {
        str,
        int,
        float,
        bool,
        type(None),
        bytes,
        datetime.datetime,
        bson.ObjectId,
        bson.Binary,
        bson.Decimal128,
        bson.Int64,
        bson.Timestamp,
        bson.Regex,
        bson.MinKey,
        bson.MaxKey,
        bson.DBRef,
    }
)


def _command_skeleton(command: Mapping[str, Any]) -> tuple[Any, ...]:
    """The command's skeleton: the general walk (:func:`_skeleton`), except where masking
    is known to make every scalar "?" (under a top-level key it does not read apart):
    there a scalar is one marker, and a document of scalars (a typical filter) its keys."""
    out: list[Any] = []
    first = next(iter(command), "")
    for k, v in command.items():
        if k in _DROPPED:  # dropped at the top level only: a sort may name "comment"
            continue
        kind = type(v)
        if k == first or k in _TOP_LEVEL_READ_APART:
            out.append(k)
            _token(v, k == first or k in _KEPT_UNDER, 1, out)
        elif kind in _SCALARS:
            out += (k, _OTHER)
        elif (
            kind is dict
            and _SCALARS.issuperset(map(type, v.values()))
            and _READ_APART.isdisjoint(v)
        ):
            out += (k, _MASKED_DICT, len(v))
            out += v  # its keys
        else:
            out.append(k)
            _token(v, k in _KEPT_UNDER, 1, out)
    return tuple(out)


def masked_text(command: Mapping[str, Any]) -> str:
    """The masked command as compact JSON, cut at ``MAX_TEXT`` characters.

    Commands of one shape (one skeleton, :func:`_skeleton`) share the text computed for
    the first of them.
    """
    try:
        key: Any = _command_skeleton(command)
        text = _TEXTS.get(key)
    except (_TooDeep, TypeError):  # too deep to walk twice, or an unhashable key
        key = text = None
    if text is not None:
        return text
    text = _JSON.encode(masked_command(command))
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    if key is not None:
        if len(_TEXTS) >= _MAX_TEXTS:
            _TEXTS.clear()
        _TEXTS[key] = text
    return text
