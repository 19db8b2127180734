"""The plan of a profiled operation: its ``planSummary`` when the server recorded one,
else a cached, rate-limited ``explain`` of its query shape.

Real mongod writes ``planSummary`` (``COLLSCAN``, ``IXSCAN { email: 1 }``) into profiler
entries; some servers (SecantusDB) do not. Then the agent explains the operation's query
once per shape, with ``queryPlanner`` verbosity (the query is planned, not run), as a
``find`` with the same filter and sort even for updates and deletes (so nothing can
write), and caches the verdict per shape fingerprint. A token bucket caps explains per
minute; past it the plan stays unknown until a later cycle. An explain that fails (a
missing privilege, a timeout) is cached as ``UNKNOWN`` for the same time as a plan, so it
is not retried every cycle and costs only its own shape, never the profiler batch whose
read position has already moved on.

Example:
    >>> plan_of_summary("IXSCAN { a: 1, _id: -1 }"), plan_of_summary("COLLSCAN")
    ('IXSCAN', 'COLLSCAN')
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from obs.mongo_queries.shape import QueryShape

log = logging.getLogger("obs.agent")
COLLSCAN = "COLLSCAN"
UNKNOWN = "UNKNOWN"
# Top-level fields of a logged command that explain must not get back.
_SESSION_FIELDS = frozenset(
    {"lsid", "txnNumber", "autocommit", "startTransaction", "writeConcern", "readConcern"}
)
_WRITING_STAGES = frozenset({"$out", "$merge"})


def plan_of_summary(summary: str) -> str:
    """The plan type of a ``planSummary``: COLLSCAN when any branch scans the collection."""
    if COLLSCAN in summary:
        return COLLSCAN
    return summary.split(" ", 1)[0].rstrip(",") or UNKNOWN


def stages(plan: Any) -> list[str]:
    """Every stage name in an explain plan tree.

    Example:
        >>> stages({"stage": "FETCH", "inputStage": {"stage": "IXSCAN"}})
        ['FETCH', 'IXSCAN']
    """
    found: list[str] = []
    if isinstance(plan, Mapping):
        if isinstance(plan.get("stage"), str):
            found.append(plan["stage"])
        for key in ("inputStage", "queryPlan", "winningPlan"):
            found += stages(plan.get(key))
        for child in plan.get("inputStages") or ():
            found += stages(child)
    return found


def plan_of_explain(reply: Mapping[str, Any]) -> str:
    """The plan type of an explain reply (the leaf that reads: COLLSCAN, IXSCAN, ...)."""
    planner = reply.get("queryPlanner")
    if planner is None:  # aggregate: the first stage carries the $cursor's planner
        for stage in reply.get("stages") or ():
            planner = (stage.get("$cursor") or {}).get("queryPlanner")
            if planner is not None:
                break
    names = stages((planner or {}).get("winningPlan"))
    if COLLSCAN in names:
        return COLLSCAN
    return names[-1] if names else UNKNOWN


def explainable(command: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(collection, a read-only command to explain) for a logged query command."""
    name = next(iter(command), None)
    if name is None or not isinstance(command[name], str):
        return None
    collection = command[name]
    kept = {k: v for k, v in command.items() if not k.startswith("$") and k not in _SESSION_FIELDS}
    if name == "find":
        return collection, kept
    if name == "aggregate":
        pipeline = [s for s in kept.get("pipeline") or [] if not _WRITING_STAGES & set(s)]
        return collection, {"aggregate": collection, "pipeline": pipeline, "cursor": {}}
    if name in ("count", "distinct"):
        return collection, {"find": collection, "filter": kept.get("query") or {}}
    if name == "findAndModify":
        find = {"find": collection, "filter": kept.get("query") or {}}
        if kept.get("sort"):
            find["sort"] = kept["sort"]
        return collection, find
    if name in ("update", "delete"):
        statements = kept.get("updates" if name == "update" else "deletes") or [{}]
        first = statements[0] if isinstance(statements[0], Mapping) else {}
        return collection, {"find": collection, "filter": first.get("q") or {}}
    return None


def _described(error: Exception) -> str:
    """An explain error without its message: the server's may quote the query's values."""
    code = getattr(error, "code", None)
    return type(error).__name__ + (f", code {code}" if code is not None else "")


class PlanCache:
    """Plan types by shape fingerprint, explained at most ``per_minute`` times a minute.

    ``failures`` counts the explains that failed; the log says when explains start failing
    and when one succeeds again, not each time.
    """

    def __init__(
        self,
        explain: Callable[[str, Mapping[str, Any]], Mapping[str, Any]],
        per_minute: int,
        max_shapes: int = 1000,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.explain = explain  # (database, command) -> explain reply
        self.per_minute = per_minute
        self.max_shapes = max_shapes
        self.ttl = ttl
        self.clock = clock
        self.failures = 0
        self._failing = False
        self._plans: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._tokens = float(per_minute)
        self._refilled = clock()

    def _take_token(self) -> bool:
        now = self.clock()
        self._tokens = min(
            self.per_minute, self._tokens + (now - self._refilled) * self.per_minute / 60
        )
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def plan(self, shape: QueryShape, command: Mapping[str, Any]) -> str | None:
        """The plan type of ``shape`` (explaining ``command`` if needed), or None when
        unknown for now (rate limit reached, or the command cannot be explained)."""
        cached = self._plans.get(shape.fingerprint)
        now = self.clock()
        if cached is not None and now - cached[0] < self.ttl:
            self._plans.move_to_end(shape.fingerprint)
            return cached[1]
        target = explainable(command)
        if target is None or self.per_minute <= 0 or not self._take_token():
            return None
        plan = self._explained(shape, target[1])
        self._plans[shape.fingerprint] = (now, plan)
        self._plans.move_to_end(shape.fingerprint)
        while len(self._plans) > self.max_shapes:
            self._plans.popitem(last=False)
        return plan

    def _explained(self, shape: QueryShape, command: Mapping[str, Any]) -> str:
        try:
            reply = self.explain(shape.database, {"explain": command, "verbosity": "queryPlanner"})
        except Exception as exc:  # one shape's failure must not cost the batch
            self.failures += 1
            if not self._failing:
                log.warning(
                    "explain of a query shape (%s) in %s failed (%s); its plan is %s for %.0f s",
                    shape.fingerprint,
                    shape.database,
                    _described(exc),
                    UNKNOWN,
                    self.ttl,
                )
            self._failing = True
            return UNKNOWN
        if self._failing:
            log.info("explains of profiled query shapes succeed again")
        self._failing = False
        return plan_of_explain(reply)
