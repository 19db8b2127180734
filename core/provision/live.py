"""Read what a project owns in Datadog right now, as raw JSON.

Dashboards: list every page of summaries and read the mark on each description's last line;
monitors and SLOs: list every page of those tagged ``managed-by:obs``. Of the marked objects in this
run's environment, those of this project bound to their own id are owned; one not yet bound
(its create was not confirmed) or one marked before projects existed (legacy, adopted when a
definition names its key) becomes owned on the next apply; a copy whose mark is bound to
another id (a clone made in Datadog's UI) is foreign, reported and never touched. Definitions
that adopt an id fetch it directly. Only GET requests are made, and every reply is checked for
the shape obs reads before anything is compared.

Example:
    >>> live = Live()
    >>> live.owned, live.untouched
    ({'dashboard': {}, 'slo': {}, 'monitor': {}}, [])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from obs.provision.client import DatadogClient, DatadogError
from obs.provision.identity import (
    ID_PREFIX,
    MANAGED_TAG,
    PROJECT_PREFIX,
    Identity,
    Kind,
    Mark,
    mark_of,
)
from obs.provision.problems import ProvisionError

PAGE = 100
# A list longer than this many pages is not a list of dashboards or monitors any organisation
# has; an API that keeps inventing items must not keep obs reading.
MAX_PAGES = 1000
# In the order they are created: an SLO before the burn-rate alerts naming it (deleted the
# other way round).
KINDS: tuple[Kind, ...] = ("dashboard", "slo", "monitor")
_TITLE = {"dashboard": "title", "monitor": "name", "slo": "name"}
_CREATED = {"dashboard": "created_at", "monitor": "created", "slo": "created_at"}
# Where a reply carries the object: Datadog's SLO API wraps it in "data" (a list of one
# after a create or update, the object itself after a GET).
_ENVELOPE = {"slo": "data"}


@dataclass(frozen=True)
class Untouched:
    """A marked object this run leaves alone, and why (shown in the plan)."""

    kind: Kind
    key: str
    live_id: str
    title: str
    reason: str


@dataclass
class Live:
    """Owned (or adopted) live objects by kind and key; extra owned copies in ``duplicates``;
    marked objects left alone in ``untouched``."""

    owned: dict[Kind, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )
    duplicates: list[tuple[Kind, str, dict[str, Any]]] = field(default_factory=list)
    untouched: list[Untouched] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    kind: Kind
    mark: Mark
    body: dict[str, Any]

    @property
    def live_id(self) -> str:
        return str(self.body["id"])

    @property
    def created(self) -> str:
        return str(self.body.get(_CREATED[self.kind]) or "")


def read_live(
    client: DatadogClient,
    project: str,
    env: str | None,
    named: Iterable[tuple[Kind, str]] = (),
    adopt: Iterable[tuple[Kind, str, str | int]] = (),
) -> Live:
    """What ``project`` owns in ``env``; legacy objects whose ``(kind, key)`` is ``named`` by a
    definition; the adopted ids (``(kind, key, id)``)."""
    live = Live()
    names = set(named)
    candidates = [
        _Candidate("dashboard", mark, summary)
        for summary in dashboard_summaries(client)
        if (mark := mark_of("dashboard", summary)) is not None
    ]
    candidates.extend(
        _Candidate("monitor", mark, monitor)
        for monitor in list_marked_monitors(client)
        if (mark := mark_of("monitor", monitor)) is not None
    )
    candidates.extend(
        _Candidate("slo", mark, slo)
        for slo in list_marked_slos(client)
        if (mark := mark_of("slo", slo)) is not None
    )
    groups: dict[tuple[Kind, str], list[_Candidate]] = {}
    for candidate in candidates:
        identity = candidate.mark.identity
        if identity.env == env and identity.project in (project, None):
            groups.setdefault((candidate.kind, identity.key), []).append(candidate)
    for (kind, key), group in groups.items():
        _resolve(client, live, group, project=project, named=(kind, key) in names)
    for kind, key, ident in adopt:
        if key not in live.owned[kind]:
            live.owned[kind][key] = _adopted(client, kind, ident, key)
    return live


def _resolve(
    client: DatadogClient,
    live: Live,
    group: list[_Candidate],
    *,
    project: str,
    named: bool,
) -> None:
    """Which of the objects marked for one key obs manages, and what becomes of the others."""
    kind, key = group[0].kind, group[0].mark.identity.key
    group.sort(key=lambda c: c.created)
    mine = [c for c in group if c.mark.identity.project == project]
    bound = [c for c in mine if c.mark.bound == c.live_id]
    pending = [c for c in mine if c.mark.bound is None]
    legacy = [c for c in group if c.mark.identity.project is None] if named else []
    chosen = bound or pending or legacy
    managed = chosen[0] if chosen else None
    if managed is not None:
        live.owned[kind][key] = _full(client, managed)
    # Two objects bound to themselves for one key (a mark copied by hand, say): obs manages
    # the oldest; --prune may remove the others, which are marked as this project's own.
    live.duplicates.extend((kind, key, _full(client, c)) for c in bound[1:])
    for candidate in group:
        if candidate is managed or candidate in bound:
            continue
        mark = candidate.mark
        if mark.identity.project is None:
            reason = "marked before projects existed and not adopted; left alone"
        elif mark.bound is not None:
            reason = f"a copy of {kind} {mark.bound} (made in Datadog's UI?); never touched"
        else:
            reason = "a copy of an object being created; never touched"
        title = candidate.body.get(_TITLE[kind])
        live.untouched.append(
            Untouched(kind, key, candidate.live_id, title if isinstance(title, str) else "", reason)
        )


def _full(client: DatadogClient, candidate: _Candidate) -> dict[str, Any]:
    if candidate.kind != "dashboard":  # the monitor and SLO lists carry whole objects
        return candidate.body
    return checked("dashboard", client.get(f"/api/v1/dashboard/{candidate.live_id}"), "GET")


def _adopted(client: DatadogClient, kind: Kind, ident: str | int, key: str) -> dict[str, Any]:
    try:
        found = client.get(f"/api/v1/{kind}/{ident}")
    except DatadogError as exc:
        if exc.status == 404:
            raise ProvisionError(f"{kind} {key}: adopt_id {ident!r} does not exist") from None
        raise
    return checked(kind, unwrapped(kind, found), f"GET /api/v1/{kind}/{ident}")


def unwrapped(kind: Kind, reply: Any) -> Any:
    """The object in a reply about one object of ``kind`` (SLO replies wrap it in ``data``,
    a list of one after a create or update)."""
    key = _ENVELOPE.get(kind)
    if key is None or not isinstance(reply, dict):
        return reply
    inner = reply.get(key)
    if isinstance(inner, list) and len(inner) == 1:
        return inner[0]
    return inner


def _pages(fetch: Callable[[int], list[dict[str, Any]]], what: str) -> list[dict[str, Any]]:
    """Every item of a paged list, by id. Stops at a short page, and at a page that repeats
    or adds nothing new: an API ignoring the paging parameters would be read forever."""
    found: dict[str, dict[str, Any]] = {}
    for index in range(MAX_PAGES):
        items = fetch(index)
        new = {str(i["id"]): i for i in items if str(i["id"]) not in found}
        found.update(new)
        if len(items) < PAGE or not new:
            return list(found.values())
    raise ProvisionError(f"{what}: still more after {MAX_PAGES} pages of {PAGE}")


def dashboard_summaries(client: DatadogClient) -> list[dict[str, Any]]:
    """Every dashboard's summary (id, title, description...)."""
    what = "GET /api/v1/dashboard"

    def page(index: int) -> list[dict[str, Any]]:
        reply = client.get("/api/v1/dashboard", {"count": PAGE, "start": index * PAGE})
        if not isinstance(reply, dict):
            raise ProvisionError(f"{what}: expected an object, got {_shown(reply)}")
        return checked_list("dashboard", reply.get("dashboards") or [], f"{what}: dashboards")

    return _pages(page, what)


