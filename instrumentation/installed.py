"""OpenTelemetry instrumentations installed in the service's environment (FastAPI, Flask,
requests, ...), found by their ``opentelemetry_instrumentor`` entry points and enabled by
``obs.init()`` with obs's providers.

Skipped: pymongo's (obs's own listener replaces it: spans plus metrics, values masked),
the names in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, and any whose library is missing
or of an unsupported version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

logger = logging.getLogger("obs")

REPLACED_BY_OBS = frozenset({"pymongo"})


@dataclass
class Enabled:
    """What :func:`enable` did: instrumentors turned on, and why others were not."""

    instrumentors: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def enable(disabled: list[str], tracer_provider: Any, meter_provider: Any) -> Enabled:
    """Instrument every installed library not in ``disabled``."""
    result = Enabled()
    off = {name.strip().lower() for name in disabled}
    for ep in entry_points(group="opentelemetry_instrumentor"):
        name = ep.name
        if name in REPLACED_BY_OBS:
            result.skipped[name] = "replaced by obs"
            continue
        if name.lower() in off:
            result.skipped[name] = "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
            continue
        try:
            from opentelemetry.instrumentation.dependencies import (
                get_dist_dependency_conflicts,
            )

            conflict = get_dist_dependency_conflicts(ep.dist) if ep.dist else None
            if conflict is not None:
                result.skipped[name] = str(conflict)
                continue
            instrumentor = ep.load()()
            kwargs: dict[str, Any] = {"skip_dep_check": True}
            if tracer_provider is not None:
                kwargs["tracer_provider"] = tracer_provider
            if meter_provider is not None:
                kwargs["meter_provider"] = meter_provider
            instrumentor.instrument(**kwargs)
            result.instrumentors[name] = instrumentor
        except Exception as exc:  # one broken instrumentation must not stop the others
            result.skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            logger.warning("obs: could not enable the %s instrumentation: %s", name, exc)
    return result


def disable(enabled: Enabled) -> None:
    """Uninstrument what :func:`enable` turned on."""
    for name, instrumentor in enabled.instrumentors.items():
        try:
            instrumentor.uninstrument()
        except Exception as exc:
            logger.warning("obs: could not disable the %s instrumentation: %s", name, exc)
    enabled.instrumentors.clear()
