"""The gate's verdicts for people (a table) and for CI (JUnit XML).

The XML is the JUnit format CI systems read (GitHub, GitLab, Jenkins): one ``testsuite``,
one ``testcase`` per SLO or monitor, a ``failure`` for a missed objective, a ``skipped`` for
one without data, an ``error`` for one the evaluator could not judge. Written with the
standard library's ElementTree, which escapes markup; characters XML 1.0 cannot hold at all
(control characters from a definition's name) are first written as their escapes, \\x07.

Example:
    >>> from obs.loadtest.verdict import Verdict
    >>> print(table([Verdict("slo", "k", "K", "met", "99.9 % (9 of 9 events)", "99 % over 30d")]))
    SLO or monitor  result  measured                objective
    k               met     99.9 % (9 of 9 events)  99 % over 30d
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace

from obs.loadtest.verdict import Verdict

# Everything XML 1.0 allows in a document is kept; anything else is shown escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HEADER = ("SLO or monitor", "result", "measured", "objective")


def table(verdicts: Sequence[Verdict]) -> str:
    """One line per verdict, columns aligned."""
    rows = [_HEADER] + [
        (
            v.key if v.kind == "slo" else f"{v.key} (monitor)",
            v.result,
            v.measured + (f", burn rate {v.burn_rate:.2f}x" if v.burn_rate is not None else ""),
            v.objective,
        )
        for v in verdicts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def junit(verdicts: Sequence[Verdict], seconds: float) -> bytes:
    """The verdicts as a JUnit XML document."""
    suite = ET.Element(
        "testsuite",
        name="obs slo check",
        tests=str(len(verdicts)),
        failures=str(sum(v.result == "missed" for v in verdicts)),
        errors=str(sum(v.result == "error" for v in verdicts)),
        skipped=str(sum(v.result == "skipped" for v in verdicts)),
        time=f"{seconds:.3f}",
    )
    for v in map(_xml_safe, verdicts):
        case = ET.SubElement(
            suite, "testcase", classname=f"obs.{v.kind}", name=v.key, time=f"{seconds:.3f}"
        )
        detail = f"{v.name}: {v.measured}; objective {v.objective}"
        if v.result == "missed":
            ET.SubElement(case, "failure", message=f"missed: {v.measured}").text = detail
        elif v.result == "skipped":
            ET.SubElement(case, "skipped", message=v.measured)
        elif v.result == "error":
            ET.SubElement(case, "error", message=v.measured).text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    root = ET.Element("testsuites")
    root.append(suite)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _xml_safe(verdict: Verdict) -> Verdict:
    def safe(text: str) -> str:
        return _NOT_XML.sub(lambda found: f"\\x{ord(found[0]):02x}", text)

    return replace(
        verdict,
        key=safe(verdict.key),
        name=safe(verdict.name),
        measured=safe(verdict.measured),
        objective=safe(verdict.objective),
    )
