"""Ownership: how obs recognises the dashboards and monitors it manages.

Monitors carry the tags ``managed-by:obs`` and ``obs-id:<key>`` (plus ``obs-env:<env>`` when
provisioned with ``--env``). Dashboard tags only take ``team:<name>``, so a dashboard carries
one marker line at the end of its description instead. A resource without these is never
touched unless a definition adopts it by id.

Example:
    >>> text = with_marker("Mongo latency.", Identity("mongo", "prod"))
    >>> dashboard_identity(text)
    Identity(key='mongo', env='prod')
    >>> strip_marker(text)
    'Mongo latency.'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MANAGED_TAG = "managed-by:obs"
ID_PREFIX = "obs-id:"
ENV_PREFIX = "obs-env:"
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_MARKER = re.compile(
    r"(?:\n\n)?^Managed by obs provision \(obs-id:(?P<key>[a-z0-9._-]+)"
    r"(?: obs-env:(?P<env>[a-z0-9._-]+))?\)\. Edits made here are overwritten\.$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Identity:
    """Which definition a live resource belongs to, and in which environment."""

    key: str
    env: str | None = None


def marker(identity: Identity) -> str:
    env = f" {ENV_PREFIX}{identity.env}" if identity.env else ""
    return (
        f"Managed by obs provision ({ID_PREFIX}{identity.key}{env}). "
        "Edits made here are overwritten."
    )


def with_marker(description: str, identity: Identity) -> str:
    """The description with the ownership marker as its last line."""
    text = strip_marker(description)
    return f"{text}\n\n{marker(identity)}" if text else marker(identity)


def strip_marker(description: str | None) -> str:
    return _MARKER.sub("", description or "").strip()


def dashboard_identity(description: str | None) -> Identity | None:
    found = _MARKER.search(description or "")
    return Identity(found["key"], found["env"]) if found else None


def monitor_tags(identity: Identity) -> tuple[str, ...]:
    env = (f"{ENV_PREFIX}{identity.env}",) if identity.env else ()
    return (MANAGED_TAG, f"{ID_PREFIX}{identity.key}", *env)


def monitor_identity(tags: Iterable[str]) -> Identity | None:
    tags = list(tags)
    if MANAGED_TAG not in tags:
        return None
    keys = [t.removeprefix(ID_PREFIX) for t in tags if t.startswith(ID_PREFIX)]
    envs = [t.removeprefix(ENV_PREFIX) for t in tags if t.startswith(ENV_PREFIX)]
    if len(keys) != 1 or len(envs) > 1:
        return None
    return Identity(keys[0], envs[0] if envs else None)


def is_ownership_tag(tag: str) -> bool:
    return tag == MANAGED_TAG or tag.startswith((ID_PREFIX, ENV_PREFIX))
