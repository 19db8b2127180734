"""Ask the target database how it would run a recorded command, without ever writing.

Every command is turned into a read before it is explained: ``update`` / ``delete`` /
``findAndModify`` become a ``find`` on their filter, and an aggregation loses its ``$out`` /
``$merge`` stage (mongod's explain would not write either, but the gate then needs no write
privilege and cannot write by mistake). Commands recorded masked (``"?"`` for every value,
as ``db.query.text`` and the shapes file hold them) get a harmless stand-in where a ``"?"``
would be invalid (``limit``, ``$regex``, ``$type``, ...).

Verbosity is executionStats (mongod runs the winning plan and reports what it examined);
where the server refuses that, the explain is repeated at queryPlanner verbosity.
Index lists are read once per collection.

Example:
    >>> readable("app", {"update": "users", "updates": [{"q": {"a": 1}, "u": {"$set": {}}}],
    ...                  "lsid": {}, "$db": "app"})
    {'find': 'users', 'filter': {'a': 1}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obs.index_check.plan import PlanFacts, read_plan
from obs.index_check.suggest import IndexKeys
from obs.mongo_queries.masking import DRIVER_FIELDS
from obs.mongo_queries.shape import EXPR_PREFIX, QueryShape

MASK = "?"
EXECUTION_STATS = "executionStats"
QUERY_PLANNER = "queryPlanner"

_WRITE_STAGES = frozenset({"$out", "$merge"})
# Stand-ins for masked values that the server would reject as "?".
_STAND_INS: dict[str, Any] = {
    "limit": 1,
    "skip": 1,
    "batchSize": 1,
    "$limit": 1,
    "$skip": 1,
    "$size": 0,
    "$mod": [2, 0],
    "$type": "string",
    "$regex": "^",
    "$options": "",
    "$exists": True,
    "$bitsAllSet": 0,
    "$bitsAllClear": 0,
    "$bitsAnySet": 0,
    "$bitsAnyClear": 0,
    "size": 1,
}
_COMPARISONS = frozenset({"$gt", "$gte", "$lt", "$lte", "$ne"})


class ExplainError(Exception):
    """The server would not explain a command; the message is the server's code name and
    the description it starts its message with."""


def readable(database: str, command: Mapping[str, Any]) -> dict[str, Any]:
    """The read-only command to explain in place of ``command`` (see the module docstring)."""
    name = next(iter(command))
    collection = command[name]
    if name in ("update", "delete"):
        statements = command.get("updates" if name == "update" else "deletes") or [{}]
        return {"find": collection, "filter": _unmask(statements[0].get("q") or {})}
    if name == "findAndModify":
        found = {"find": collection, "filter": _unmask(command.get("query") or {}), "limit": 1}
        if command.get("sort"):
            found["sort"] = command["sort"]
        return found
    out = {k: _unmask(v, k) for k, v in command.items() if k not in DRIVER_FIELDS}
    if name == "aggregate":
        out["pipeline"] = [
            stage
            for stage in out.get("pipeline") or []
            if not (isinstance(stage, Mapping) and _WRITE_STAGES & set(stage))
        ]
        out.setdefault("cursor", {})
    return out


def _unmask(value: Any, key: str = "") -> Any:
    if value == MASK and key in _STAND_INS:
        return _STAND_INS[key]
    if isinstance(value, Mapping):
        return {k: _unmask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key in _STAND_INS and value == [MASK]:
            return _STAND_INS[key]
        return [_unmask(item) for item in value]
    return value


def probe_filter(shape: QueryShape) -> dict[str, Any]:
    """A filter with the shape's fields and operators and stand-in values: enough for the
    planner to pick the plan it would pick for the real query.

    Example:
        >>> from obs.mongo_queries.shape import Predicate
        >>> probe_filter(QueryShape("find", "app.u", (Predicate("a", "$eq"),
        ...     Predicate("b", "$expr.$gt"), Predicate("c", "$regex"))))
        {'a': 0, 'b': {'$gt': 0}, 'c': {'$regex': '^a'}}
    """
    out: dict[str, Any] = {}
    for predicate in shape.predicates:
        if predicate.path.startswith("$"):
            continue
        operator = predicate.operator.removeprefix(EXPR_PREFIX)
        if operator in ("$eq", "$in"):
            out[predicate.path] = 0
        elif operator in _COMPARISONS:
            out[predicate.path] = {operator: 0}
        elif operator == "$regex":
            out[predicate.path] = {"$regex": "^a"}
        else:
            out[predicate.path] = {"$exists": True}
    return out


class Explainer:
    """Explains commands against one MongoDB deployment (a pymongo ``MongoClient``)."""

    def __init__(self, client: Any, *, verbosity: str = EXECUTION_STATS) -> None:
        self._client = client
        self._verbosity = verbosity
        self._indexes: dict[str, tuple[IndexKeys, ...]] = {}

    def explain(self, database: str, command: Mapping[str, Any]) -> dict[str, Any]:
        """The explain reply for the read-only form of ``command``.

        Raises ExplainError with the server's message when it refuses."""
        from pymongo.errors import OperationFailure

        from obs.privacy.scrub import server_message

        body = readable(database, command)
        verbosities = [self._verbosity]
        if self._verbosity != QUERY_PLANNER:
            verbosities.append(QUERY_PLANNER)
        failure = ""
        for verbosity in verbosities:
            try:
                reply = self._client[database].command({"explain": body, "verbosity": verbosity})
                return dict(reply)
            except OperationFailure as exc:
                details = exc.details or {}
                name = details.get("codeName") or f"code {exc.code}"
                # Only the message's leading description: the server quotes the command's
                # values and names (a hint, a $type alias) after it.
                failure = f"{name}: {server_message(str(details.get('errmsg') or exc))}"
        raise ExplainError(failure)

    def facts(self, database: str, command: Mapping[str, Any]) -> PlanFacts:
        """:func:`read_plan` of :meth:`explain`."""
        return read_plan(self.explain(database, command))

    def probe(self, shape: QueryShape) -> PlanFacts:
        """The planner's choice for a synthetic find with the shape's fields (how a
        ``$lookup`` reads its joined collection, where the server's explain is silent)."""
        command: dict[str, Any] = {"find": shape.collection, "filter": probe_filter(shape)}
        if shape.sort:
            command["sort"] = dict(shape.sort)
        planner = Explainer(self._client, verbosity=QUERY_PLANNER)
        return planner.facts(shape.database, command)

    def indexes(self, namespace: str) -> tuple[IndexKeys, ...]:
        """Key patterns of the collection's indexes, up to their first non-ordered key
        (text, 2dsphere); a hashed key counts as ascending (it serves equality)."""
        if namespace not in self._indexes:
            database, _, collection = namespace.partition(".")
            found: list[IndexKeys] = []
            for spec in self._client[database][collection].list_indexes():
                keys: list[tuple[str, int]] = []
                for name, value in dict(spec["key"]).items():
                    direction = 1 if value == "hashed" else value
                    if isinstance(direction, bool) or not isinstance(direction, int | float):
                        break
                    keys.append((str(name), -1 if direction < 0 else 1))
                if keys:
                    found.append(tuple(keys))
            self._indexes[namespace] = tuple(found)
        return self._indexes[namespace]
