"""Carry out a plan, one request at a time, and account for every change.

A create is two requests: the object is made with its mark unbound, then the mark is bound to
the id Datadog gave it (so that a copy made later in Datadog's UI is told apart). A create
whose reply was lost (connection dropped, 5xx) may have happened: before trying again, obs
looks for the object by its unbound mark, so a lost reply never makes a duplicate. The first
change that fails stops the run; the summary lists what was applied, what failed and what was
not attempted.

A burn-rate alert names its SLO by id: an SLO created in the run gives its id to the alerts
applied after it (:mod:`obs.provision.references`); the plan puts SLOs first.

Example:
    >>> Outcome(Change("delete", "monitor", "k", "t", 1, None), "done").line()
    'done         delete monitor k (id 1): t'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from obs.provision.client import DatadogClient, DatadogError, OutcomeUnknown
from obs.provision.identity import Identity, Mark, with_mark
from obs.provision.live import find_created, unwrapped
from obs.provision.plan import Change
from obs.provision.problems import ProvisionError
from obs.provision.references import pending, resolve

Status = Literal["done", "failed", "not attempted"]
_CREATE_TRIES = 3


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: Status
    detail: str = ""
    live_id: str | int | None = None

    def line(self) -> str:
        where = self.live_id if self.live_id is not None else self.change.live_id
        shown = f" (id {where})" if where is not None else ""
        detail = f" - {self.detail}" if self.detail else ""
        return (
            f"{self.status:<12} {self.change.action} {self.change.kind} {self.change.key}"
            f"{shown}: {self.change.title}{detail}"
        )


def apply_changes(
    client: DatadogClient,
    changes: Sequence[Change],
    project: str,
    env: str | None,
    progress: Callable[[str], None],
) -> list[Outcome]:
    """Apply ``changes`` for ``project`` in ``env``, in order; stop at the first failure."""
    outcomes: list[Outcome] = []
    slo_ids: dict[str, str] = {}
    for index, change in enumerate(changes):
        progress(f"[{index + 1}/{len(changes)}] {change.action} {change.kind} {change.key} ...")
        try:
            sent = _with_ids(change, slo_ids) if change.body is not None else change
            live_id = _apply(client, sent, Identity(change.key, env, project))
            if change.kind == "slo" and change.action == "create":
                slo_ids[change.key] = str(live_id)
        except ProvisionError as exc:
            outcomes.append(Outcome(change, "failed", str(exc)))
            outcomes.extend(Outcome(c, "not attempted") for c in changes[index + 1 :])
            return outcomes
        outcomes.append(Outcome(change, "done", live_id=live_id))
    return outcomes


def _with_ids(change: Change, slo_ids: dict[str, str]) -> Change:
    """``change`` with the ids of the SLOs created so far in its body; an error when it
    names an SLO that does not exist yet."""
    assert change.body is not None
    body = resolve(change.body, slo_ids)
    missing = pending(body)
    if missing:
        raise ProvisionError(f"slo {missing[0]} does not exist in Datadog, so nothing names it")
    return replace(change, body=body)


def _apply(client: DatadogClient, change: Change, identity: Identity) -> str | int | None:
    path = f"/api/v1/{change.kind}"
    if change.action == "delete":
        try:
            client.delete(f"{path}/{change.live_id}")
        except DatadogError as exc:
            if exc.status != 404:  # already gone (a retried delete whose first reply was lost)
                raise
        return change.live_id
    if change.action == "update":
        client.put(f"{path}/{change.live_id}", change.body)
        return change.live_id
    return _create(client, change, identity)


def _create(client: DatadogClient, change: Change, identity: Identity) -> str | int:
    assert change.body is not None
    body = with_mark(change.kind, change.body, Mark(identity))
    reason = ""
    for _ in range(_CREATE_TRIES):
        try:
            created = unwrapped(change.kind, client.post(f"/api/v1/{change.kind}", body))
            ident = created.get("id") if isinstance(created, dict) else None
            if not isinstance(ident, str | int) or isinstance(ident, bool):
                raise ProvisionError(
                    f"Datadog's reply to the create carries no id: {created!r:.80}"
                )
            break
        except OutcomeUnknown as exc:
            reason = str(exc)
        found = find_created(client, change.kind, identity)
        if found is not None:
            ident = found["id"]
            break
    else:
        raise ProvisionError(f"create kept failing: {reason}")
    # Bind the mark to the new id: a copy of this object will carry a mark bound elsewhere.
    client.put(
        f"/api/v1/{change.kind}/{ident}", with_mark(change.kind, body, Mark(identity, str(ident)))
    )
    return ident


def summary(outcomes: Sequence[Outcome]) -> str:
    """Every change with its status, and the counts."""
    lines = [o.line() for o in outcomes]
    done = sum(1 for o in outcomes if o.status == "done")
    failed = sum(1 for o in outcomes if o.status == "failed")
    skipped = sum(1 for o in outcomes if o.status == "not attempted")
    lines.append(
        f"Applied {done} of {len(outcomes)} changes; {failed} failed, {skipped} not attempted."
    )
    return "\n".join(lines)
