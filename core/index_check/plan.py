"""Read an ``explain`` reply: which collections the winning plan scans, whether it sorts in
memory, which indexes it uses, and how much it examined.

One reader for every layout mongod uses: classic stage trees (``inputStage`` /
``inputStages``), slot-based plans (``winningPlan.queryPlan``, ``EQ_LOOKUP`` joins with a
``strategy``), sharded plans (``shards[].winningPlan``), and aggregations (``stages[]`` with
a ``$cursor`` and ``$lookup`` entries carrying ``collectionScans`` / ``indexesUsed``, MongoDB
5.0+ at executionStats verbosity). Rejected plans are ignored: only the winner runs.

Example:
    >>> facts = read_plan({"queryPlanner": {"namespace": "app.users",
    ...     "winningPlan": {"stage": "SORT", "sortPattern": {"age": 1},
    ...                     "inputStage": {"stage": "COLLSCAN"}}}})
    >>> facts.collection_scans, facts.blocking_sort, facts.summary
    (('app.users',), True, 'SORT > COLLSCAN')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Plan sections that describe plans which did not run, or engine internals.
_SKIPPED = frozenset(
    {
        "rejectedPlans",
        "allPlansExecution",
        "slotBasedPlan",
        "command",
        "serverInfo",
        "serverParameters",
        "parsedQuery",
        "filter",
    }
)
_INDEX_STAGES = frozenset(
    {
        "IXSCAN",
        "COUNT_SCAN",
        "DISTINCT_SCAN",
        "IDHACK",
        "EXPRESS_IXSCAN",
        "EXPRESS_CLUSTERED_IXSCAN",
        "CLUSTERED_IXSCAN",
        "TEXT_MATCH",
        "GEO_NEAR_2D",
        "GEO_NEAR_2DSPHERE",
    }
)
# Join strategies that read the whole joined collection (hash join builds from a scan;
# a nested loop join scans it once per outer document).
_SCANNING_JOINS = frozenset({"NestedLoopJoin", "HashJoin"})
# A SORT above these sorts computed results (groups, joins): no index can give that order.
_NOT_INDEX_ORDER = ("GROUP", "EQ_LOOKUP", "UNWIND", "HASH_JOIN", "NESTED_LOOP_JOIN")


@dataclass(frozen=True)
class PlanFacts:
    """What one explain reply says about the winning plan."""

    namespace: str
    collection_scans: tuple[str, ...] = ()  # namespaces read in full, in plan order
    blocking_sort: bool = False
    missing_collection: bool = False  # EOF because the namespace does not exist
    indexes: tuple[str, ...] = ()  # index names the plan uses
    joins_reported: tuple[str, ...] = ()  # joined namespaces whose access path is shown
    docs_examined: int | None = None
    keys_examined: int | None = None
    returned: int | None = None
    summary: str = ""  # root-to-leaf stage names of the main plan: "FETCH > IXSCAN"


def read_plan(explain: Mapping[str, Any]) -> PlanFacts:
    """The facts of one explain reply (see the module docstring)."""
    namespace = _namespace(explain)
    database = namespace.partition(".")[0]
    scans: list[str] = []
    indexes: list[str] = []
    joins: list[str] = []
    blocking = missing = False
    for node in _nodes(explain):
        if "$lookup" in node and isinstance(node["$lookup"], Mapping):
            joined = f"{database}.{node['$lookup'].get('from', '')}"
            if "collectionScans" in node or "indexesUsed" in node:
                joins.append(joined)
                if _number(node.get("collectionScans")):
                    scans.append(joined)
                indexes += [str(i) for i in node.get("indexesUsed") or ()]
            continue
        stage = node.get("stage")
        if not isinstance(stage, str):
            continue
        if stage == "COLLSCAN":
            scans.append(str(node.get("nss") or namespace))
        elif stage in _INDEX_STAGES and node.get("indexName"):
            indexes.append(str(node["indexName"]))
        elif stage.startswith("EQ_LOOKUP"):
            joined = str(node.get("foreignCollection") or "")
            joins.append(joined)
            if node.get("strategy") in _SCANNING_JOINS:
                scans.append(joined)
            elif node.get("indexName"):
                indexes.append(str(node["indexName"]))
        elif stage == "SORT":
            blocking = blocking or not any(
                str(n.get("stage", "")).startswith(_NOT_INDEX_ORDER) for n in _nodes(node)
            )
        elif stage == "EOF":
            missing = missing or node.get("type", "nonExistentNamespace") == "nonExistentNamespace"
    stats = _execution_stats(explain)
    return PlanFacts(
        namespace=namespace,
        collection_scans=tuple(dict.fromkeys(scans)),
        blocking_sort=blocking,
        missing_collection=missing,
        indexes=tuple(dict.fromkeys(indexes)),
        joins_reported=tuple(dict.fromkeys(joins)),
        docs_examined=_number(stats.get("totalDocsExamined")) if stats else None,
        keys_examined=_number(stats.get("totalKeysExamined")) if stats else None,
        returned=_number(stats.get("nReturned")) if stats else None,
        summary=_summary(explain),
    )


def _nodes(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every mapping inside ``value`` (itself included), skipping plans that did not run."""
    if isinstance(value, Mapping):
        yield value
        for key, item in value.items():
            # "$match", "$lookup", ... hold the user's query, whose field names could
            # read as plan stages; "$cursor" holds the plan of an aggregation.
            if key not in _SKIPPED and (key == "$cursor" or not key.startswith("$")):
                yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def _number(value: Any) -> int:
    """Counts arrive as int, float or Int64; a missing count is 0."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _planner(explain: Mapping[str, Any]) -> Mapping[str, Any]:
    """The query planner section: top level, or the first stage's ``$cursor``."""
    planner = explain.get("queryPlanner")
    if isinstance(planner, Mapping):
        return planner
    stages = explain.get("stages")
    if isinstance(stages, list) and stages and isinstance(stages[0], Mapping):
        cursor = stages[0].get("$cursor")
        if isinstance(cursor, Mapping) and isinstance(cursor.get("queryPlanner"), Mapping):
            return cursor["queryPlanner"]  # type: ignore[no-any-return]
    return {}


