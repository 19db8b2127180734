"""k6 thresholds that match the SLOs: for teams whose load tests run in k6.

k6 judges what it measures itself: the requests its script sends. So an SLO maps to a k6
threshold only where its indicator is something each request waits for:

- a time-slice SLO on a percentile of ``db.client.operation.duration`` under a threshold
  (``p99 < 250 ms``) becomes ``http_req_duration: ["p(99)<250"]``: requests must meet the
  latency the SLO asks of the Mongo commands inside them (stricter, as a request waits for
  its commands and more);
- a ratio SLO counting Mongo commands becomes ``http_req_failed: ["rate<0.001"]`` for a
  99.9 % target: requests may fail no more often than the SLO lets commands fail;
- a monitor marked ``gate=True`` on a lone percentile of the same metric becomes the
  ``http_req_duration`` threshold it must not cross.

Queue jobs run after the request has returned and caches answer inside the service: k6
sees neither, so those SLOs are listed as not mapped (``obs slo check`` judges them).
Thresholds use k6's documented syntax (``p(N)<ms`` on trends, ``rate<x`` on rates), in the
``thresholds`` object of a k6 options file (``k6 run --config thresholds.json``).

Example:
    >>> from obs.slos.shipped import MONGO_LATENCY, MONGO_SUCCESS
    >>> thresholds, mapped, _ = k6_thresholds([MONGO_LATENCY, MONGO_SUCCESS], [], None)
    >>> thresholds
    {'http_req_duration': ['p(99)<250'], 'http_req_failed': ['rate<0.001']}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from obs import catalog
from obs.metric_query.grammar import format_number
from obs.metric_query.tree import Query
from obs.monitors.monitor import Monitor
from obs.slos.slo import SLO, Ratio

# Metrics of work a request waits for, so that k6's request metrics bound them.
REQUEST_SIDE = frozenset({catalog.DB_CLIENT_OPERATION_DURATION.name})
# What each catalog metric's SLOs are about, where k6 cannot see it.
_UNSEEN = {
    catalog.MESSAGING_PROCESS_DURATION.name: "queue jobs run after the request returned",
    catalog.CACHE_REQUESTS.name: "cache lookups happen inside the service",
}
_FLIPPED = {">": "<=", ">=": "<"}  # a monitor alerting above X holds below it


@dataclass(frozen=True)
class Mapping:
    """An SLO or monitor and the k6 threshold standing for it."""

    key: str
    metric: str
    threshold: str


@dataclass(frozen=True)
class NotMapped:
    """An SLO or monitor k6 cannot judge, and why."""

    key: str
    reason: str


def k6_thresholds(
    slos: Sequence[SLO], monitors: Sequence[Monitor], env: str | None
) -> tuple[dict[str, list[str]], list[Mapping], list[NotMapped]]:
    """k6's ``thresholds`` object for ``slos`` (targets in ``env``) and the monitors marked
    ``gate=True``, what maps to what, and what does not map."""
    found = [
        *(_slo(slo, env) for slo in slos),
        *(_monitor(monitor, env) for monitor in monitors if monitor.gate),
    ]
    mapped = [m for m in found if isinstance(m, Mapping)]
    not_mapped = [n for n in found if isinstance(n, NotMapped)]
    thresholds: dict[str, list[str]] = {}
    for m in mapped:
        listed = thresholds.setdefault(m.metric, [])
        if m.threshold not in listed:
            listed.append(m.threshold)
    return thresholds, mapped, not_mapped


def _slo(slo: SLO, env: str | None) -> Mapping | NotMapped:
    _, target = slo.primary(env)
    queries = list(slo.queries())
    unseen = _unseen(queries)
    if unseen:
        return NotMapped(slo.key, unseen)
    if isinstance(slo.sli, Ratio):
        budget = format_number(round((100 - target) / 100, 10))
        return Mapping(slo.key, "http_req_failed", f"rate<{budget}")
    sli = slo.sli
    latency = _latency(sli.expr)
    if latency is None or sli.comparator not in ("<", "<="):
        return NotMapped(slo.key, "k6 bounds request durations: a percentile under a threshold")
    return Mapping(slo.key, "http_req_duration", f"{latency}{sli.comparator}{_ms(sli.threshold)}")


def _monitor(monitor: Monitor, env: str | None) -> Mapping | NotMapped:
    key = f"{monitor.key} (monitor)"
    queries = list(monitor.queries())
    unseen = _unseen(queries)
    latency = None if unseen else _latency(monitor.query)
    comparator = _FLIPPED.get(monitor.comparator)
    if latency is None or comparator is None:
        return NotMapped(key, unseen or "k6 bounds request durations from above")
    critical = monitor.thresholds_for(env).critical
    return Mapping(key, "http_req_duration", f"{latency}{comparator}{_ms(critical)}")


def _unseen(queries: Sequence[Query]) -> str:
    for query in queries:
        if query.metric.name in _UNSEEN:
            return f"k6 cannot see it: {_UNSEEN[query.metric.name]}"
        if query.metric.name not in REQUEST_SIDE:
            return f"k6 cannot see it: {query.metric.name} is not work a request waits for"
    return ""


def _latency(expr: object) -> str | None:
    """``p(N)`` for a lone percentile query of a request-side duration in seconds."""
    if not isinstance(expr, Query) or not expr.is_percentile or expr.metric.unit != "s":
        return None
    return f"p({expr.aggregation[1:]})"


def _ms(seconds: float) -> str:
    return format_number(round(seconds * 1000, 6))
