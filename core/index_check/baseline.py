"""The baseline: a committed file of accepted offenders, and the gate that compares a run
with it.

An offender is accepted when the baseline lists its shape fingerprint with every problem
it has now; a known shape with a new problem (a sort that now also scans) is new. The file
is sorted and carries no timestamps, so rewriting it with the same offenders changes
nothing and review diffs show only real changes.

Example:
    >>> entry = BaselineEntry("0123456789abcdef", "logs", ("collection_scan",), "find logs")
    >>> Baseline((entry,)).accepts("0123456789abcdef", ("collection_scan",))
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obs.index_check.model import Problem, Verdict

FORMAT_VERSION = 1
DEFAULT_PATH = Path(".obs/index-baseline.json")
_PROBLEMS = frozenset(p.value for p in Problem)


class BaselineError(Exception):
    """The baseline file cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class BaselineEntry:
    fingerprint: str
    collection: str
    problems: tuple[str, ...]
    shape: str  # the shape's summary, for people reading the file


@dataclass(frozen=True)
class Baseline:
    entries: tuple[BaselineEntry, ...] = ()

    def accepts(self, fingerprint: str, problems: Iterable[str]) -> bool:
        return any(
            e.fingerprint == fingerprint and set(problems) <= set(e.problems) for e in self.entries
        )

    @classmethod
    def of(cls, verdicts: Iterable[Verdict]) -> Baseline:
        """The baseline that accepts exactly these offenders."""
        entries = {
            v.shape.fingerprint: BaselineEntry(
                v.shape.fingerprint,
                v.shape.collection,
                tuple(p.value for p in v.problems),
                v.shape.summary,
            )
            for v in verdicts
            if v.offending
        }
        return cls(tuple(sorted(entries.values(), key=lambda e: (e.collection, e.fingerprint))))

    def to_json(self) -> str:
        body = {
            "version": FORMAT_VERSION,
            "about": "Accepted unindexed query shapes; rewrite with obs index-check "
            "--update-baseline. See docs/index-check.md.",
            "offenders": [
                {
                    "fingerprint": e.fingerprint,
                    "collection": e.collection,
                    "problems": list(e.problems),
                    "shape": e.shape,
                }
                for e in self.entries
            ],
        }
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> Baseline:
    """The baseline in ``path``; an empty one when the file does not exist yet."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return Baseline()
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError:
        raise BaselineError(f"{path}: nested too deeply to be a baseline") from None
    return Baseline(tuple(_entries(path, body)))


def _entries(path: Path, body: Any) -> Iterable[BaselineEntry]:
    if not isinstance(body, Mapping) or body.get("version") != FORMAT_VERSION:
        raise BaselineError(f'{path}: expected an object with "version": {FORMAT_VERSION}')
    offenders = body.get("offenders")
    if not isinstance(offenders, list):
        raise BaselineError(f'{path}: "offenders" must be a list')
    for index, item in enumerate(offenders):
        where = f"{path}: offenders[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("fingerprint"), str):
            raise BaselineError(f'{where}: needs a "fingerprint" string')
        problems = item.get("problems")
        if not isinstance(problems, list) or not set(problems) <= _PROBLEMS:
            raise BaselineError(f'{where}: "problems" must list some of {sorted(_PROBLEMS)}')
        yield BaselineEntry(
            item["fingerprint"],
            str(item.get("collection", "")),
            tuple(problems),
            str(item.get("shape", "")),
        )


def save(baseline: Baseline, path: Path) -> None:
    """Write ``baseline`` to ``path`` (atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(baseline.to_json(), encoding="utf-8")
    partial.replace(path)


@dataclass(frozen=True)
class Outcome:
    """A run compared with the baseline."""

    verdicts: tuple[Verdict, ...]
    new: tuple[Verdict, ...]  # offenders the baseline does not accept
    accepted: tuple[Verdict, ...]  # offenders the baseline accepts
    fixed: tuple[BaselineEntry, ...]  # baseline entries seen this run and no longer offending
    errors: tuple[Verdict, ...]  # shapes the server would not explain

    @property
    def exit_code(self) -> int:
        """1 when some shape could not be checked, else 2 for new offenders, else 0."""
        if self.errors:
            return 1
        return 2 if self.new else 0

    def status(self, verdict: Verdict) -> str:
        """ "new", "accepted", "error" or "ok"."""
        if verdict.error is not None:
            return "error"
        if verdict in self.new:
            return "new"
        return "accepted" if verdict in self.accepted else "ok"


def gate(verdicts: Iterable[Verdict], baseline: Baseline) -> Outcome:
    """Compare a run's verdicts with the baseline.

    Example:
        >>> gate([], Baseline()).exit_code
        0
    """
    all_verdicts = tuple(verdicts)
    offenders = [v for v in all_verdicts if v.offending]
    new = tuple(
        v for v in offenders if not baseline.accepts(v.shape.fingerprint, (p for p in v.problems))
    )
    accepted = tuple(v for v in offenders if v not in new)
    clean = {v.shape.fingerprint for v in all_verdicts if not v.offending and v.error is None}
    fixed = tuple(e for e in baseline.entries if e.fingerprint in clean)
    errors = tuple(v for v in all_verdicts if v.error is not None)
    return Outcome(all_verdicts, new, accepted, fixed, errors)
