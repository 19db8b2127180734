"""The values the gate passes around: recorded commands, what was found about each
distinct shape, and the thresholds that decide it.

Example:
    >>> sample = Sample("app", {"find": "users", "filter": {"age": 3}}, "test.jsonl:1")
    >>> Finding(Problem.COLLECTION_SCAN, "app.users", "COLLSCAN in the winning plan").problem
    <Problem.COLLECTION_SCAN: 'collection_scan'>
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from obs.index_check.suggest import IndexSuggestion, Need, merged_suggestions
from obs.mongo_queries.shape import QueryShape


class Problem(StrEnum):
    """What makes a shape an offender."""

    COLLECTION_SCAN = "collection_scan"  # COLLSCAN, also of a $lookup's joined collection
    IN_MEMORY_SORT = "in_memory_sort"  # a blocking SORT stage: no index gives the order
    DOCS_EXAMINED = "docs_examined"  # documents examined per document returned too high
    KEYS_EXAMINED = "keys_examined"  # index keys examined per document returned too high
    UNBOUNDED = "unbounded"  # find({}) with no limit: reads the whole collection


@dataclass(frozen=True)
class Thresholds:
    """When examined-per-returned ratios make an offender.

    Atlas's Query Targeting alerts fire on these ratios ("Scanned Objects / Returned",
    "Scanned / Returned"); 1000 is the threshold MongoDB's own examples set for them
    (docs/index-check.md cites the sources). Returned counts as at least 1, so a query
    examining 5000 documents to return none is flagged too.
    """

    docs_per_returned: float = 1000.0
    keys_per_returned: float = 1000.0


@dataclass(frozen=True)
class Observed:
    """What the profiler saw when the command really ran (real mongod fills these;
    SecantusDB's profiler does not)."""

    plan_summary: str | None = None  # "COLLSCAN", "IXSCAN { a: 1 }", ...
    docs_examined: int | None = None
    keys_examined: int | None = None
    returned: int | None = None
    has_sort_stage: bool = False


@dataclass(frozen=True)
class Sample:
    """One recorded command and where it came from."""

    database: str
    command: Mapping[str, Any]
    source: str  # "pytest:tests/test_x.py::test_y", "profile:app", "shapes.jsonl:3"
    observed: Observed | None = None


@dataclass(frozen=True)
class Finding:
    """One problem of one shape, with the evidence for it."""

    problem: Problem
    namespace: str  # the shape's collection, or the collection a $lookup joins
    evidence: str  # what showed it: "COLLSCAN in the winning plan", ...


@dataclass(frozen=True)
class ExecStats:
    docs_examined: int
    keys_examined: int
    returned: int


@dataclass(frozen=True)
class Verdict:
    """Everything the gate concluded about one distinct shape."""

    shape: QueryShape
    example: Sample
    count: int  # how many recorded commands had this shape
    plan: str = ""  # short plan: "COLLSCAN", "IXSCAN email_1", ...
    findings: tuple[Finding, ...] = ()
    stats: ExecStats | None = None
    needs: tuple[Need, ...] = ()  # index needs no existing index serves, for suggestions
    error: str | None = None  # explain failed: the server's message
    sources: tuple[str, ...] = field(default=())

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The distinct problems, in Problem order."""
        found = {f.problem for f in self.findings}
        return tuple(p for p in Problem if p in found)

    @property
    def offending(self) -> bool:
        return bool(self.findings)

    @property
    def suggestions(self) -> list[IndexSuggestion]:
        """Indexes that would serve this shape, merged per collection (ESR order)."""
        return merged_suggestions(self.needs)