def list_marked_monitors(client: DatadogClient, *tags: str) -> list[dict[str, Any]]:
    """Every monitor tagged ``managed-by:obs`` (and ``tags``), page by page."""
    what = "GET /api/v1/monitor"
    wanted = ",".join((MANAGED_TAG, *tags))

    def page(index: int) -> list[dict[str, Any]]:
        reply = client.get(
            "/api/v1/monitor", {"monitor_tags": wanted, "page": index, "page_size": PAGE}
        )
        return checked_list("monitor", reply or [], what)

    return _pages(page, what)


def list_marked_slos(client: DatadogClient) -> list[dict[str, Any]]:
    """Every SLO tagged ``managed-by:obs``, page by page (the API filters on one tag)."""
    what = "GET /api/v1/slo"

    def page(index: int) -> list[dict[str, Any]]:
        reply = client.get(
            "/api/v1/slo", {"tags_query": MANAGED_TAG, "limit": PAGE, "offset": index * PAGE}
        )
        if not isinstance(reply, dict):
            raise ProvisionError(f"{what}: expected an object, got {_shown(reply)}")
        return checked_list("slo", reply.get("data") or [], f"{what}: data")

    return _pages(page, what)


def find_created(client: DatadogClient, kind: Kind, identity: Identity) -> dict[str, Any] | None:
    """The object a create with ``identity`` made, if one exists (its mark not yet bound)."""
    if kind == "dashboard":
        listed = dashboard_summaries(client)
    elif kind == "slo":
        listed = list_marked_slos(client)
    else:
        listed = list_marked_monitors(
            client, f"{PROJECT_PREFIX}{identity.project}", f"{ID_PREFIX}{identity.key}"
        )
    for body in listed:
        mark = mark_of(kind, body)
        if mark is not None and mark.identity == identity and mark.bound is None:
            return body
    return None


