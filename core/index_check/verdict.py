"""Decide what is wrong with one query shape, from its explained plan, what the profiler
saw when it ran, and the collection's indexes. Pure: the caller does the I/O.

Rules (docs/index-check.md explains each):

- a ``COLLSCAN`` of the shape's collection, or a ``$lookup`` that reads its joined
  collection in full, is a collection scan; except a filterless ``find`` / aggregation with a
  limit and no sort (it reads only ``limit`` documents), and a filterless ``count`` (mongod
  answers it from collection metadata);
- a plan that ends at ``EOF`` because the collection does not exist (or, for a join, does
  not exist yet) proves nothing: the shape is a collection scan when no index of the
  collection could serve it (``_id`` always can);
- a blocking ``SORT`` stage under a query-level sort is an in-memory sort, unless an existing
  index already gives that order after the query's equality fields (then the sort is the
  engine's choice on this data, not a missing index: SecantusDB, for one, uses an index's
  order only when the sort key leads it); the profiler's ``hasSortStage`` always counts;
- documents or keys examined per document returned above the thresholds are reported when
  the collection is not scanned anyway (the scan already says it);
- ``find({})`` with no limit reads the whole collection whatever the plan.

Example:
    >>> from obs.index_check.plan import PlanFacts
    >>> from obs.mongo_queries.shape import shape_of
    >>> shape = shape_of("app", {"find": "logs", "filter": {"level": "error"}})
    >>> facts = PlanFacts("app.logs", collection_scans=("app.logs",))
    >>> [f.problem.value for f in judge(shape, facts, (), {}, (), thresholds=Thresholds())]
    ['collection_scan']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from obs.index_check.model import Finding, Observed, Problem, Thresholds
from obs.index_check.plan import PlanFacts
from obs.index_check.suggest import ID_INDEX, IndexKeys, needs, served_by, usable
from obs.mongo_queries.shape import QueryShape


def judge(
    shape: QueryShape,
    facts: PlanFacts,
    lookup_facts: Sequence[PlanFacts | None],
    indexes: Mapping[str, Sequence[IndexKeys]],
    observed: Sequence[Observed],
    *,
    thresholds: Thresholds,
) -> tuple[Finding, ...]:
    """The findings for one shape (see the module docstring).

    ``lookup_facts`` holds, for each of ``shape.lookups`` in order, the planner's answer for
    the joined collection, or None where the main explain already reported the join.
    """
    found: dict[tuple[Problem, str], Finding] = {}

    def add(problem: Problem, namespace: str, evidence: str) -> None:
        found.setdefault((problem, namespace), Finding(problem, namespace, evidence))

    main = shape.namespace
    exempt = _reads_few(shape, facts.blocking_sort)
    for namespace in facts.collection_scans:
        if namespace != main:
            add(Problem.COLLECTION_SCAN, namespace, "$lookup reads the joined collection in full")
        elif not exempt:
            add(Problem.COLLECTION_SCAN, main, "COLLSCAN in the winning plan")
    if facts.missing_collection and not exempt and _unservable(shape, indexes.get(main, ())):
        add(Problem.COLLECTION_SCAN, main, "collection missing at explain time; no index fits")
    for lookup, lookup_plan in zip(shape.lookups, lookup_facts, strict=True):
        if lookup_plan is None:
            continue
        target = lookup.namespace
        if target in lookup_plan.collection_scans or (
            lookup_plan.missing_collection and _unservable(lookup, indexes.get(target, ()))
        ):
            fields = ", ".join(p.path for p in lookup.predicates) or "no field"
            add(Problem.COLLECTION_SCAN, target, f"$lookup on {fields}: no index of {target}")
    if shape.sort and facts.blocking_sort and not _order_indexed(shape, indexes.get(main, ())):
        add(Problem.IN_MEMORY_SORT, main, "blocking SORT stage in the winning plan")
    for seen in observed:
        if (seen.plan_summary or "").startswith("COLLSCAN") and not exempt:
            add(Problem.COLLECTION_SCAN, main, "profiler: planSummary COLLSCAN")
        if seen.has_sort_stage and shape.sort:
            add(Problem.IN_MEMORY_SORT, main, "profiler: hasSortStage")
    if (Problem.COLLECTION_SCAN, main) not in found:  # a scan examines everything anyway
        runs = [(facts.docs_examined, facts.keys_examined, facts.returned)]
        runs += [(o.docs_examined, o.keys_examined, o.returned) for o in observed]
        for run in runs:
            _ratios(add, main, run, thresholds)
    if shape.operation == "find" and not shape.filtered and not shape.has_limit:
        add(Problem.UNBOUNDED, main, "find({}) with no limit reads every document")
    return tuple(found.values())


def _reads_few(shape: QueryShape, blocking_sort: bool) -> bool:
    """A filterless read that stops after ``limit`` documents, or a metadata count."""
    if shape.filtered:
        return False
    if shape.operation == "count":
        return True
    return shape.operation in ("find", "aggregate") and shape.has_limit and not blocking_sort


def _order_indexed(shape: QueryShape, indexes: Sequence[IndexKeys]) -> bool:
    """An existing index gives the sort order right after the query's equality fields:
    a blocking SORT is then the engine's choice on this data, not a missing index."""
    return any(
        served_by(replace(need, ranges=frozenset()), index)
        for need in needs(shape)
        for index in indexes
    )


def _unservable(shape: QueryShape, indexes: Sequence[IndexKeys]) -> bool:
    """No index could serve one of the shape's needs (filterless shapes need none)."""
    candidates = [*indexes, ID_INDEX]
    return any(not any(usable(n, i) for i in candidates) for n in needs(shape))


def _ratios(
    add: Callable[[Problem, str, str], None],
    namespace: str,
    run: tuple[int | None, int | None, int | None],
    thresholds: Thresholds,
) -> None:
    docs, keys, returned = run
    if returned is None:
        return
    per = max(returned, 1)
    if docs is not None and docs / per > thresholds.docs_per_returned:
        add(Problem.DOCS_EXAMINED, namespace, f"{docs} documents examined for {returned} returned")
    if keys is not None and keys / per > thresholds.keys_per_returned:
        add(Problem.KEYS_EXAMINED, namespace, f"{keys} index keys examined for {returned} returned")
