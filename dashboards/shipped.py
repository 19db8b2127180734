"""The dashboards obs ships; ``obs provision`` applies them unless ``--no-defaults``."""

from __future__ import annotations

from obs.dashboards import agent, cache, mongo, queues, service

DASHBOARDS = (
    mongo.DASHBOARD,
    queues.DASHBOARD,
    cache.DASHBOARD,
    service.DASHBOARD,
    agent.DASHBOARD,
)
