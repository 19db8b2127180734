"""Failures inside obs's own instrumentation: swallowed, counted, logged once per kind.

The host service always wins: an instrumentation hook that raises must never change what
the application sees, and a broken hook must not flood its logs either.

Example:
    >>> f = Failures()
    >>> try:
    ...     raise ValueError("boom")
    ... except ValueError as exc:
    ...     f.record("pymongo", exc)
    >>> f.counts()
    {'pymongo': 1}
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from obs.catalog import attr
from obs.privacy.scrub import exception_stacktrace

logger = logging.getLogger("obs")

# The hooks that report their swallowed failures (the `obs.feature` attribute).
HOOKS = ("pymongo", "redis", "cache", "jobs", "guard")


class Failures:
    """Counts swallowed failures per feature; logs the first of each kind with its traceback
    (scrubbed: a hook's exception may carry the command it was reading)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = dict.fromkeys(HOOKS, 0)
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def record(self, feature: str, exc: BaseException) -> None:
        """Count one failure of ``feature``; never raises."""
        try:
            kind = (feature, type(exc).__name__)
            with self._lock:
                self._counts[feature] = self._counts.get(feature, 0) + 1
                first = kind not in self._logged
                self._logged.add(kind)
            if first:
                logger.warning(
                    "obs: %s instrumentation failed with %s; the service is unaffected and "
                    "further %s failures are counted in obs.instrumentation.errors, not "
                    "logged\n%s",
                    feature,
                    type(exc).__name__,
                    kind[1],
                    exception_stacktrace(exc).rstrip("\n"),
                )
        except Exception:
            pass

    def counts(self) -> dict[str, int]:
        """Failures per feature so far (features that never failed are left out)."""
        with self._lock:
            return {k: v for k, v in self._counts.items() if v}

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        """obs.instrumentation.errors, zero included: every hook reports at each export, so
        an alert on errors > 0 has a series to evaluate from the start."""
        with self._lock:
            counts = dict(self._counts)
        for feature, count in counts.items():
            yield Observation(count, {attr.FEATURE: feature})
