"""Compare what the definitions render to with what is live, and say what would change.

Both sides are normalised first (:mod:`obs.provision.normalize`), so only real differences
show; an update prints them as a diff of the normalised JSON. An owned object whose mark is
not exactly this project's, bound to its own id (a legacy mark, or a create not confirmed),
is updated too, and the plan says so.

Example:
    >>> body = {"name": "n", "type": "query alert", "query": "avg(last_5m):avg:m{*} > 1",
    ...         "options": {"thresholds": {"critical": 1.0}}, "tags": []}
    >>> plan = make_plan([Desired("monitor", "k", "n", body)], Live(), "team", None, prune=False)
    >>> [(c.action, c.kind, c.key) for c in plan.changes]
    [('create', 'monitor', 'k')]
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from obs.provision.identity import Identity, Kind, Mark, mark_of, with_mark
from obs.provision.live import KINDS, Live, Untouched
from obs.provision.normalize import (
    DASHBOARD_UNMANAGED,
    normalize_dashboard,
    normalize_monitor,
    normalize_slo,
)

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Desired:
    """One rendered definition."""

    kind: Kind
    key: str
    title: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One request to make: the body to send (none for a delete) and the readable diff."""

    action: Action
    kind: Kind
    key: str
    title: str
    live_id: str | int | None
    body: dict[str, Any] | None
    diff: tuple[str, ...] = ()

    def headline(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        where = f" (id {self.live_id})" if self.live_id is not None else ""
        return f"{sign} {self.action} {self.kind} {self.key}{where}: {self.title}"


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    unchanged: int
    # Owned objects no definition names; deleted only with --prune.
    not_in_code: tuple[Change, ...]
    # Marked objects the run leaves alone (copies, other marks), and why.
    untouched: tuple[Untouched, ...] = ()


def make_plan(
    desired: Iterable[Desired], live: Live, project: str, env: str | None, *, prune: bool
) -> Plan:
    """What to create, update and (with ``prune``) delete to make live match ``desired``."""
    changes: list[Change] = []
    unchanged = 0
    wanted: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
    # Creates and updates in KINDS order (an SLO before its burn-rate alerts), deletes after
    # them in the reverse order (the alerts before their SLO, which Datadog keeps otherwise).
    for item in sorted(desired, key=lambda d: KINDS.index(d.kind)):
        wanted[item.kind].add(item.key)
        current = live.owned[item.kind].get(item.key)
        if current is None:
            changes.append(Change("create", item.kind, item.key, item.title, None, item.body))
            continue
        mark = Mark(Identity(item.key, env, project), bound=str(current["id"]))
        diff = [
            *_ownership(mark_of(item.kind, current), mark),
            *_diff(item.kind, current, item.body),
        ]
        if not diff:
            unchanged += 1
            continue
        body = with_mark(item.kind, item.body, mark)
        if item.kind == "dashboard":
            body = {**body, **{k: current[k] for k in DASHBOARD_UNMANAGED if current.get(k)}}
        changes.append(
            Change("update", item.kind, item.key, item.title, current["id"], body, tuple(diff))
        )
    owned = [(kind, key, body) for kind in KINDS for key, body in live.owned[kind].items()]
    extra = [_delete(kind, key, body) for kind, key, body in owned if key not in wanted[kind]]
    extra.extend(_delete(kind, key, body) for kind, key, body in live.duplicates)
    extra.sort(key=lambda change: -KINDS.index(change.kind))
    untouched = tuple(live.untouched)
    if prune:
        return Plan(tuple(changes + extra), unchanged, (), untouched)
    return Plan(tuple(changes), unchanged, tuple(extra), untouched)


def _ownership(current: Mark | None, wanted: Mark) -> list[str]:
    """The line saying how the object's mark changes (none when it is right already)."""
    if current == wanted:
        return []
    if current is None or current.identity.project not in (None, wanted.identity.project):
        return []  # adopted by id: marked as this project's on its next update
    if current.identity.project is None:
        reason = "marked before projects existed, adopted into this project"
    elif current.bound is None:
        reason = "created, its mark now bound to its id"
    else:
        reason = "mark rewritten"
    return [f"ownership: {reason}: {' '.join(current.fields())} -> {' '.join(wanted.fields())}"]


def _delete(kind: Kind, key: str, body: dict[str, Any]) -> Change:
    title = str(body.get("title") or body.get("name") or "")
    return Change("delete", kind, key, title, body["id"], None)


_NORMALIZE = {"dashboard": normalize_dashboard, "monitor": normalize_monitor, "slo": normalize_slo}


def _diff(kind: Kind, live: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    normalize = _NORMALIZE[kind]
    before, after = normalize(live), normalize(desired)
    if before == after:
        return []
    lines = difflib.unified_diff(_lines(before), _lines(after), lineterm="", n=2)
    # Hunk headers count lines of normalised JSON, which means nothing to a reader.
    return ["..." if line.startswith("@@") else line for line in list(lines)[2:]]


def _lines(body: dict[str, Any]) -> list[str]:
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def describe(plan: Plan) -> str:
    """The plan as text for people: one headline per change, diffs under updates."""
    out: list[str] = []
    for change in plan.changes:
        out.append(change.headline())
        out.extend(f"    {line}" for line in change.diff)
    for change in plan.not_in_code:
        out.append(
            f"  not in code: {change.kind} {change.key} (id {change.live_id}): "
            f"{change.title} (kept; --prune deletes it)"
        )
    for item in plan.untouched:
        out.append(
            f"  not ours: {item.kind} {item.key} (id {item.live_id}): {item.title} ({item.reason})"
        )
    counts = {
        a: sum(1 for c in plan.changes if c.action == a) for a in ("create", "update", "delete")
    }
    out.append(
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['delete']} to delete, {plan.unchanged} unchanged."
    )
    return "\n".join(out)
