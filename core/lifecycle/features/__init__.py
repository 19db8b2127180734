"""The parts of ``obs.init()``, one file each, started in the order of :data:`FEATURES`
(and shown in that order by ``obs.status()``); :mod:`obs.lifecycle.process` loops over it.

A feature is a :class:`~obs.lifecycle.features.feature.Feature`: its name, ``off()`` (the
settings that turn it off), ``missing()`` (what it needs from the features before it),
``start()``, ``flush()`` and ``stop()``. Adding one is a new file here, its settings in
:class:`~obs.runtime.settings.Settings` (``features=("its name",)``), and an entry below.
"""

from __future__ import annotations

from obs.lifecycle.features.feature import Context, Feature
from obs.lifecycle.features.guard import Guard
from obs.lifecycle.features.instrumentations import Instrumentations
from obs.lifecycle.features.jobs import Jobs
from obs.lifecycle.features.metrics import Metrics
from obs.lifecycle.features.pymongo import Pymongo
from obs.lifecycle.features.redis import Redis
from obs.lifecycle.features.sentry import Sentry
from obs.lifecycle.features.traces import Traces

# Traces and metrics first: the others record through them.
FEATURES: tuple[type[Feature], ...] = (
    Traces,
    Metrics,
    Pymongo,
    Redis,
    Jobs,
    Guard,
    Sentry,
    Instrumentations,
)

__all__ = ["FEATURES", "Context", "Feature"]
