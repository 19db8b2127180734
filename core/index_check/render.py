"""The gate's outcome as a table for people, JSON for tools, and JUnit XML for CI systems.

Only masked shapes appear (``"?"`` for every value): query values never leave the process.
Pure functions of an :class:`~obs.index_check.baseline.Outcome`.

Example:
    >>> from obs.index_check.baseline import gate, Baseline
    >>> print(table(gate([], Baseline())))
    No query shapes recorded.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from obs.index_check.baseline import Outcome
from obs.index_check.model import Verdict
from obs.index_check.suggest import IndexSuggestion, merged_suggestions

_ORDER = {"new": 0, "error": 1, "accepted": 2, "ok": 3}
_SHAPE_WIDTH = 70


def suggestions(outcome: Outcome) -> list[IndexSuggestion]:
    """Index suggestions for the new offenders, merged per collection."""
    return merged_suggestions(need for v in outcome.new for need in v.needs)


def _rows(outcome: Outcome) -> list[tuple[str, Verdict]]:
    rows = [(outcome.status(v), v) for v in outcome.verdicts]
    return sorted(rows, key=lambda row: (_ORDER[row[0]], row[1].shape.namespace))


def table(outcome: Outcome) -> str:
    """A fixed-width table: status, problems, examined/returned, the shape; then the
    suggested indexes and a one-line verdict."""
    if not outcome.verdicts:
        return "No query shapes recorded."
    header = ("STATUS", "PROBLEMS", "EXAMINED/RETURNED", "COUNT", "SHAPE")
    lines = [header]
    for status, verdict in _rows(outcome):
        problems = ",".join(p.value for p in verdict.problems) or (verdict.error or "-")
        stats = verdict.stats
        examined = (
            f"{stats.docs_examined}d {stats.keys_examined}k / {stats.returned}" if stats else "-"
        )
        summary = verdict.shape.summary
        if len(summary) > _SHAPE_WIDTH:
            summary = summary[: _SHAPE_WIDTH - 1] + "…"
        lines.append((status, problems, examined, str(verdict.count), summary))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header) - 1)]
    out = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in lines
    ]
    if outcome.new:
        out += ["", "New offenders:"]
        for verdict in outcome.new:
            out.append(f"  {verdict.shape.summary}  [{verdict.shape.fingerprint}]")
            out += [
                f"    {f.problem.value} on {f.namespace}: {f.evidence}" for f in verdict.findings
            ]
    wanted = suggestions(outcome)
    if wanted:
        out += ["", "Suggested indexes (Equality, Sort, Range):"]
        out += [f"  {s.create_index}" for s in wanted]
    out += ["", _verdict_line(outcome)]
    return "\n".join(out)


def _verdict_line(outcome: Outcome) -> str:
    parts = [
        f"{len(outcome.verdicts)} shapes",
        f"{len(outcome.new)} new offenders",
        f"{len(outcome.accepted)} accepted in the baseline",
    ]
    if outcome.fixed:
        parts.append(f"{len(outcome.fixed)} baseline entries fixed")
    if outcome.errors:
        parts.append(f"{len(outcome.errors)} not explained")
    return "index-check: " + ", ".join(parts) + "."


def to_dict(outcome: Outcome) -> dict[str, Any]:
    """The JSON report's body."""
    return {
        "exit_code": outcome.exit_code,
        "summary": {
            "shapes": len(outcome.verdicts),
            "new": len(outcome.new),
            "accepted": len(outcome.accepted),
            "fixed": len(outcome.fixed),
            "errors": len(outcome.errors),
        },
        "shapes": [_verdict_dict(status, v) for status, v in _rows(outcome)],
        "fixed": [e.fingerprint for e in outcome.fixed],
        "suggested_indexes": [
            {"collection": s.collection, "keys": dict(s.keys), "create_index": s.create_index}
            for s in suggestions(outcome)
        ],
    }


def _verdict_dict(status: str, verdict: Verdict) -> dict[str, Any]:
    stats = verdict.stats
    return {
        "status": status,
        "fingerprint": verdict.shape.fingerprint,
        "namespace": verdict.shape.namespace,
        "operation": verdict.shape.operation,
        "shape": verdict.shape.summary,
        "text": verdict.shape.text,
        "count": verdict.count,
        "sources": list(verdict.sources),
        "plan": verdict.plan,
        "problems": [
            {"problem": f.problem.value, "namespace": f.namespace, "evidence": f.evidence}
            for f in verdict.findings
        ],
        "examined": None
        if stats is None
        else {"docs": stats.docs_examined, "keys": stats.keys_examined, "returned": stats.returned},
        "suggested_indexes": [
            {"collection": s.collection, "keys": dict(s.keys)} for s in verdict.suggestions
        ],
        "error": verdict.error,
    }


def to_json(outcome: Outcome) -> str:
    return json.dumps(to_dict(outcome), indent=2, ensure_ascii=False) + "\n"


def to_junit(outcome: Outcome) -> str:
    """One test case per shape: new offenders fail, explain errors are errors, accepted
    offenders are skipped with the reason, clean shapes pass."""
    suite = ET.Element(
        "testsuite",
        name="obs index-check",
        tests=str(len(outcome.verdicts)),
        failures=str(len(outcome.new)),
        errors=str(len(outcome.errors)),
        skipped=str(len(outcome.accepted)),
    )
    for status, verdict in _rows(outcome):
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"index-check.{verdict.shape.namespace}",
            name=f"{verdict.shape.summary} [{verdict.shape.fingerprint}]",
        )
        detail = "\n".join(
            [f"{f.problem.value} on {f.namespace}: {f.evidence}" for f in verdict.findings]
            + [f"suggested: {s.create_index}" for s in verdict.suggestions]
            + [f"shape: {verdict.shape.text}", f"plan: {verdict.plan}"]
        )
        problems = ", ".join(p.value for p in verdict.problems)
        if status == "new":
            ET.SubElement(case, "failure", message=f"new unindexed query: {problems}").text = detail
        elif status == "error":
            ET.SubElement(case, "error", message=f"explain failed: {verdict.error}")
        elif status == "accepted":
            ET.SubElement(case, "skipped", message=f"accepted in the baseline: {problems}")
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