# --- the shape of replies -----------------------------------------------------------------


def checked_list(kind: Kind, value: Any, what: str) -> list[dict[str, Any]]:
    """``value`` as a list of objects of ``kind``, or an error naming what is wrong."""
    if not isinstance(value, list):
        raise ProvisionError(f"{what}: expected a list, got {_shown(value)}")
    return [checked(kind, item, f"{what}[{i}]") for i, item in enumerate(value)]


def checked(kind: Kind, value: Any, what: str) -> dict[str, Any]:
    """``value`` as one object of ``kind`` with the fields obs reads of the types it reads."""
    if not isinstance(value, dict):
        raise ProvisionError(f"{what}: expected an object, got {_shown(value)}")
    ident = value.get("id")
    valid_id = _is_int(ident) if kind == "monitor" else isinstance(ident, str) and ident
    if not valid_id:
        raise ProvisionError(f"{what}: no valid {kind} id (got {_shown(ident)})")
    where = f"{what} ({kind} {ident})"
    for name, types in _FIELD_TYPES[kind].items():
        got = value.get(name)
        if got is not None and not isinstance(got, types):
            raise ProvisionError(f"{where}: {name}: expected {_NAMES[types]}, got {_shown(got)}")
    tags = value.get("tags")
    if isinstance(tags, list) and not all(isinstance(t, str) for t in tags):
        raise ProvisionError(f"{where}: tags: expected a list of text, got {_shown(tags)}")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_FIELD_TYPES: dict[Kind, dict[str, type | tuple[type, ...]]] = {
    "dashboard": {
        "title": str,
        "description": str,
        "widgets": list,
        "template_variables": list,
        "tags": list,
        "created_at": str,
    },
    "monitor": {
        "name": str,
        "query": str,
        "message": str,
        "type": str,
        "tags": list,
        "options": dict,
        "created": str,
    },
    "slo": {
        "name": str,
        "description": str,
        "type": str,
        "tags": list,
        "thresholds": list,
        "query": dict,
        "sli_specification": dict,
        "created_at": int,
    },
}
_NAMES: Mapping[type | tuple[type, ...], str] = {
    int: "a number or null",
    str: "text or null",
    list: "a list or null",
    dict: "an object or null",
}


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
