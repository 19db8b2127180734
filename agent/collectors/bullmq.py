"""BullMQ queues: every state of every queue in one pipelined, read-only round trip.

Layout (BullMQ's own, see its ``queue_keys.py`` and Lua scripts): a queue ``Q`` under
prefix ``P`` keeps ``P:Q:meta`` (a hash; ``paused`` set while paused), lists ``P:Q:wait``,
``P:Q:paused`` and ``P:Q:active``, sorted sets ``P:Q:prioritized``, ``P:Q:delayed``,
``P:Q:waiting-children``, ``P:Q:completed`` and ``P:Q:failed``, one hash per job
``P:Q:<id>`` (``timestamp`` and ``delay`` in ms), and, when workers keep metrics,
``P:Q:metrics:completed`` / ``P:Q:metrics:failed`` hashes with a running ``count``.

Counts follow BullMQ's ``getCounts`` script exactly, including its one quirk: a legacy
marker (``0:<ts>``) at the tail of ``wait`` or ``paused`` is not a job. That script pops
the marker (a write); here the tail is read with the same pipeline and the marker
subtracted, so the agent never writes.

The oldest waiting job is the tail of ``wait``. On Redis 7 and later, ``SORT_RO ... BY
nosort DESC LIMIT 0 2 GET # GET P:Q:*->timestamp`` returns its id and enqueue time in the
same round trip (two entries, in case the tail is a marker). Older servers have no
``SORT_RO`` (and ``SORT`` counts as a write), a Redis Cluster refuses ``SORT ... GET``, and
``SORT`` would substitute into a ``*`` in a queue name: there the tail's id is read with
``LRANGE`` and its ``timestamp`` / ``delay`` with ``HMGET`` in a second round trip, for the
queues with jobs waiting only. The server's version comes from ``HELLO``, asked once
(and again after a failed scrape).

An error reply fails the scrape, naming the command and key (a refused command, a ``MOVED``
slot), except ``WRONGTYPE``: the keys of a queue deleted since discovery, or of something
that only looks like one, were taken by other data, and that queue is left out. So is a
queue whose keys cannot be read (a name or a value that is not UTF-8, a count that is not
a number): counted in ``obs.bullmq.queues.unreadable``, logged once, and the other queues
of the server are read as usual.

Queues are found with ``SCAN MATCH P:*:meta TYPE hash`` (never ``KEYS``), on every primary
of a cluster, on their own slower cadence, or listed statically. Queue names may contain
``:``, and prefixes may nest (``bull`` and ``bull:eu``): a key belongs to the longest
configured prefix it matches. Keys alone cannot tell queue ``eu:mail`` of ``bull`` from
queue ``mail`` of ``bull:eu``, so a nested prefix must be configured to be seen as one.
On a cluster, each command goes to the primary holding its key (one pipeline per
primary); BullMQ itself needs ``{tag}`` prefixes there, which keep a queue on one slot.
"""

from __future__ import annotations

import logging
import math
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from obs import catalog
from obs.agent.collectors.redis_nodes import is_cluster, primaries, route, server_of
from obs.agent.points import Attributes, AttributeValue, Collected, Columns, Point
from obs.catalog import attr
from obs.internals import redis_py

log = logging.getLogger("obs.agent")
LIST_STATES = ("wait", "paused", "active")
SET_STATES = ("prioritized", "delayed", "waiting-children", "completed", "failed")
STATES = (*LIST_STATES, *SET_STATES)
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class ReplyError(RuntimeError):
    """Redis answered a command of the scrape with an error (other than WRONGTYPE)."""


@dataclass(frozen=True, order=True, slots=True)
class Queue:
    """One BullMQ queue, by prefix and name.

    Example:
        >>> Queue("{bull}", "mail:eu").key("wait")
        '{bull}:mail:eu:wait'
    """

    prefix: str
    name: str

    def key(self, suffix: str) -> str:
        return f"{self.prefix}:{self.name}:{suffix}"

    @property
    def can_sort(self) -> bool:
        # SORT substitutes the first `*` of a GET pattern; one in the name would be hit first.
        return "*" not in self.key("")


