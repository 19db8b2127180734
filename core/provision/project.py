"""The project a run provisions for: one repository's set of definitions, the namespace of
its keys. ``--project`` or ``OBS_PROVISION_PROJECT`` names it; otherwise it is the name of the
definitions' root: the repository (the nearest folder holding ``.git``) around the first
``--from`` path, or around the working folder, else that folder itself.

Example:
    >>> project_name("Orders Service")
    'orders-service'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from obs.provision.identity import KEY_PATTERN
from obs.provision.problems import ProvisionError

ENV_VAR = "OBS_PROVISION_PROJECT"


@dataclass(frozen=True)
class Project:
    """The project's name, and where it came from (said in every plan)."""

    name: str
    origin: str


def project_name(text: str) -> str:
    """``text`` as a project name: lowercase letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:100]


def choose_project(given: str | None, from_env: str | None, sources: Sequence[str]) -> Project:
    """The run's project: ``--project``, else ``OBS_PROVISION_PROJECT``, else derived."""
    for value, origin in ((given, "--project"), (from_env, ENV_VAR)):
        if value:
            if not KEY_PATTERN.match(value):
                raise ProvisionError(
                    f"{origin} {value!r}: use lowercase letters, digits, '.', '_', '-'"
                )
            return Project(value, origin)
    paths = [Path(s) for s in sources if Path(s).exists()]
    start = paths[0].resolve() if paths else Path.cwd().resolve()
    folder = start if start.is_dir() else start.parent
    root = next((p for p in (folder, *folder.parents) if (p / ".git").exists()), None)
    where = root or folder
    name = project_name(where.name)
    if not name:
        raise ProvisionError(f"cannot name a project after {where}: pass --project NAME")
    kind = "repository" if root else "folder"
    return Project(name, f"derived from the {kind} {where}; set --project or {ENV_VAR}")