def _namespace(explain: Mapping[str, Any]) -> str:
    planner = _planner(explain)
    namespace = planner.get("namespace")
    if not namespace:
        shards = (planner.get("winningPlan") or {}).get("shards") or [{}]
        namespace = shards[0].get("namespace", "")
    return str(namespace or "")


def _execution_stats(explain: Mapping[str, Any]) -> Mapping[str, Any] | None:
    stats = explain.get("executionStats")
    if isinstance(stats, Mapping):
        return stats
    stages = explain.get("stages")
    if isinstance(stages, list) and stages and isinstance(stages[0], Mapping):
        cursor = stages[0].get("$cursor")
        if isinstance(cursor, Mapping) and isinstance(cursor.get("executionStats"), Mapping):
            return cursor["executionStats"]  # type: ignore[no-any-return]
    return None


def _summary(explain: Mapping[str, Any]) -> str:
    """Stage names from the root of the winning plan down its first inputs."""
    plan: Any = _planner(explain).get("winningPlan") or {}
    if isinstance(plan.get("queryPlan"), Mapping):
        plan = plan["queryPlan"]
    if isinstance(plan.get("shards"), list) and plan["shards"]:
        plan = plan["shards"][0].get("winningPlan") or {}
    names: list[str] = []
    while isinstance(plan, Mapping) and isinstance(plan.get("stage"), str):
        name = plan["stage"]
        names.append(f"{name} {plan['indexName']}" if plan.get("indexName") else name)
        inputs = plan.get("inputStages")
        plan = plan.get("inputStage") or (
            inputs[0] if isinstance(inputs, list) and inputs else None
        )
    return " > ".join(names)