def meta_pattern(prefix: str) -> str:
    """The SCAN pattern of ``prefix``'s queues, glob characters in the prefix escaped.

    Example:
        >>> meta_pattern("bull[x]")
        'bull\\\\[x\\\\]:*:meta'
    """
    return _GLOB_SPECIAL.sub(r"\\\1", prefix) + ":*:meta"


def queue_of(key: str, prefix: str) -> Queue | None:
    """The queue whose meta key is ``key``.

    Example:
        >>> queue_of("bull:reports:daily:meta", "bull")
        Queue(prefix='bull', name='reports:daily')
    """
    head, tail = f"{prefix}:", ":meta"
    if key.startswith(head) and key.endswith(tail) and len(key) > len(head) + len(tail):
        return Queue(prefix, key[len(head) : -len(tail)])
    return None


def discover(
    client: Any,
    prefixes: Sequence[str],
    count: int = 1000,
    unreadable: Callable[[str], None] | None = None,
) -> list[Queue]:
    """Every queue under ``prefixes``, found by SCAN (never KEYS) on every primary.

    A key under several prefixes (``bull`` and the nested ``bull:eu``) belongs to the
    longest: ``bull:eu:mail:meta`` is queue ``mail`` of ``bull:eu``, not ``eu:mail`` of
    ``bull`` as well. Keys are read as bytes: one whose name is not UTF-8 is left out and
    its prefix passed to ``unreadable``, never the end of discovery.
    """
    from redis.client import NEVER_DECODE

    ordered = sorted(set(prefixes), key=len, reverse=True)
    found: dict[str, Queue] = {}
    for _, server in primaries(client):
        for prefix in ordered:
            pattern = meta_pattern(prefix)
            raw_keys = server.scan_iter(
                match=pattern, count=count, _type="HASH", **{NEVER_DECODE: []}
            )
            for raw in raw_keys:
                try:
                    key = raw.decode() if isinstance(raw, bytes) else str(raw)
                except UnicodeDecodeError:
                    if unreadable is not None:
                        unreadable(prefix)
                    continue
                queue = queue_of(key, prefix)
                if queue is not None and key not in found:
                    found[key] = queue
    return sorted(set(found.values()))


# Commands queued per queue, in this order; `parse` reads the replies in the same order.
def commands(queue: Queue, sort: bool = True) -> list[tuple[Any, ...]]:
    """The read-only commands that describe ``queue`` (every one names a key of it);
    ``sort``: read the oldest waiting job with SORT_RO (Redis >= 7, not a cluster)."""
    wait = queue.key("wait")
    tail: tuple[Any, ...]
    if sort and queue.can_sort:
        pattern = queue.key("*->timestamp")
        delay = queue.key("*->delay")
        tail = ("SORT_RO", wait, "BY", "nosort", "LIMIT", 0, 2, "DESC")
        tail += ("GET", "#", "GET", pattern, "GET", delay)
    else:
        tail = ("LRANGE", wait, -2, -1)
    return [
        ("HGETALL", queue.key("meta")),
        ("LLEN", wait),
        tail,
        ("LLEN", queue.key("paused")),
        ("LINDEX", queue.key("paused"), -1),
        ("LLEN", queue.key("active")),
        *(("ZCARD", queue.key(state)) for state in SET_STATES),
        ("HGET", queue.key("metrics:completed"), "count"),
        ("HGET", queue.key("metrics:failed"), "count"),
    ]


COMMANDS_PER_QUEUE = len(commands(Queue("p", "q")))


def _is_marker(item: Any) -> bool:
    return isinstance(item, str) and item.startswith("0:")


def _minus_marker(length: int, tail: Any) -> int:
    """BullMQ's getCounts: a marker at the tail is not a job."""
    if _is_marker(tail):
        return length - 1 if length > 1 else 0
    return length


