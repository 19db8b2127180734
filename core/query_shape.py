"""Query shapes: what a MongoDB command asks for, without its values.

Two commands have the same shape when they differ only in values: same operation and
namespace, same filter fields with the same operators (``$in`` lists of any length are one
shape), same sort, projection, and whether skip and limit are present. Aggregations are
shaped stage by stage, ``$lookup`` sub-pipelines included. The masked text is
:func:`obs.query_text.masked_command`, so a shape's text is what the instrumentation puts in
``db.query.text``.

Used by the unindexed-query gate (``obs index-check``) and by the agent's profiler reader.

Example:
    >>> a = shape_of("app", {"find": "users", "filter": {"email": "a@b", "age": {"$gt": 3}},
    ...                      "sort": {"createdAt": -1}, "limit": 10})
    >>> b = shape_of("app", {"find": "users", "filter": {"age": {"$gt": 99}, "email": "z"},
    ...                      "sort": {"createdAt": -1}, "limit": 1})
    >>> a.fingerprint == b.fingerprint, a.equality, a.ranges, a.sort
    (True, ('email',), ('age',), (('createdAt', -1),))
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from obs.query_text import masked_command

# Commands that read or write by a filter, and where their filter is.
_FILTER_OF = {
    "find": "filter",
    "count": "query",
    "distinct": "query",
    "findAndModify": "query",
}
EQUALITY_OPERATORS = frozenset({"$eq", "$in"})
RANGE_OPERATORS = frozenset(
    {
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$ne",
        "$nin",
        "$regex",
        "$exists",
        "$type",
        "$elemMatch",
        "$size",
        "$all",
        "$mod",
        "$not",
    }
)


@dataclass(frozen=True)
class Predicate:
    """One field test in a filter: ``path`` compared with ``operator``."""

    path: str
    operator: str  # $eq for plain equality


@dataclass(frozen=True)
class QueryShape:
    """The value-free shape of one command."""

    operation: str
    namespace: str  # "db.collection"
    predicates: tuple[Predicate, ...] = ()  # conjunctive part (top level and $and)
    alternatives: tuple[tuple[Predicate, ...], ...] = ()  # $or / $nor branches
    sort: tuple[tuple[str, int], ...] = ()
    projection: tuple[str, ...] = ()
    has_skip: bool = False
    has_limit: bool = False
    stages: tuple[str, ...] = ()  # aggregation stage names, $lookup as "$lookup:<from>"
    lookups: tuple[QueryShape, ...] = ()  # shapes of $lookup sub-pipelines
    text: str = field(default="", compare=False)

    @property
    def collection(self) -> str:
        return self.namespace.split(".", 1)[1] if "." in self.namespace else ""

    @property
    def database(self) -> str:
        return self.namespace.split(".", 1)[0]

    @property
    def equality(self) -> tuple[str, ...]:
        """Fields tested for equality (``$eq``, ``$in``), in name order."""
        return tuple(sorted({p.path for p in self.predicates if p.operator in EQUALITY_OPERATORS}))

    @property
    def ranges(self) -> tuple[str, ...]:
        """Fields tested by a range or other non-equality operator, in name order."""
        equal = set(self.equality)
        return tuple(
            sorted(
                {
                    p.path
                    for p in self.predicates
                    if p.operator not in EQUALITY_OPERATORS and p.path not in equal
                }
            )
        )

    def canonical(self) -> dict[str, Any]:
        """A JSON-able form with every list in a stable order."""
        return {
            "op": self.operation,
            "ns": self.namespace,
            "filter": sorted([p.path, p.operator] for p in self.predicates),
            "or": sorted(
                sorted([p.path, p.operator] for p in branch) for branch in self.alternatives
            ),
            "sort": [list(s) for s in self.sort],
            "projection": sorted(self.projection),
            "skip": self.has_skip,
            "limit": self.has_limit,
            "stages": list(self.stages),
            "lookups": [lookup.canonical() for lookup in self.lookups],
        }

    @property
    def fingerprint(self) -> str:
        """16 hex digits identifying the shape; stable across processes and versions."""
        body = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def predicates(query: Any, prefix: str = "") -> tuple[list[Predicate], list[tuple[Predicate, ...]]]:
    """Split a filter into its conjunctive predicates and its ``$or``/``$nor`` branches.

    Example:
        >>> conj, alts = predicates({"status": "a", "$or": [{"x": 1}, {"y": {"$gt": 2}}]})
        >>> [(p.path, p.operator) for p in conj], [[p.path for p in b] for b in alts]
        ([('status', '$eq')], [['x'], ['y']])
    """
    conj: list[Predicate] = []
    alts: list[tuple[Predicate, ...]] = []
    if not isinstance(query, Mapping):
        return conj, alts
    for key, value in query.items():
        if key == "$and" and isinstance(value, list):
            for part in value:
                more, more_alts = predicates(part, prefix)
                conj += more
                alts += more_alts
        elif key in ("$or", "$nor") and isinstance(value, list):
            for part in value:
                branch, _ = predicates(part, prefix)
                alts.append(tuple(branch))
        elif key.startswith("$"):
            conj.append(Predicate(prefix or key, key))  # $where, $text, $expr, ...
        else:
            path = f"{prefix}{key}"
            if (
                isinstance(value, Mapping)
                and value
                and all(isinstance(k, str) and k.startswith("$") for k in value)
            ):
                conj += [Predicate(path, op) for op in value if op != "$options"]
            else:
                conj.append(Predicate(path, "$eq"))
    return conj, alts


def _sort(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, Mapping):
        return ()
    return tuple((str(k), -1 if v == -1 else 1) for k, v in value.items())


def _pipeline_shape(database: str, collection: str, pipeline: Any, text: str) -> QueryShape:
    conj: list[Predicate] = []
    alts: list[tuple[Predicate, ...]] = []
    stages: list[str] = []
    lookups: list[QueryShape] = []
    sort: tuple[tuple[str, int], ...] = ()
    has_skip = has_limit = False
    for stage in pipeline if isinstance(pipeline, list) else ():
        if not isinstance(stage, Mapping) or not stage:
            continue
        name = next(iter(stage))
        body = stage[name]
        if name == "$match" and not stages:  # only a leading $match can use an index
            conj, alts = predicates(body)
        elif name == "$sort" and not sort:
            sort = _sort(body)
        elif name == "$skip":
            has_skip = True
        elif name == "$limit":
            has_limit = True
        if name in ("$lookup", "$graphLookup", "$unionWith") and isinstance(body, Mapping):
            target = str(body.get("from") or body.get("coll") or "")
            name = f"{name}:{target}"
            sub = body.get("pipeline")
            if isinstance(sub, list):
                lookups.append(_pipeline_shape(database, target, sub, ""))
            elif body.get("foreignField"):
                foreign = Predicate(str(body["foreignField"]), "$eq")
                lookups.append(QueryShape("find", f"{database}.{target}", (foreign,)))
        stages.append(name)
    return QueryShape(
        "aggregate",
        f"{database}.{collection}",
        tuple(conj),
        tuple(alts),
        sort=sort,
        has_skip=has_skip,
        has_limit=has_limit,
        stages=tuple(stages),
        lookups=tuple(lookups),
        text=text,
    )


def shape_of(database: str, command: Mapping[str, Any]) -> QueryShape | None:
    """The shape of a query command, or None for commands that are not queries.

    Example:
        >>> shape_of("app", {"insert": "users", "documents": []}) is None
        True
    """
    if not command:
        return None
    operation = next(iter(command))
    collection = command.get(operation)
    if not isinstance(collection, str):
        return None
    text = json.dumps(masked_command(command), separators=(",", ":"), ensure_ascii=False)
    if operation == "aggregate":
        return _pipeline_shape(database, collection, command.get("pipeline"), text)
    if operation in ("update", "delete"):
        statements = command.get("updates" if operation == "update" else "deletes") or []
        first = statements[0] if statements and isinstance(statements[0], Mapping) else {}
        conj, alts = predicates(first.get("q"))
        return QueryShape(
            operation, f"{database}.{collection}", tuple(conj), tuple(alts), text=text
        )
    where = _FILTER_OF.get(operation)
    if where is None:
        return None
    conj, alts = predicates(command.get(where))
    projection = command.get("projection") or command.get("fields")
    return QueryShape(
        operation,
        f"{database}.{collection}",
        tuple(conj),
        tuple(alts),
        sort=_sort(command.get("sort")),
        projection=tuple(projection) if isinstance(projection, Mapping) else (),
        has_skip=bool(command.get("skip")),
        has_limit=bool(command.get("limit")),
        text=text,
    )
