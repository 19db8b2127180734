"""Read what obs owns in Datadog right now, as raw JSON.

Dashboards: list every page of summaries, keep those whose description carries obs's marker
for this environment, then fetch each in full. Monitors: list every page of monitors tagged
``managed-by:obs`` and keep this environment's. Definitions that adopt an id fetch it
directly. Only GET requests are made.

Example:
    >>> live = Live()
    >>> live.dashboards, live.monitors
    ({}, {})
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from obs.provision.client import DatadogClient, DatadogError
from obs.provision.identity import MANAGED_TAG, Identity, dashboard_identity, monitor_identity
from obs.provision.problems import ProvisionError

PAGE = 100
Kind = Literal["dashboard", "monitor"]


@dataclass
class Live:
    """Owned (or adopted) live objects by identity key; extra owned copies in ``duplicates``."""

    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    monitors: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: list[tuple[Kind, str, dict[str, Any]]] = field(default_factory=list)


def read_live(
    client: DatadogClient,
    env: str | None,
    adopt_dashboards: Iterable[tuple[str, str]] = (),
    adopt_monitors: Iterable[tuple[str, int]] = (),
) -> Live:
    """Everything obs owns in ``env``, plus the adopted ids (``(key, id)`` pairs)."""
    live = Live()
    for summary in _dashboard_summaries(client):
        identity = dashboard_identity(summary.get("description"))
        if identity is not None and identity.env == env:
            full = client.get(f"/api/v1/dashboard/{summary['id']}")
            _keep(live, "dashboard", identity, full)
    for monitor in list_owned_monitors(client):
        identity = monitor_identity(monitor.get("tags") or [])
        if identity is not None and identity.env == env:
            _keep(live, "monitor", identity, monitor)
    for key, dashboard_id in adopt_dashboards:
        if key not in live.dashboards:
            live.dashboards[key] = _adopted(client, "dashboard", dashboard_id, key)
    for key, monitor_id in adopt_monitors:
        if key not in live.monitors:
            live.monitors[key] = _adopted(client, "monitor", monitor_id, key)
    return live


def _keep(live: Live, kind: Kind, identity: Identity, body: dict[str, Any]) -> None:
    # Two owned objects for one key (say, from a tool that retried a create blindly): the
    # oldest is the one obs manages; the others are listed so that --prune can remove them.
    into = live.dashboards if kind == "dashboard" else live.monitors
    created = "created_at" if kind == "dashboard" else "created"
    current = into.get(identity.key)
    if current is None:
        into[identity.key] = body
        return
    older, newer = sorted((current, body), key=lambda b: str(b.get(created, "")))
    into[identity.key] = older
    live.duplicates.append((kind, identity.key, newer))


def _adopted(client: DatadogClient, kind: str, ident: str | int, key: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = client.get(f"/api/v1/{kind}/{ident}")
    except DatadogError as exc:
        if exc.status == 404:
            raise ProvisionError(f"{kind} {key}: adopt_id {ident!r} does not exist") from None
        raise
    return found


def _dashboard_summaries(client: DatadogClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = client.get("/api/v1/dashboard", {"count": PAGE, "start": len(found)})
        items = (page or {}).get("dashboards") or []
        found.extend(items)
        if len(items) < PAGE:
            return found


def list_owned_monitors(client: DatadogClient, *tags: str) -> list[dict[str, Any]]:
    """Every monitor tagged ``managed-by:obs`` (and ``tags``), page by page."""
    found: list[dict[str, Any]] = []
    wanted = ",".join((MANAGED_TAG, *tags))
    page = 0
    while True:
        items = client.get(
            "/api/v1/monitor", {"monitor_tags": wanted, "page": page, "page_size": PAGE}
        )
        found.extend(items or [])
        if len(items or []) < PAGE:
            return found
        page += 1


def find_dashboard(client: DatadogClient, identity: Identity) -> dict[str, Any] | None:
    """The summary of the owned dashboard with ``identity``, if one exists."""
    for summary in _dashboard_summaries(client):
        if dashboard_identity(summary.get("description")) == identity:
            return summary
    return None
