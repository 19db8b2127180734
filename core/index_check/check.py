"""From recorded commands to verdicts: group them by shape, explain one example of each
against the target database, judge it.

Example (with a pymongo client on a test database):

    samples = read_profile(client, ["app"], since=timedelta(hours=24))
    verdicts = check(samples, Explainer(client), Thresholds())
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from obs.index_check.explainer import Explainer, ExplainError
from obs.index_check.model import ExecStats, Observed, Problem, Sample, Thresholds, Verdict
from obs.index_check.plan import PlanFacts
from obs.index_check.suggest import Need, open_needs
from obs.index_check.verdict import judge
from obs.mongo_queries.shape import QueryShape, shape_of

_MAX_SOURCES = 5


@dataclass
class Recorded:
    """The commands of one shape: the first as its example, and a count."""

    shape: QueryShape
    example: Sample
    count: int = 0
    sources: list[str] = field(default_factory=list)
    observed: list[Observed] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.count += 1
        if sample.source not in self.sources and len(self.sources) < _MAX_SOURCES:
            self.sources.append(sample.source)
        if sample.observed is not None and sample.observed not in self.observed:
            self.observed.append(sample.observed)


def distinct_shapes(samples: Iterable[Sample]) -> list[Recorded]:
    """Samples grouped by shape fingerprint, in order of first appearance; commands that
    are not queries (inserts, getMore, admin commands) are left out.

    Example:
        >>> rows = distinct_shapes([Sample("app", {"find": "u", "filter": {"a": i}}, "t")
        ...                         for i in range(3)])
        >>> [(r.shape.summary, r.count) for r in rows]
        [('find u {a}', 3)]
    """
    found: dict[str, Recorded] = {}
    for sample in samples:
        shape = shape_of(sample.database, sample.command)
        if shape is None:
            continue
        recorded = found.get(shape.fingerprint)
        if recorded is None:
            recorded = found[shape.fingerprint] = Recorded(shape, sample)
        recorded.add(sample)
    return list(found.values())


def examine(recorded: Recorded, explainer: Explainer, thresholds: Thresholds) -> Verdict:
    """Explain, judge and suggest for one shape. A command the server will not explain
    gives a verdict with ``error`` set; connection failures propagate."""
    shape = recorded.shape
    base = Verdict(
        shape,
        recorded.example,
        recorded.count,
        sources=tuple(recorded.sources),
    )
    try:
        facts = explainer.facts(recorded.example.database, recorded.example.command)
        lookup_facts = [
            None if lookup.namespace in facts.joins_reported else explainer.probe(lookup)
            for lookup in shape.lookups
        ]
    except ExplainError as exc:
        return replace(base, error=str(exc))
    namespaces = {shape.namespace, *(lookup.namespace for lookup in shape.lookups)}
    indexes = {namespace: explainer.indexes(namespace) for namespace in namespaces}
    findings = judge(shape, facts, lookup_facts, indexes, recorded.observed, thresholds=thresholds)
    wanted: list[Need] = []
    if any(f.namespace == shape.namespace and f.problem != Problem.UNBOUNDED for f in findings):
        wanted += open_needs(shape, indexes[shape.namespace])
    for lookup in shape.lookups:
        if any(f.namespace == lookup.namespace for f in findings):
            wanted += open_needs(lookup, indexes[lookup.namespace])
    return replace(
        base,
        plan=facts.summary,
        findings=findings,
        stats=_stats(facts),
        needs=tuple(dict.fromkeys(wanted)),
    )


def _stats(facts: PlanFacts) -> ExecStats | None:
    if facts.returned is None:
        return None
    return ExecStats(facts.docs_examined or 0, facts.keys_examined or 0, facts.returned)


def check(samples: Iterable[Sample], explainer: Explainer, thresholds: Thresholds) -> list[Verdict]:
    """A verdict for every distinct shape among ``samples``."""
    return [examine(r, explainer, thresholds) for r in distinct_shapes(samples)]
