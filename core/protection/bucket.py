"""Per-client token buckets: in-process, or on Redis when processes share a budget.

A client (an API key, a user id: whatever the application passes) gets ``burst`` tokens,
refilled at ``rate`` a second; a call takes one. Priorities keep a reserve: a call takes a
token only if ``floor`` tokens stay behind, so low-priority work runs out first and leaves
the rest of the client's budget to its user-facing calls.

Client keys stay in memory (in-process) or become a hash (in Redis keys and in telemetry:
:func:`client_tag`); they are never exported raw.

Example:
    >>> buckets = TokenBuckets(rate=1.0, burst=2)
    >>> [buckets.take("key-1", floor=0.0, now=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> buckets.take("key-1", floor=0.0, now=1.0)  # one token refilled a second later
    0.0
"""

from __future__ import annotations

import hashlib
from typing import Any

MAX_CLIENTS = 10_000  # in-process buckets kept; beyond, the idle (full) ones go first


def client_tag(key: str, salt: bytes = b"") -> str:
    """What telemetry and Redis see of a client key: 12 hex digits of a keyed BLAKE2b hash.

    Example:
        >>> client_tag("api-key-123") == client_tag("api-key-123") != client_tag("other")
        True
        >>> len(client_tag("api-key-123", salt=b"s3cret"))
        12
    """
    return hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=6, key=salt).hexdigest()


class TokenBuckets:
    """One bucket per client key in this process; not thread-safe (the guard's lock
    serialises :meth:`take`)."""

    __slots__ = ("_buckets", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, list[float]] = {}

    def take(self, key: str, floor: float, now: float) -> float:
        """Take a token for ``key`` unless fewer than ``floor + 1`` are left: 0.0 when
        taken, else the seconds until one would be. A floor of the whole burst or more
        keeps one token in reach (``burst - 1``)."""
        floor = min(floor, self.burst - 1.0)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_CLIENTS:
                self._prune(now)
            bucket = self._buckets[key] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= floor + 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (floor + 1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        # A bucket refilled to its burst holds nothing a new one would not: drop those.
        full = self.burst / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b[1] < full}
        if len(self._buckets) >= MAX_CLIENTS:
            self._buckets.clear()  # every client busy at once: start them all afresh


# One atomic step on the server: refill from the server's clock, take or refuse, store. No
# read-modify-write across round trips, so processes sharing a key cannot race.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local floor = math.min(tonumber(ARGV[3]), burst - 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= floor + 1 then
  tokens = tokens - 1
else
  wait = (floor + 1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """Token buckets on a Redis server shared by every process of the service: one
    ``EVALSHA`` round trip per call. Keys are ``<prefix><guard>:<client tag>``.

    Example:
        >>> import redis  # doctest: +SKIP
        >>> shared = RedisBuckets(redis.Redis(), rate=5.0, burst=10)  # doctest: +SKIP
        >>> shared.take("obs:guard:payouts:", "api-key-123", floor=0.0)  # doctest: +SKIP
        0.0
    """

    def __init__(self, client: Any, rate: float, burst: int, salt: bytes = b"") -> None:
        self.rate = rate
        self.burst = burst
        self._salt = salt
        self._script = client.register_script(_SCRIPT)

    def take(self, prefix: str, key: str, floor: float) -> float:
        """As :meth:`TokenBuckets.take`, on the server; raises what redis-py raises."""
        wait = self._script(
            keys=[prefix + client_tag(key, self._salt)], args=[self.rate, self.burst, floor]
        )
        return float(wait)
