"""Query shapes: what a MongoDB command asks for, without its values.

Two commands have the same shape when they differ only in values: same operation and
namespace, same filter fields with the same operators (``$in`` lists of any length are one
shape), same sort, projection, and whether skip and limit are present. Aggregations are
shaped stage by stage, ``$lookup`` sub-pipelines included; only the leading ``$match`` /
``$sort`` / ``$skip`` / ``$limit`` stages count as the query part, because only they can be
served by an index. ``$expr`` comparisons of a field with a variable or constant (``$eq``,
``$lt``, ``$lte``, ``$gt``, ``$gte``; what a ``$lookup`` sub-pipeline correlates on) are
predicates on that field, as mongod 5.0+ can use an index for them. The masked text is
:func:`obs.mongo_queries.masking.masked_command`, so a shape's text is what the
instrumentation puts in ``db.query.text``; :attr:`QueryShape.summary` is a one-line form for
tables and metrics.

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
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from obs.mongo_queries.masking import masked_command

# Commands that read or write by a filter, and where their filter is.
_FILTER_OF = {
    "find": "filter",
    "count": "query",
    "distinct": "query",
    "findAndModify": "query",
}
EXPR_PREFIX = "$expr."  # "$expr.$eq": an $expr comparison of the field with a variable
EQUALITY_OPERATORS = frozenset({"$eq", "$in", "$expr.$eq"})
_EXPR_COMPARISONS = frozenset({"$eq", "$gt", "$gte", "$lt", "$lte"})
_JOIN_STAGES = ("$lookup", "$graphLookup", "$unionWith")
# Stages mongod moves into the query layer when they lead the pipeline.
_PUSHED_DOWN = frozenset({"$match", "$sort", "$skip", "$limit"})
_SUMMARY_MAX = 160


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
            "coll": self.collection,  # not the database: app and app_test share shapes
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
        """16 hex digits identifying the shape; stable across processes and versions.

        The database name is not part of it: the same query against ``app`` in production
        and ``app_test_3f2a`` in CI has one fingerprint, so a CI baseline and production
        profiler findings speak of the same shapes."""
        body = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def filtered(self) -> bool:
        """Whether the query part tests any field at all (``find({})`` does not)."""
        return bool(self.predicates or self.alternatives)

    @property
    def summary(self) -> str:
        """One line naming the operation, collection, fields and options, at most 160
        characters: for tables, logs and metric attributes.

        Example:
            >>> shape_of("app", {"find": "users", "filter": {"status": "a", "age": {"$gt": 1}},
            ...                  "sort": {"createdAt": -1}, "limit": 5}).summary
            'find users {status, age $gt} sort {createdAt: -1} limit'
        """
        parts = [self.operation, self.collection]
        if self.predicates:
            parts.append("{" + ", ".join(_describe(p) for p in self.predicates) + "}")
        parts += [
            "$or [" + ", ".join(_describe(p) for p in branch) + "]" for branch in self.alternatives
        ]
        if self.sort:
            parts.append("sort {" + ", ".join(f"{k}: {d}" for k, d in self.sort) + "}")
        parts += [flag for flag, on in (("skip", self.has_skip), ("limit", self.has_limit)) if on]
        parts += list(itertools.dropwhile(_PUSHED_DOWN.__contains__, self.stages))
        text = " ".join(parts)
        return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 1] + "…"


def _describe(predicate: Predicate) -> str:
    if predicate.operator == "$eq":
        return predicate.path
    return f"{predicate.path} {predicate.operator}"


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
        elif key == "$expr":
            conj += _expr_predicates(value)
        elif key.startswith("$"):
            conj.append(Predicate(prefix or key, key))  # $where, $text, $jsonSchema, ...
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


def _expr_predicates(expr: Any) -> list[Predicate]:
    """``$expr`` comparisons of a field with a variable or constant become predicates on
    the field (``$expr.$eq``, ...); anything else stays one opaque ``$expr`` predicate."""
    parts = expr.get("$and") if isinstance(expr, Mapping) and len(expr) == 1 else None
    found: list[Predicate] = []
    opaque = False
    for part in parts if isinstance(parts, list) else [expr]:
        comparison = _expr_comparison(part)
        if comparison is None:
            opaque = True
        else:
            found.append(comparison)
    if opaque:
        found.append(Predicate("$expr", "$expr"))
    return found


def _expr_comparison(part: Any) -> Predicate | None:
    if not isinstance(part, Mapping) or len(part) != 1:
        return None
    operator, args = next(iter(part.items()))
    if operator not in _EXPR_COMPARISONS or not isinstance(args, list) or len(args) != 2:
        return None
    fields = [_field_path(arg) for arg in args]
    if (fields[0] is None) == (fields[1] is None):
        return None  # field against field, or constant against constant: no index bound
    field_index = 0 if fields[0] is not None else 1
    if field_index == 1:  # {$gt: [5, "$a"]} is a < bound on a
        operator = {"$gt": "$lt", "$gte": "$lte", "$lt": "$gt", "$lte": "$gte"}.get(
            operator, operator
        )
    return Predicate(str(fields[field_index]), EXPR_PREFIX + operator)


def _field_path(value: Any) -> str | None:
    """``"$a.b"`` names the field a.b; ``"$$var"`` is a variable, not a field."""
    if isinstance(value, str) and value.startswith("$") and not value.startswith("$$"):
        return value[1:]
    return None


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
    leading = True  # still in the stages mongod pushes into the query layer
    for stage in pipeline if isinstance(pipeline, list) else ():
        if not isinstance(stage, Mapping) or not stage:
            continue
        name = next(iter(stage))
        body = stage[name]
        leading = leading and name in _PUSHED_DOWN
        if leading:
            if name == "$match":  # adjacent $match stages coalesce into one filter
                more, more_alts = predicates(body)
                conj += more
                alts += more_alts
            elif name == "$sort":
                sort = _sort(body)
            else:
                has_skip = has_skip or name == "$skip"
                has_limit = has_limit or name == "$limit"
        if name in _JOIN_STAGES and isinstance(body, Mapping):
            target = str(body.get("from") or body.get("coll") or "")
            name = f"{name}:{target}"
            lookups.append(_join_shape(database, target, body))
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


def _join_shape(database: str, target: str, body: Mapping[str, Any]) -> QueryShape:
    """What a join stage asks of the joined collection: its join field (``foreignField``,
    ``connectToField``) as an equality, plus its sub-pipeline's own query part."""
    sub = body.get("pipeline")
    shape = _pipeline_shape(database, target, sub if isinstance(sub, list) else [], "")
    join_field = body.get("foreignField") or body.get("connectToField")
    if not isinstance(join_field, str):
        return shape
    joined = (Predicate(join_field, "$eq"), *shape.predicates)
    return replace(shape, predicates=joined)


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
