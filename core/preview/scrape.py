"""Read one Prometheus text endpoint into catalog readings.

Parsing is prometheus_client's (the reference implementation of the text format: escapes,
``+Inf``, timestamps); this module only maps samples onto catalog metrics and gathers each
histogram's ``_bucket``/``_sum``/``_count`` samples into one reading. Values that cannot
be drawn (``+Inf``, ``NaN``, absurd magnitudes) are counted as ignored, never stored.

Example:
    >>> from obs import catalog
    >>> names = SampleNames(catalog.CATALOG.values())
    >>> text = '''redis_keyspace_hits_total{server_address="r1"} 42
    ... node_load1 0.5
    ... '''
    >>> scrape = parse(text, names)
    >>> [(r.metric.name, r.tags, r.value) for r in scrape.readings], scrape.ignored
    ([('redis.keyspace.hits', (('server.address', 'r1'),), 42.0)], 1)
"""

from __future__ import annotations

import base64
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from obs.catalog import Metric
from obs.preview.mapping import TARGET_INFO, SampleNames, Tags, resource_tags
from obs.privacy.scrub import scrub_text

MAX_BYTES = 32 * 1024 * 1024


class ScrapeError(Exception):
    """A source could not be read or parsed (the message names the source)."""


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts as exposed: ``bounds`` ascending, the last one ``inf``."""

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]
    sum: float
    count: float


Value = float | Histogram


@dataclass(frozen=True)
class Reading:
    """One series' value in one scrape; ``time`` is the exposition's timestamp if any."""

    metric: Metric
    tags: Tags
    value: Value
    time: float | None = None


@dataclass(frozen=True)
class Scrape:
    """What one source returned: the readings obs knows, and how many samples it ignored."""

    readings: tuple[Reading, ...]
    ignored: int = 0


@dataclass
class _Parts:
    buckets: dict[float, float] = field(default_factory=dict)
    sum: float | None = None
    count: float | None = None
    time: float | None = None
    broken: bool = False  # a sample of it is not usable: the histogram is ignored


# Beyond this a value is no measurement (and sums of a few would overflow a float).
MAX_VALUE = 1e300


def usable(value: float) -> bool:
    """Whether a sample's value can be drawn: finite and of a measurement's magnitude
    (``+Inf``, ``NaN`` and 1e308 are ignored, as are histograms holding one).

    Example:
        >>> usable(42.0), usable(float("inf")), usable(float("nan")), usable(1e308)
        (True, False, False, False)
    """
    return math.isfinite(value) and abs(value) <= MAX_VALUE


def parse(text: str, names: SampleNames) -> Scrape:
    """The catalog readings in exposition ``text``; other samples are counted, not kept."""
    readings: list[Reading] = []
    histograms: dict[tuple[Metric, Tags], _Parts] = {}
    resource: Tags = ()
    ignored = 0
    for sample in _samples(text):
        name, labels, value, time = sample
        if name == TARGET_INFO:
            resource = resource_tags(labels)
            continue
        target = names.lookup(name)
        if target is None:
            ignored += 1
            continue
        tags = names.tags(target.metric, labels)
        if target.role == "value":
            if usable(value):
                readings.append(Reading(target.metric, tags, value, time))
            else:
                ignored += 1
            continue
        parts = histograms.setdefault((target.metric, tags), _Parts())
        parts.broken = parts.broken or not usable(value)
        parts.time = time if parts.time is None else parts.time
        if target.role == "bucket":
            parts.buckets[float(labels.get("le", "nan"))] = value
        elif target.role == "sum":
            parts.sum = value
        else:
            parts.count = value
    for (metric, tags), parts in histograms.items():
        histogram = None if parts.broken else _histogram(parts)
        if histogram is None:
            ignored += 1
        else:
            readings.append(Reading(metric, tags, histogram, parts.time))
    if resource:
        readings = [_with_resource(r, resource) for r in readings]
    return Scrape(tuple(readings), ignored)


def _samples(text: str) -> Iterator[tuple[str, dict[str, str], float, float | None]]:
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                time = None if s.timestamp is None else float(s.timestamp)
                yield s.name, s.labels, float(s.value), time
    except ValueError as exc:
        raise ScrapeError(f"not Prometheus text: {exc}") from None


def _histogram(parts: _Parts) -> Histogram | None:
    bounds = tuple(sorted(b for b in parts.buckets if not math.isnan(b)))
    if not bounds or bounds[-1] != math.inf:
        return None  # without the +Inf bucket no quantile can be placed
    cumulative = tuple(parts.buckets[b] for b in bounds)
    count = cumulative[-1] if parts.count is None else parts.count
    return Histogram(bounds, cumulative, parts.sum or 0.0, count)


def _with_resource(reading: Reading, resource: Tags) -> Reading:
    own = dict(reading.tags)
    merged = {**dict(resource), **own}  # the series' own attributes win
    return Reading(reading.metric, tuple(sorted(merged.items())), reading.value, reading.time)


def fetch(url: str, timeout: float = 3.0) -> str:
    """The body of ``url``; user:password in the URL becomes Basic authentication.

    Errors name the URL with its password masked.
    """
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=netloc)))
    request.add_header("Accept", "text/plain;version=0.0.4")
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ScrapeError(f"{scrub_text(url)}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ScrapeError(f"{scrub_text(url)}: {reason}") from None
    if len(body) > MAX_BYTES:
        raise ScrapeError(f"{scrub_text(url)}: more than {MAX_BYTES} bytes; not read")
    return body.decode("utf-8", errors="replace")


def read(url: str, names: SampleNames, timeout: float = 3.0) -> Scrape:
    """Fetch and parse one source."""
    text = fetch(url, timeout)
    try:
        return parse(text, names)
    except ScrapeError as exc:
        raise ScrapeError(f"{scrub_text(url)}: {exc}") from None
