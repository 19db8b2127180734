"""The only places obs touches a library's private names: one module per library
(:mod:`obs.internals.otel_sdk`, :mod:`obs.internals.redis_py`).

Each access is a small function or class here, and ``tests/test_internals.py`` exercises
every one of them against the installed library, so an upgrade that moves a name fails
the tests instead of a user's service. At run time a moved name raises
:class:`InternalsChanged`; callers turn what depends on it off with one warning
(:func:`warn_once`). The upper bounds in ``pyproject.toml`` sit at the newest versions
these tests passed with.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("obs")


class InternalsChanged(RuntimeError):
    """A library no longer has a private name obs relies on (after an upgrade)."""

    def __init__(self, library: str, name: str, cause: BaseException) -> None:
        self.library, self.name = library, name
        super().__init__(
            f"{library} no longer has {name} ({type(cause).__name__}: {cause}); "
            f"obs needs an update for this version of {library}"
        )


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(error: InternalsChanged, consequence: str) -> None:
    """Log ``error`` and what it costs, once per private name and process."""
    with _warned_lock:
        first = (error.library, error.name) not in _warned
        _warned.add((error.library, error.name))
    if first:
        logger.warning("obs: %s: %s", error, consequence)
