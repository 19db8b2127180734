"""What can go wrong before any request: a definition that is invalid, named precisely.

Example:
    >>> str(Problem("monitor mongo.latency", "thresholds.warning", "must be below critical"))
    'monitor mongo.latency: thresholds.warning: must be below critical'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One invalid field of one definition."""

    definition: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.definition}: {self.field}: {self.message}"


class DefinitionError(Exception):
    """Definitions that must not be applied; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ProvisionError(Exception):
    """A run that cannot go on (bad option, unreadable source, Datadog refusing a call)."""
