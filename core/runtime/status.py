"""What ``obs.status()`` returns: every feature, on or off, and why.

Example:
    >>> s = Status(True, (FeatureStatus("pymongo", True, "command and pool listeners"),), (), {})
    >>> s["pymongo"].on
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FeatureStatus:
    """One feature: on or off, with a short reason or detail."""

    name: str
    on: bool
    detail: str


@dataclass(frozen=True)
class Status:
    """A snapshot of obs in this process."""

    initialised: bool
    features: tuple[FeatureStatus, ...]
    problems: tuple[str, ...]  # settings that could not be used
    failures: Mapping[str, int] = field(default_factory=dict)  # swallowed errors per feature

    def __getitem__(self, name: str) -> FeatureStatus:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def __str__(self) -> str:
        if not self.initialised:
            head = "obs: not running (obs.init() has not been called, or obs.shutdown() was)"
        else:
            head = "obs: running"
        width = max((len(f.name) for f in self.features), default=0)
        lines = [head]
        lines += [
            f"  {f.name:<{width}}  {'on ' if f.on else 'off'}  {f.detail}" for f in self.features
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  swallowed failures in {k}: {v}" for k, v in sorted(self.failures.items())]
        return "\n".join(lines)