@dataclass(frozen=True, slots=True)
class QueueState:
    """What one scrape saw of one queue."""

    queue: Queue
    counts: dict[str, int]
    paused: bool
    oldest_waiting_since_ms: float | None  # enqueue (+ delay) time of the wait list's tail
    completed: int | None  # metrics:completed count, when workers keep metrics
    failed: int | None
    oldest_waiting_job: str | None = None  # its id, while its time is still to be read


def _since(timestamp: Any, delay: Any) -> float | None:
    """A job's enqueue (+ delay) time in ms; None when it is not a finite number (a job
    hash holding ``-inf`` would make the oldest waiting age infinite)."""
    try:
        since = float(timestamp) + float(delay or 0) if timestamp is not None else None
    except ValueError:
        return None
    return since if since is not None and math.isfinite(since) else None


def _oldest_sorted(reply: Any) -> float | None:
    """The oldest waiting job's time from SORT_RO's triples (id, timestamp, delay), tail
    first; a legacy marker is skipped."""
    if not isinstance(reply, list):
        return None
    for index in range(0, len(reply) - 2, 3):
        job_id, timestamp, delay = reply[index : index + 3]
        if not _is_marker(job_id) and timestamp is not None:
            return _since(timestamp, delay)
    return None


def _oldest_listed(reply: Any) -> str | None:
    """The oldest waiting job's id from LRANGE's last two entries (a marker skipped)."""
    if not isinstance(reply, list):
        return None
    return next((str(item) for item in reversed(reply) if not _is_marker(item)), None)


def _checked(replies: Sequence[Any], named: Callable[[int], tuple[Any, ...]]) -> bool:
    """False when a reply is WRONGTYPE; raises :class:`ReplyError` for any other error
    reply, naming its command (``named(position)``) and key."""
    wrong_type = False
    for position, reply in enumerate(replies):
        # An error reply is the ResponseError that Batch put in its place (no other reply is
        # an exception): no import of it here, once per queue.
        if isinstance(reply, Exception):
            if str(reply).startswith("WRONGTYPE"):
                wrong_type = True
                continue
            command, key = named(position)[:2]
            raise ReplyError(f"Redis answered {command} {key} with {type(reply).__name__}: {reply}")
    return not wrong_type


def parse(queue: Queue, replies: Sequence[Any], sort: bool = True) -> QueueState | None:
    """The state of ``queue`` from the replies to ``commands(queue, sort)``, or None when
    it is gone or its keys hold other data (WRONGTYPE)."""
    if not _checked(replies, lambda position: commands(queue, sort)[position]):
        return None
    meta, wait_len, wait_tail, paused_len, paused_tail, active, *rest = replies
    if not meta:
        return None  # obliterated since discovery
    if isinstance(meta, list):  # HGETALL under RESP2: [field, value, ...]
        meta = dict(zip(meta[::2], meta[1::2], strict=True))
    sets = rest[: len(SET_STATES)]
    completed, failed = rest[len(SET_STATES) :]
    sorted_tail = sort and queue.can_sort
    wait_marker_tail = None
    if isinstance(wait_tail, list) and wait_tail:
        wait_marker_tail = wait_tail[0] if sorted_tail else wait_tail[-1]
    counts = {
        "wait": _minus_marker(int(wait_len), wait_marker_tail),
        "paused": _minus_marker(int(paused_len), paused_tail),
        "active": int(active),
        **{state: int(n) for state, n in zip(SET_STATES, sets, strict=True)},
    }
    waiting = counts["wait"] > 0
    return QueueState(
        queue,
        counts,
        paused=str(meta.get("paused", "")) not in ("", "0"),
        oldest_waiting_since_ms=_oldest_sorted(wait_tail) if waiting and sorted_tail else None,
        completed=int(completed) if completed is not None else None,
        failed=int(failed) if failed is not None else None,
        oldest_waiting_job=_oldest_listed(wait_tail) if waiting and not sorted_tail else None,
    )


