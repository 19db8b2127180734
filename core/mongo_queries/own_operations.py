"""obs's own operations on a watched database, as its profiler records them: the agent's
reads (``collStats``, ``$indexStats``, explains, ...) and index-check's explains. Neither
the agent's profiler reader nor ``obs index-check`` may count them as the application's.

One definition for both: an entry made by an obs client (its ``appName``), on a system
collection, or holding a command or a leading stage only obs sends (servers that do not
record ``appName`` still profile those).

Example:
    >>> is_obs_own({"appName": "obs-agent", "ns": "app.users"}, {"find": "users"})
    True
    >>> is_obs_own({"ns": "app.orders"}, {"aggregate": "orders", "pipeline": [{"$indexStats": {}}]})
    True
    >>> is_obs_own({"ns": "app.orders"}, {"find": "orders", "filter": {"state": "new"}})
    False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AGENT_APP_NAME = "obs-agent"
INDEX_CHECK_APP_NAME = "obs index-check"
APP_NAMES = frozenset({AGENT_APP_NAME, INDEX_CHECK_APP_NAME})
# Commands obs sends to watched servers; an application's own are rare enough to skip too.
COMMANDS = frozenset(
    {"explain", "collStats", "listCollections", "listIndexes", "dbStats", "profile"}
)
STAGES = frozenset({"$indexStats", "$collStats"})


def is_obs_own(entry: Mapping[str, Any], command: Mapping[str, Any] | None) -> bool:
    """Whether the profiler ``entry`` (recording ``command``) is one of obs's operations."""
    if entry.get("appName") in APP_NAMES:
        return True
    if str(entry.get("ns", "")).partition(".")[2].startswith("system."):
        return True
    if not command:
        return False
    if next(iter(command)) in COMMANDS:
        return True
    pipeline = command.get("pipeline")
    first = pipeline[0] if isinstance(pipeline, list) and pipeline else {}
    return isinstance(first, Mapping) and bool(STAGES & set(first))
