"""Ownership: how obs recognises the Datadog objects it manages, per project.

An object obs manages carries a mark: the project (``obs-project:<name>``, one repository's
definitions), the definition's key (``obs-id:<key>``), the environment (``obs-env:<env>``,
with ``--env``) and the id of the very object the mark was written for (``obs-bound:<id>``).
Objects with tags (monitors; SLOs alike) carry the mark as tags next to ``managed-by:obs``;
dashboard tags only take ``team:<name>``, so a dashboard carries the mark as the exact last
line of its description. A copy made in Datadog's UI keeps the mark, but its id differs from
the bound one: it is foreign, never touched. A mark without a project was written before
projects existed (legacy); one without a bound id belongs to an object whose create was not
yet confirmed.

Example:
    >>> mark = Mark(Identity("mongo", "prod", "orders"), bound="abc-def-ghi")
    >>> text = with_marker("Mongo latency.", mark)
    >>> text.splitlines()[-1].split("(")[1].split(")")[0]
    'obs-project:orders obs-id:mongo obs-env:prod obs-bound:abc-def-ghi'
    >>> dashboard_mark(text) == mark, strip_marker(text)
    (True, 'Mongo latency.')
    >>> monitor_mark(monitor_tags(mark)) == mark
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Kind = Literal["dashboard", "monitor", "slo"]

MANAGED_TAG = "managed-by:obs"
PROJECT_PREFIX = "obs-project:"
ID_PREFIX = "obs-id:"
ENV_PREFIX = "obs-env:"
BOUND_PREFIX = "obs-bound:"
_PREFIXES = (PROJECT_PREFIX, ID_PREFIX, ENV_PREFIX, BOUND_PREFIX)
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_NAME = r"[a-z0-9][a-z0-9._-]*"
_MARKER = re.compile(
    rf"Managed by obs provision \((?:obs-project:(?P<project>{_NAME}) )?"
    rf"obs-id:(?P<key>{_NAME})(?: obs-env:(?P<env>{_NAME}))?(?: obs-bound:(?P<bound>{_NAME}))?"
    r"\)\. Edits made here are overwritten\."
)


@dataclass(frozen=True)
class Identity:
    """Which definition a live object belongs to: key, environment and project (``None``:
    applied before projects existed)."""

    key: str
    env: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class Mark:
    """The ownership an object carries: its identity, and the id of the object the mark was
    written for (``None`` until obs has seen the object created, and on legacy marks)."""

    identity: Identity
    bound: str | None = None

    def fields(self) -> tuple[str, ...]:
        """The mark's parts as ``prefix:value`` words, in a fixed order."""
        i = self.identity
        return tuple(
            f"{prefix}{value}"
            for prefix, value in zip(_PREFIXES, (i.project, i.key, i.env, self.bound), strict=True)
            if value is not None
        )


def marker(mark: Mark) -> str:
    """The description line that marks a dashboard."""
    return f"Managed by obs provision ({' '.join(mark.fields())}). Edits made here are overwritten."


def _split(description: object) -> tuple[str, re.Match[str] | None]:
    """The description without its last line, and that line's marker match (if it is one)."""
    text = description if isinstance(description, str) else ""
    head, _, last = text.rstrip().rpartition("\n")
    return head, _MARKER.fullmatch(last.strip())


def with_marker(description: str, mark: Mark) -> str:
    """The description with ``mark``'s line as its last line (replacing any marker there)."""
    text = strip_marker(description)
    return f"{text}\n\n{marker(mark)}" if text else marker(mark)


def strip_marker(description: object) -> str:
    """The description without a marker on its last line (a marker quoted elsewhere stays)."""
    head, found = _split(description)
    if found is None:
        return description.strip() if isinstance(description, str) else ""
    return head.strip()


def dashboard_mark(description: object) -> Mark | None:
    """The mark on the description's last line, if that line is exactly a marker."""
    _, found = _split(description)
    if found is None:
        return None
    return Mark(Identity(found["key"], found["env"], found["project"]), found["bound"])


def monitor_tags(mark: Mark) -> tuple[str, ...]:
    """The tags that mark an object with tags (a monitor)."""
    return (MANAGED_TAG, *mark.fields())


def monitor_mark(tags: Iterable[object]) -> Mark | None:
    """The mark in ``tags``: ``managed-by:obs`` and one ``obs-id``, at most one of the rest."""
    found = [t for t in tags if isinstance(t, str)]
    if MANAGED_TAG not in found:
        return None
    parts = [[t.removeprefix(p) for t in found if t.startswith(p)] for p in _PREFIXES]
    project, key, env, bound = parts
    if len(key) != 1 or any(len(p) > 1 for p in parts):
        return None
    return Mark(Identity(key[0], _first(env), _first(project)), _first(bound))


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def is_ownership_tag(tag: str) -> bool:
    return tag == MANAGED_TAG or tag.startswith(_PREFIXES)


class Carrier(Protocol):
    """Where a kind of object carries its mark."""

    def read(self, body: Mapping[str, Any]) -> Mark | None: ...

    def write(self, body: Mapping[str, Any], mark: Mark) -> dict[str, Any]: ...


class InDescription:
    """The mark as the last line of ``description`` (dashboards)."""

    def read(self, body: Mapping[str, Any]) -> Mark | None:
        return dashboard_mark(body.get("description"))

    def write(self, body: Mapping[str, Any], mark: Mark) -> dict[str, Any]:
        description = body.get("description")
        text = description if isinstance(description, str) else ""
        return {**body, "description": with_marker(text, mark)}


class InTags:
    """The mark as tags (monitors; any object with free-form tags, such as SLOs)."""

    def read(self, body: Mapping[str, Any]) -> Mark | None:
        tags = body.get("tags")
        return monitor_mark(tags) if isinstance(tags, list) else None

    def write(self, body: Mapping[str, Any], mark: Mark) -> dict[str, Any]:
        tags = body.get("tags")
        kept = [t for t in tags if not is_ownership_tag(t)] if isinstance(tags, list) else []
        return {**body, "tags": sorted({*kept, *monitor_tags(mark)})}


CARRIERS: dict[Kind, Carrier] = {"dashboard": InDescription(), "monitor": InTags(), "slo": InTags()}


def mark_of(kind: Kind, body: Mapping[str, Any]) -> Mark | None:
    """The mark a live (or rendered) object of ``kind`` carries."""
    return CARRIERS[kind].read(body)


def with_mark(kind: Kind, body: Mapping[str, Any], mark: Mark) -> dict[str, Any]:
    """``body`` carrying ``mark`` (and no other)."""
    return CARRIERS[kind].write(body, mark)