@dataclass(frozen=True, slots=True)
class QueueSeries:
    """The attributes of one queue's series, built and checked against the catalog once
    per queue rather than once per point (a scrape of 1,000 queues makes 10,000 points).

    Example:
        >>> series = QueueSeries.of(Queue("bull", "mail"), {attr.SERVER_PORT: 6379})
        >>> dict(series.queue)
        {'bullmq.queue.name': 'mail', 'bullmq.queue.prefix': 'bull', 'server.port': 6379}
        >>> dict(series.jobs[1])[attr.QUEUE_STATE], STATES[1]
        ('paused', 'paused')
    """

    queue: Attributes  # of the paused flag, the oldest waiting age and the metrics counts
    jobs: tuple[Attributes, ...]  # of the job counts, one per state of STATES, in order

    @classmethod
    def of(cls, queue: Queue, target: dict[str, AttributeValue]) -> QueueSeries:
        base = {**target, attr.QUEUE_PREFIX: queue.prefix, attr.QUEUE_NAME: queue.name}
        for metric in _QUEUE_METRICS:
            Point.of(metric, 0, base)  # refuses attributes the catalog does not declare
        Point.of(catalog.BULLMQ_QUEUE_JOBS, 0, {**base, attr.QUEUE_STATE: STATES[0]})
        # The queue's series share its (key, value) pairs rather than each holding copies,
        # and queues share the pairs of their server and prefix: kept for every series of
        # every queue, copies were 3 MiB at 1,000 queues.
        pairs = tuple(sorted(_shared(pair) for pair in base.items()))
        jobs = tuple(tuple(sorted((*pairs, _STATE_PAIRS[state]))) for state in STATES)
        return cls(pairs, jobs)


_STATE_PAIRS = {state: (attr.QUEUE_STATE, state) for state in STATES}
# The pairs of servers and prefixes, one object each however many queues name them; as
# few as the targets and prefixes configured (queue names are not kept here).
_SHARED_PAIRS: dict[tuple[str, AttributeValue], tuple[str, AttributeValue]] = {}


def _shared(pair: tuple[str, AttributeValue]) -> tuple[str, AttributeValue]:
    if pair[0] == attr.QUEUE_NAME:
        return pair
    return _SHARED_PAIRS.setdefault(pair, pair)


_QUEUE_METRICS = (
    catalog.BULLMQ_QUEUE_PAUSED,
    catalog.BULLMQ_OLDEST_WAITING_AGE,
    catalog.BULLMQ_JOBS_COMPLETED,
    catalog.BULLMQ_JOBS_FAILED,
)


def add_readings(
    readings: Columns, states: Sequence[QueueState], series: dict[Queue, QueueSeries], now_ms: float
) -> None:
    """The catalog readings of the queues in ``states``, added to ``readings`` (each
    queue's series named by ``series``), metric by metric."""
    jobs = readings.of(catalog.BULLMQ_QUEUE_JOBS)
    paused = readings.of(catalog.BULLMQ_QUEUE_PAUSED)
    oldest = readings.of(catalog.BULLMQ_OLDEST_WAITING_AGE)
    for state in states:
        named, counts = series[state.queue], state.counts
        jobs.attributes.extend(named.jobs)
        jobs.values.extend([counts[name] for name in STATES])
        paused.append(named.queue, state.paused)
        since = state.oldest_waiting_since_ms
        oldest.append(named.queue, max(0.0, (now_ms - since) / 1000) if since is not None else 0.0)
    # The metrics counts, of the queues whose workers keep metrics only.
    completed = [(series[s.queue].queue, s.completed) for s in states if s.completed is not None]
    failed = [(series[s.queue].queue, s.failed) for s in states if s.failed is not None]
    for metric, kept in (
        (catalog.BULLMQ_JOBS_COMPLETED, completed),
        (catalog.BULLMQ_JOBS_FAILED, failed),
    ):
        if kept:
            column = readings.of(metric)
            for attributes, count in kept:
                column.append(attributes, count)


