"""The process-wide state every instrumentation hook reads first.

Hooks do ``active = state.current`` and return at once when it is None (obs not started
or shut down), so an installed hook costs one attribute read while obs is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obs.runtime.failures import Failures
    from obs.runtime.instruments import Instruments
    from obs.runtime.leaf_spans import LeafTracer
    from obs.runtime.settings import Settings


@dataclass(slots=True, frozen=True)
class Active:
    """What a running obs offers the hooks: settings, instruments, tracer, failure log."""

    settings: Settings
    failures: Failures
    instruments: Instruments | None  # None while metrics are off
    tracer: LeafTracer | None  # None while traces are off


current: Active | None = None
