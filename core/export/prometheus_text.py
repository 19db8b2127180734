"""Prometheus text exposition (format 0.0.4) of an agent snapshot, for ``/metrics``.

Names follow OpenTelemetry's Prometheus compatibility rules: characters Prometheus does
not allow become ``_``, the unit is appended (``By`` -> ``_bytes``, ``s`` -> ``_seconds``;
``1`` and annotations in braces such as ``{job}`` add nothing) and monotonic sums end in
``_total``. Written here rather than through
opentelemetry-exporter-prometheus because that path re-aggregates every series through
the SDK and prometheus_client on each scrape, several times the agent's whole CPU budget
at 1,000 queues; rendering the snapshot is a string join.

Example:
    >>> prometheus_name("redis.memory.used", "By", counter=False)
    'redis_memory_used_bytes'
    >>> prometheus_name("bullmq.queue.jobs", "{job}", counter=False)
    'bullmq_queue_jobs'
    >>> prometheus_name("redis.keyspace.hits", "{hit}", counter=True)
    'redis_keyspace_hits_total'
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import Gauge, Histogram, Metric, MetricsData, Sum

from obs import catalog
from obs.catalog import Kind

Attributes = Sequence[tuple[str, Any]]
Family = tuple[catalog.Metric, Sequence[tuple[Attributes, float]]]  # a metric, its readings

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]+")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]+")
_UNITS = {"By": "bytes", "s": "seconds", "ms": "milliseconds", "us": "microseconds"}


def prometheus_name(name: str, unit: str, *, counter: bool) -> str:
    """The Prometheus name of an OpenTelemetry metric."""
    out = _INVALID_NAME.sub("_", name).strip("_")
    dimensionless = unit.startswith("{") or unit == "1"
    suffix = _UNITS.get(unit, "" if dimensionless else _INVALID_NAME.sub("_", unit))
    if suffix and not out.endswith(f"_{suffix}"):
        out = f"{out}_{suffix}"
    return f"{out}_total" if counter else out


def prometheus_label(key: str) -> str:
    """The Prometheus label an attribute key becomes (disallowed characters become ``_``).

    Example:
        >>> prometheus_label("bullmq.queue.jobs.state")
        'bullmq_queue_jobs_state'
    """
    return _INVALID_LABEL.sub("_", key)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _label(pair: tuple[str, Any]) -> str:
    key, value = pair
    return f'{prometheus_label(key)}="{_escape(str(value))}"'


def _labels(attributes: Mapping[str, Any] | None, extra: str = "") -> str:
    pairs = [_label(pair) for pair in sorted((attributes or {}).items())]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _header(name: str, description: str, kind: str) -> Iterator[str]:
    yield f"# HELP {name} {_escape(description)}"
    yield f"# TYPE {name} {kind}"


def _metric_lines(metric: Metric) -> Iterator[str]:
    points = metric.data
    counter = isinstance(points, Sum) and points.is_monotonic
    name = prometheus_name(metric.name, metric.unit or "", counter=counter)
    kind = "counter" if counter else "gauge"
    if isinstance(points, Histogram):
        kind = "histogram"
    yield from _header(name, metric.description or "", kind)
    if isinstance(points, Gauge | Sum):
        for point in points.data_points:
            yield f"{name}{_labels(point.attributes)} {_number(point.value)}"
    elif isinstance(points, Histogram):
        for h in points.data_points:
            running = 0
            bounds = [*h.explicit_bounds, math.inf]
            for bound, count in zip(bounds, h.bucket_counts, strict=True):
                running += count
                le = f'le="{_number(bound)}"'
                yield f"{name}_bucket{_labels(h.attributes, le)} {running}"
            yield f"{name}_sum{_labels(h.attributes)} {_number(h.sum)}"
            yield f"{name}_count{_labels(h.attributes)} {h.count}"


def _text(lines: Iterable[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def render(data: MetricsData) -> bytes:
    """The exposition text of a snapshot."""
    return _text(
        line
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        for line in _metric_lines(metric)
    )


LINES = 1000  # per piece of a page


def _one_piece(metric: Metric) -> list[bytes]:
    return [_text(_metric_lines(metric))]


class Renderer:
    """Renders readings straight from the agent's store, keeping the text of each label
    (``key="value"``, escaped) while a series has it: escaping the labels of 10,000 series
    was most of a /metrics scrape at 1,000 queues, and the pairs are few (a queue's name,
    a state, the server) where the series are many. Gives the same text as :func:`render`
    of the same snapshot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labels: dict[tuple[str, Any], str] = {}

    def render(self, families: Iterable[Family], histograms: Iterable[Metric]) -> Iterator[bytes]:
        """The exposition text of ``families`` (readings by catalog metric) and the SDK's
        ``histograms``, in the order of their names, in pieces of at most ``LINES`` lines
        (to be written one after the other). Lazy: each piece is made when it is taken, so
        the whole text (15 MB at 10,000 queues) need never be in memory at once."""
        blocks: list[tuple[str, Callable[[], Iterable[bytes]]]] = [
            (m.name, functools.partial(_one_piece, m)) for m in histograms
        ]
        seen: dict[tuple[str, Any], str] = {}
        for metric, readings in families:
            if readings:
                pieces = functools.partial(self._pieces, metric, readings, seen)
                blocks.append((metric.name, pieces))
        blocks.sort(key=lambda block: block[0])
        if not blocks:
            yield _text(())
        for _, block in blocks:
            yield from block()
        with self._lock:  # the labels of this page's series are kept for the next one
            self._labels = seen

    def _pieces(
        self,
        metric: catalog.Metric,
        readings: Sequence[tuple[Attributes, float]],
        seen: dict[tuple[str, Any], str],
    ) -> Iterator[bytes]:
        """The lines of one metric as text in pieces of ``LINES`` lines."""
        counter = metric.kind is Kind.COUNTER
        name = prometheus_name(metric.name, metric.unit, counter=counter)
        lines = list(_header(name, metric.description, "counter" if counter else "gauge"))
        kept = self._labels
        # Each value's text made once per metric: most values of a page are a few small
        # counts (a queue's jobs by state), and writing a number was a quarter of a page.
        numbers: dict[float, str] = {}
        for attributes, value in readings:
            if attributes:
                try:
                    text = "{" + ",".join([seen[pair] for pair in attributes]) + "}"
                except KeyError:  # a pair this page meets for the first time
                    for pair in attributes:
                        if pair not in seen:
                            seen[pair] = kept.get(pair) or _label(pair)
                    text = "{" + ",".join([seen[pair] for pair in attributes]) + "}"
            else:
                text = ""
            number = numbers.get(value)
            if number is None:
                number = numbers[value] = _number(value)
            lines.append(f"{name}{text} {number}")
            if len(lines) == LINES:
                yield _text(lines)
                lines = []
        if lines:
            yield _text(lines)