_SEND_CHUNK = 64 * 1024


def inflated(packed: bytes) -> Iterator[bytes]:
    """Deflated bytes inflated a piece (at most 64 KiB) at a time, as they are sent.

    Example:
        >>> b"".join(inflated(zlib.compress(b"LLEN bull:mail:wait" * 10_000)))[:19]
        b'LLEN bull:mail:wait'
    """
    inflate = zlib.decompressobj()
    data = packed
    while data:
        yield inflate.decompress(data, _SEND_CHUNK)
        data = inflate.unconsumed_tail
    yield inflate.flush()


class Batch:
    """Commands for one server, packed into Redis protocol once and sent as they are.

    redis-py's pipeline packs every command and runs a response callback per reply on each
    execute: at 1,000 queues (13,000 commands) that was two thirds of a scrape. A queue
    set changes only at discovery, so its packed bytes are kept (deflated: the same keys
    over and over, 700 bytes a queue as they are, 7 MiB at 10,000 queues, a tenth of it
    deflated; inflated 64 KiB at a time as they are sent), and the replies are read
    straight from the connection (one read per command, as the pipeline does) without
    callbacks, as bytes: each queue's are decoded apart (:func:`decoded`), so one queue's
    value that is not UTF-8 costs only that queue.
    """

    def __init__(self, client: Any, commands: Sequence[tuple[Any, ...]]) -> None:
        self.client = client
        self.size = len(commands)
        self._commands: Sequence[tuple[Any, ...]] | None = commands
        self._packed: bytes | None = None

    def _round_trip(self, connection: Any) -> list[Any]:
        from redis.exceptions import ResponseError

        if self._packed is None:  # the command tuples are not kept: only their bytes
            packed = redis_py.pack_commands(connection, self._commands or ())
            self._packed = zlib.compress(b"".join(packed), 1)
            self._commands = None
        redis_py.send_packed(connection, inflated(self._packed))
        replies: list[Any] = []
        for _ in range(self.size):
            try:  # bytes: one queue's undecodable value must not end the scrape
                replies.append(redis_py.read_reply(connection, decode=False))
            except ResponseError as exc:  # an error reply; the other replies still come
                replies.append(exc)
        return replies

    def replies(self) -> list[Any]:
        """Send every command in one write and read every reply: one round trip, no MULTI.

        A connection error retries as redis-py's pipeline would (the client's retry
        policy), on a fresh connection. Any other failure disconnects before the connection
        goes back to the pool, so no later scrape can read this one's unread replies.
        """
        with redis_py.connection_of(self.client) as connection:
            try:
                return redis_py.with_retry(connection, lambda: self._round_trip(connection))
            except BaseException:
                connection.disconnect()
                raise


def _batches(client: Any, commands: Sequence[tuple[Any, ...]]) -> list[tuple[Batch, Sequence[int]]]:
    """``commands`` split by the server holding their key, each with its positions."""
    keys = [command[1] for command in commands]
    return [
        (Batch(server, [commands[p] for p in positions]), positions)
        for server, positions in route(client, keys)
    ]


def _replies(batches: Sequence[tuple[Batch, Sequence[int]]], size: int) -> list[Any]:
    """Every batch's replies, in the order of the commands they were split from."""
    if len(batches) == 1:
        return batches[0][0].replies()  # one server: already in order
    replies: list[Any] = [None] * size
    for batch, positions in batches:
        for position, reply in zip(positions, batch.replies(), strict=True):
            replies[position] = reply
    return replies


