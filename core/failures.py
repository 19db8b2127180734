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
from collections.abc import Callable

logger = logging.getLogger("obs")


class Failures:
    """Counts swallowed failures per feature; logs the first of each kind with its traceback."""

    def __init__(self, on_failure: Callable[[str], None] | None = None) -> None:
        self._counts: dict[str, int] = {}
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._on_failure = on_failure

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
                    "further %s failures are counted in obs.instrumentation.errors, not logged",
                    feature,
                    type(exc).__name__,
                    kind[1],
                    exc_info=exc,
                )
            if self._on_failure is not None:
                self._on_failure(feature)
        except Exception:
            pass

    def counts(self) -> dict[str, int]:
        """Failures per feature so far."""
        with self._lock:
            return dict(self._counts)
