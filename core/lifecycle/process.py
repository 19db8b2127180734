"""Starting and stopping obs in a process: the work behind ``obs.init()``,
``obs.status()``, ``obs.flush()`` and ``obs.shutdown()``, over the features of
:data:`obs.lifecycle.features.FEATURES`.

Each feature starts on its own: one that fails (or whose settings are bad) is turned off
with one warning and a reason in ``obs.status()``, and the others carry on. With
``strict=True`` the first problem raises instead, and what had started is stopped.
Flushing and stopping share one deadline, and so does interpreter exit (``OBS_EXIT_TIMEOUT``).
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from obs.export.deadline import Deadline
from obs.lifecycle.features import FEATURES, Context, Feature
from obs.runtime import state
from obs.runtime.failures import Failures
from obs.runtime.settings import Problem, Settings, load
from obs.runtime.status import FeatureStatus, Status

logger = logging.getLogger("obs")


@dataclass
class _Run:
    settings: Settings
    overrides: dict[str, Any]
    problems: tuple[Problem, ...]
    failures: Failures
    features: list[FeatureStatus] = field(default_factory=list)  # in FEATURES order
    started: list[Feature] = field(default_factory=list)  # stopped in reverse


_lock = threading.RLock()
_run: _Run | None = None
_exit_registered = False


def init(*, strict: bool, overrides: dict[str, Any]) -> Status:
    global _run, _exit_registered
    with _lock:
        if _run is not None:
            if overrides and overrides != _run.overrides:
                logger.warning(
                    "obs: obs.init() already ran in this process; the new keyword arguments "
                    "(%s) are ignored. Call obs.shutdown() first to change settings.",
                    ", ".join(sorted(overrides)),
                )
            return status()
        settings, problems = load(overrides, strict=strict)
        for problem in problems:
            logger.warning("obs: %s", problem)
        run = _Run(settings, dict(overrides), problems, Failures())
        try:
            _start(run, strict)
        except BaseException:
            _stop(run, Deadline.after(2.0))  # strict: nothing stays half-started
            raise
        _run = run
        if not _exit_registered:
            atexit.register(_at_exit)
            _exit_registered = True
        return status()


def _why_off(run: _Run, feature: Feature, context: Context) -> str | None:
    """Why ``feature`` stays off: a bad setting of its, the master switch, its own
    settings, or nothing to do without the features before it."""
    for problem in run.problems:
        if problem.turns_off(feature.name):
            return f"invalid setting {problem.setting}"
    if not run.settings.enabled:
        return "OBS_ENABLED is false"
    return feature.off(run.settings) or feature.missing(context)


def _start(run: _Run, strict: bool) -> None:
    context = Context(run.settings, run.failures, strict)
    for feature in (make() for make in FEATURES):
        reason = _why_off(run, feature, context)
        if reason is not None:
            run.features.append(FeatureStatus(feature.name, False, reason))
            continue
        try:
            detail = feature.start(context)
        except Exception as exc:
            if strict:
                raise
            reason = f"failed to start: {type(exc).__name__}: {exc}"
            run.features.append(FeatureStatus(feature.name, False, reason))
            logger.warning(
                "obs: %s did not start (%s); the service continues without it",
                feature.name,
                exc,
                exc_info=True,
            )
            continue
        run.started.append(feature)
        run.features.append(FeatureStatus(feature.name, True, detail))
    state.current = state.Active(run.settings, run.failures, context.instruments, context.tracer)


def status() -> Status:
    with _lock:
        run = _run
        if run is None:
            return Status(False, (), ())
        return Status(
            True, tuple(run.features), tuple(str(p) for p in run.problems), run.failures.counts()
        )


def flush(timeout: float) -> bool:
    run = _run
    if run is None:
        return True
    deadline = Deadline.after(timeout)
    ok = True
    for feature in run.started:
        ok = _flushed(feature, deadline) and ok
    return ok


def _flushed(feature: Feature, deadline: Deadline) -> bool:
    try:
        return feature.flush(deadline)
    except Exception as exc:
        logger.warning("obs: could not flush %s: %s", feature.name, exc)
        return False


def shutdown(timeout: float) -> bool:
    global _run
    with _lock:
        run = _run
        if run is None:
            return True
        _run = None
        return _stop(run, Deadline.after(timeout))


def _stop(run: _Run, deadline: Deadline) -> bool:
    """Undo what ``run`` started by ``deadline``, last started first (the hooks go quiet
    before the providers flush); True when no telemetry was lost."""
    state.current = None  # every hook goes quiet first
    ok = True
    for feature in reversed(run.started):
        try:
            ok = feature.stop(deadline) and ok
        except Exception as exc:
            logger.warning("obs: error while shutting down %s: %s", feature.name, exc)
            ok = False
    run.started.clear()
    return ok


def _at_exit() -> None:
    """Interpreter exit stops obs within ``OBS_EXIT_TIMEOUT``, whatever the collector does."""
    run = _run
    if run is not None:
        shutdown(run.settings.exit_timeout)