def _with_oldest_jobs(client: Any, states: list[QueueState]) -> list[QueueState]:
    """``states`` with the enqueue time of the oldest waiting jobs known only by id, read
    in one more round trip (per server)."""
    pending = [s for s in states if s.oldest_waiting_job is not None]
    if not pending:
        return states
    reads = [
        ("HMGET", s.queue.key(str(s.oldest_waiting_job)), "timestamp", "delay") for s in pending
    ]
    replies = _replies(_batches(client, reads), len(reads))
    times = {}
    for command, state, reply in zip(reads, pending, replies, strict=True):
        if _checked([reply], [command].__getitem__):
            try:  # None when the job was taken meanwhile, or its time is not a number
                times[state.queue] = _since(*decoded(reply))
            except UnicodeDecodeError:
                times[state.queue] = None
    return [
        replace(s, oldest_waiting_since_ms=times.get(s.queue), oldest_waiting_job=None)
        if s.oldest_waiting_job is not None
        else s
        for s in states
    ]


def decoded(reply: Any) -> Any:
    """A raw reply with its bytes as text (UTF-8, strictly: UnicodeDecodeError otherwise).

    Example:
        >>> decoded([b"paused", b"1", None, 3])
        ['paused', '1', None, 3]
    """
    if isinstance(reply, bytes):
        return reply.decode()
    if isinstance(reply, list):  # its items are mostly bytes: decoded without another call
        return [item.decode() if type(item) is bytes else decoded(item) for item in reply]
    if isinstance(reply, dict):  # RESP3's maps
        return {decoded(key): decoded(value) for key, value in reply.items()}
    return reply


# Replies that decoded() returns as they are, and most of a scrape's (counts, nil): passed
# over without a call (13 replies a queue, 13,000 a scrape of 1,000 queues).
_UNDECODED = frozenset({int, type(None)})


_MAX_LOGGED = 1000  # distinct unreadable queues logged; beyond, they are only counted
# What one queue's own keys can hold that its replies cannot be read as: text that is not
# UTF-8, a count that is not a number.
UNREADABLE = (UnicodeDecodeError, ValueError, TypeError)


class Scrape:
    """The read commands of a set of queues, packed once per server that holds them.

    A queue whose replies cannot be read (:data:`UNREADABLE`) is left out of the states
    and listed in :attr:`unreadable`; the other queues are read all the same.
    """

    def __init__(self, queues: Sequence[Queue], sort: bool = True) -> None:
        self.queues = tuple(queues)
        self.sort = sort
        self.replies_expected = len(self.queues) * COMMANDS_PER_QUEUE
        self.unreadable: list[tuple[Queue, str]] = []  # of the last read, with the reason
        self._batches: list[tuple[Batch, Sequence[int]]] | None = None

    def read(self, client: Any) -> list[QueueState]:
        """The state of every queue that still exists and can be read."""
        self.unreadable = []
        if not self.queues:
            return []
        if self._batches is None:
            every = [command for queue in self.queues for command in commands(queue, self.sort)]
            self._batches = _batches(client, every)
        replies = _replies(self._batches, self.replies_expected)
        states = []
        for index, queue in enumerate(self.queues):
            start = index * COMMANDS_PER_QUEUE
            own = replies[start : start + COMMANDS_PER_QUEUE]
            try:
                text = [r if type(r) in _UNDECODED else decoded(r) for r in own]
                state = parse(queue, text, self.sort)
            except UNREADABLE as exc:
                self.unreadable.append((queue, type(exc).__name__))
                continue
            if state is not None:
                states.append(state)
        return _with_oldest_jobs(client, states)


def uses_sort_ro(client: Any) -> bool:
    """Whether the oldest waiting jobs can be read with SORT_RO in the same round trip:
    Redis >= 7, and not a cluster (which refuses SORT's GET patterns)."""
    if is_cluster(client):
        return False
    server = server_of(client)
    if server.mode == "cluster":
        raise ReplyError(
            "this Redis is a node of a Redis Cluster: name the target redis+cluster://"
            "host:port so that the queues of every primary are read"
        )
    return server.has_sort_ro


