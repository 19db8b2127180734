"""Read recorded commands from a database's profiler (``system.profile``), read-only.

Each entry's ``command`` (for a ``getmore``, its ``originatingCommand``) becomes a sample;
``update`` / ``remove`` entries hold a single statement (``{q, u, multi}``), rebuilt here into
an ``update`` / ``delete`` command. Entries the profiler truncated (``$truncated``) cannot be
shaped and are counted as skipped. What real mongod adds (``planSummary``,
``docsExamined``, ``keysExamined``, ``nreturned``, ``hasSortStage``) is kept as evidence of
how the command really ran; SecantusDB's entries lack those fields and are judged by
explain alone.

Example:
    >>> entry = {"op": "query", "ns": "app.users", "command": {"find": "users",
    ...          "filter": {"age": 3}}, "planSummary": "COLLSCAN", "docsExamined": 50,
    ...          "nreturned": 1}
    >>> sample = sample_from_profile(entry)
    >>> sample.database, sample.observed.plan_summary, sample.observed.docs_examined
    ('app', 'COLLSCAN', 50)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from obs.index_check.model import Observed, Sample
from obs.mongo_queries.own_operations import is_obs_own

SYSTEM_DATABASES = frozenset({"admin", "local", "config"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WRITE_OPS = {"update": ("update", "updates"), "remove": ("delete", "deletes")}
_OBSERVED_FIELDS = ("planSummary", "docsExamined", "keysExamined", "nreturned", "hasSortStage")


def parse_duration(text: str) -> timedelta:
    """``"24h"``, ``"30m"``, ``"7d"``, ``"90s"``, ``"2w"`` as a timedelta (argparse-friendly:
    raises ValueError naming the accepted forms).

    Example:
        >>> parse_duration("24h")
        datetime.timedelta(days=1)
    """
    match = _DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 24h, 7d or 2w")
    return timedelta(**{_UNITS[match[2]]: float(match[1])})


def sample_from_profile(entry: Mapping[str, Any]) -> Sample | None:
    """The sample one profiler entry records, or None when it holds no usable command."""
    namespace = entry.get("ns")
    if not isinstance(namespace, str) or "." not in namespace:
        return None
    database, _, collection = namespace.partition(".")
    op = entry.get("op")
    command = entry.get("originatingCommand") if op in ("getmore", "getMore") else None
    command = command or entry.get("command") or entry.get("query")
    if not isinstance(command, Mapping) or not command or "$truncated" in command:
        return None
    if op in _WRITE_OPS and "q" in command:
        name, statements = _WRITE_OPS[op]
        command = {name: collection, statements: [dict(command)]}
    observed = None
    if any(key in entry for key in _OBSERVED_FIELDS):
        observed = Observed(
            plan_summary=_text(entry.get("planSummary")),
            docs_examined=_count(entry.get("docsExamined")),
            keys_examined=_count(entry.get("keysExamined")),
            returned=_count(entry.get("nreturned")),
            has_sort_stage=bool(entry.get("hasSortStage")),
        )
    return Sample(database, dict(command), f"system.profile of {database}", observed)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


@dataclass(frozen=True)
class ProfileRead:
    samples: tuple[Sample, ...]
    entries: int  # profiler entries read
    skipped: int  # entries with no usable command (truncated, not a collection, ...)
    databases: tuple[str, ...]
    own: int = 0  # obs's own operations (the agent's reads, index-check's explains)


def read_profile(
    client: Any,
    databases: Sequence[str] = (),
    *,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> ProfileRead:
    """Samples from the ``system.profile`` of each database (every non-system database when
    none is given): every entry (the collection is capped), or those newer than ``since``.
    obs's own operations (the agent's, index-check's: :func:`is_obs_own`) are left out.
    Only reads."""
    names = list(databases) or [
        name for name in client.list_database_names() if name not in SYSTEM_DATABASES
    ]
    cutoff = None if since is None else (now or datetime.now(UTC)) - since
    samples: list[Sample] = []
    entries = skipped = own = 0
    for name in names:
        for entry in _entries(client[name]["system.profile"], cutoff):
            entries += 1
            sample = sample_from_profile(entry)
            if sample is None:
                skipped += 1
            elif is_obs_own(entry, sample.command):
                own += 1
            else:
                samples.append(sample)
    return ProfileRead(tuple(samples), entries, skipped, tuple(names), own)


def _entries(collection: Any, cutoff: datetime | None) -> Iterable[Mapping[str, Any]]:
    query = {} if cutoff is None else {"ts": {"$gte": cutoff}}
    return collection.find(query).sort("ts", 1)  # type: ignore[no-any-return]
