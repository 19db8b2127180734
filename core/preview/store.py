"""A bounded in-memory time-series store of scraped readings.

Time advances in rounds: each scrape cycle of every source is one round. A series keeps at
most ``capacity`` entries (a ring buffer), the store at most ``max_series`` series (new
ones beyond that are refused and counted), and a series not seen for ``capacity`` rounds
is dropped; so memory stays bounded whatever the sources serve.

A counter or histogram series that appears while its source was already being read (it
answered the previous round) gets a zero entry at that round: the series did not exist
then, so all of its first value happened in between (an error type seen for the first
time, say). Without it the first interval of every new series would be lost.

Example:
    >>> from obs import catalog
    >>> from obs.preview.scrape import Reading, Scrape
    >>> store = Store(capacity=3)
    >>> for value in (1.0, 2.0, 3.0, 4.0):
    ...     r = store.begin_round(now=value)
    ...     store.add(r, "src", Scrape((Reading(catalog.REDIS_MEMORY_USED, (), value),)), value)
    >>> [e.value for e in store.series(catalog.REDIS_MEMORY_USED)[0].entries]
    [2.0, 3.0, 4.0]
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from obs.catalog import Kind, Metric
from obs.preview.mapping import Tags
from obs.preview.scrape import Histogram, Reading, Scrape, Value
from obs.privacy.scrub import scrub_text


@dataclass(frozen=True, slots=True)
class Entry:
    """A series' value in one round, at its sample time (exposition timestamp or scrape)."""

    round: int
    time: float
    value: Value


@dataclass(frozen=True)
class Round:
    """One scrape cycle, at wall-clock ``time``."""

    index: int
    time: float


@dataclass(frozen=True)
class SeriesView:
    """A copy of one series, safe to read while scraping goes on."""

    metric: Metric
    tags: Tags
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class SourceStatus:
    """How reading one source went (its URL with any password masked)."""

    url: str
    last_success: float | None = None
    error: str | None = None
    series: int = 0
    ignored: int = 0
    refused: int = 0


@dataclass
class _Series:
    metric: Metric
    tags: Tags
    entries: deque[Entry]


@dataclass
class _Source:
    status: SourceStatus
    last_round: int | None = None
    last_time: float | None = None


def _zero(value: Value) -> Value:
    if isinstance(value, Histogram):
        zeros = tuple(0.0 for _ in value.bounds)
        return Histogram(value.bounds, zeros, 0.0, 0.0)
    return 0.0


class Store:
    """Readings of every source, ``capacity`` rounds deep, at most ``max_series`` series."""

    def __init__(self, capacity: int = 180, max_series: int = 10_000) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2 rounds (rates need two)")
        self.capacity = capacity
        self.max_series = max_series
        self._lock = threading.Lock()
        self._rounds: deque[Round] = deque(maxlen=capacity)
        self._series: dict[str, dict[tuple[str, Tags], _Series]] = {}
        self._count = 0
        self._sources: dict[str, _Source] = {}

    def begin_round(self, now: float) -> int:
        """Start a scrape cycle at wall time ``now``; returns its index."""
        with self._lock:
            index = self._rounds[-1].index + 1 if self._rounds else 0
            self._rounds.append(Round(index, now))
            self._forget_before(index - self.capacity + 1)
            return index

    def _forget_before(self, oldest: int) -> None:
        for by_key in self._series.values():
            stale = [k for k, s in by_key.items() if s.entries[-1].round < oldest]
            for key in stale:
                del by_key[key]
            self._count -= len(stale)

    def add(self, round_index: int, source: str, scrape: Scrape, now: float) -> None:
        """Record what ``source`` returned in round ``round_index`` (scraped at ``now``)."""
        with self._lock:
            state = self._source(source)
            refused = 0
            for reading in scrape.readings:
                if not self._record(round_index, source, state, reading, now):
                    refused += 1
            times = [r.time for r in scrape.readings if r.time is not None]
            state.last_round = round_index
            state.last_time = max(times) if times else now
            state.status = replace(
                state.status,
                last_success=now,
                error=None,
                series=len(scrape.readings),
                ignored=scrape.ignored,
                refused=refused,
            )

    def failed(self, source: str, error: str) -> None:
        """Note that ``source`` could not be read this round."""
        with self._lock:
            state = self._source(source)
            state.status = replace(state.status, error=error)

    def _source(self, source: str) -> _Source:
        if source not in self._sources:
            self._sources[source] = _Source(SourceStatus(scrub_text(source)))
        return self._sources[source]

    def _record(
        self, round_index: int, source: str, state: _Source, reading: Reading, now: float
    ) -> bool:
        by_key = self._series.setdefault(reading.metric.name, {})
        key = (source, reading.tags)
        series = by_key.get(key)
        time = now if reading.time is None else reading.time
        if series is None:
            if self._count >= self.max_series:
                return False
            series = _Series(reading.metric, reading.tags, deque(maxlen=self.capacity))
            cumulative = reading.metric.kind in (Kind.COUNTER, Kind.HISTOGRAM)
            read_before = state.last_round == round_index - 1
            if cumulative and read_before and state.last_time is not None:
                zero = _zero(reading.value)
                series.entries.append(Entry(round_index - 1, state.last_time, zero))
            by_key[key] = series
            self._count += 1
        elif series.entries[-1].time >= time:
            return True  # the source repeated an old sample: nothing new happened
        series.entries.append(Entry(round_index, time, reading.value))
        return True

    def rounds(self) -> tuple[Round, ...]:
        """The rounds the store still holds, oldest first."""
        with self._lock:
            return tuple(self._rounds)

    def series(self, metric: Metric) -> list[SeriesView]:
        """Copies of every series of ``metric``."""
        with self._lock:
            found = self._series.get(metric.name, {}).values()
            return [SeriesView(s.metric, s.tags, tuple(s.entries)) for s in found]

    def tag_values(self, metrics: Iterable[Metric], key: str) -> tuple[str, ...]:
        """The values tag ``key`` takes in the series of ``metrics``, sorted."""
        with self._lock:
            values = {
                value
                for metric in metrics
                for series in self._series.get(metric.name, {}).values()
                for tag, value in series.tags
                if tag == key
            }
        return tuple(sorted(values))

    def sources(self) -> tuple[SourceStatus, ...]:
        """How each source fared, in the order they were first read."""
        with self._lock:
            return tuple(s.status for s in self._sources.values())

    def series_count(self) -> int:
        with self._lock:
            return self._count