def read(client: Any, queues: Sequence[Queue]) -> list[QueueState]:
    """One pipelined round trip (no MULTI) reading every queue (two on Redis < 7 or a
    cluster, when jobs wait)."""
    return Scrape(queues, uses_sort_ro(client)).read(client)


class BullMQCollector:
    """Collects the queues of one Redis server; rediscovers every ``discovery_interval``."""

    def __init__(
        self,
        client: Any,
        target: dict[str, AttributeValue],
        prefixes: Sequence[str],
        static_queues: Sequence[str] = (),
        *,
        discovery_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.target = target
        self.prefixes = list(prefixes)
        self.static = [Queue(p, name) for p in self.prefixes for name in static_queues]
        self.discovery_interval = discovery_interval
        self.clock = clock
        self.queues: list[Queue] = []
        self._discovered_at: float | None = None
        self._sort: bool | None = None  # SORT_RO usable: asked of the server once
        self._scrape = Scrape(())
        self._series: dict[Queue, QueueSeries] = {}
        self._unreadable_names: Counter[str] = Counter()  # by prefix, at the last discovery
        self._logged: set[tuple[str, str]] = set()  # unreadable queues logged once each

    def _queues(self) -> list[Queue]:
        if self.static:
            return self.static
        now = self.clock()
        if self._discovered_at is None or now - self._discovered_at >= self.discovery_interval:
            names: Counter[str] = Counter()
            self.queues = discover(
                self.client, self.prefixes, unreadable=lambda prefix: names.update([prefix])
            )
            self._unreadable_names = names
            self._discovered_at = now
        return self.queues

    def _unreadable(self, scrape: Scrape) -> Iterator[Point]:
        """How many queues were left out, per prefix; each one logged the first time."""
        by_prefix = Counter({prefix: 0 for prefix in self.prefixes})
        for prefix, n in self._unreadable_names.items():
            by_prefix[prefix] += n
            self._log_once(prefix, "", "its name is not UTF-8")
        for queue, reason in scrape.unreadable:
            by_prefix[queue.prefix] += 1
            self._log_once(queue.prefix, queue.name, reason)
        for prefix, n in by_prefix.items():
            attributes = {**self.target, attr.QUEUE_PREFIX: prefix}
            yield Point.of(catalog.BULLMQ_QUEUES_UNREADABLE, n, attributes)

    def _log_once(self, prefix: str, name: str, reason: str) -> None:
        if (prefix, name) in self._logged or len(self._logged) >= _MAX_LOGGED:
            return
        self._logged.add((prefix, name))
        log.warning(
            "BullMQ queue %s under prefix %s left out: its keys cannot be read (%s); "
            "counted in obs.bullmq.queues.unreadable, the other queues are read",
            repr(name) if name else "(a name that is not UTF-8)",
            prefix,
            reason,
        )

    def _scrape_of(self, queues: list[Queue]) -> Scrape:
        """The packed reads of ``queues``, and their series, kept while the set is the same."""
        if self._sort is None:
            self._sort = uses_sort_ro(self.client)
        if tuple(queues) != self._scrape.queues or self._sort != self._scrape.sort:
            self._scrape = Scrape(queues, self._sort)
            self._series = {
                q: self._series.get(q) or QueueSeries.of(q, self.target) for q in queues
            }
        return self._scrape

    def collect(self) -> Collected:
        try:
            queues = self._queues()
            if not queues:
                # Nothing to read until the next discovery: ask every primary what it is
                # (HELLO, which any user may send), so a server that went away is seen as
                # down rather than as a server without queues.
                for _, server in primaries(self.client):
                    server_of(server)
            states = self._scrape_of(queues).read(self.client)
        except Exception:
            # The server may have been replaced (another version) or the slots moved:
            # ask the server again and re-route the commands on the next scrape.
            self._sort = None
            self._scrape = Scrape(())
            raise
        readings = Columns()
        add_readings(readings, states, self._series, time.time() * 1000)
        for point in self._unreadable(self._scrape):
            readings.add(point)
        return Collected(readings=readings)
