"""Pace requests by Datadog's ``X-RateLimit-*`` headers, slowing down before a limit is hit.

Datadog names a rate-limit bucket per endpoint family and tells, on every reply, how many
requests remain in the current period and when it resets. Once fewer than ``headroom`` of the
limit remain, the pacer spreads the remaining requests evenly over the time left, so a long
apply keeps a steady pace instead of running into 429s and waiting out whole periods.

Example:
    >>> now = [0.0]; slept = []
    >>> pacer = Pacer(clock=lambda: now[0], sleep=slept.append)
    >>> pacer.observe("POST /api/v1/monitor", {"X-RateLimit-Name": "monitors",
    ...     "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "4"})
    >>> pacer.before("POST /api/v1/monitor"); slept
    [2.0]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Waits shorter than this are pacing, not worth a line on stderr.
_ANNOUNCED = 1.0


@dataclass
class _Bucket:
    limit: int
    remaining: int
    resets_at: float


class Pacer:
    """Remembers each route's bucket and waits before a request when the bucket runs low."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        headroom: float = 0.2,
        max_wait: float = 300.0,
        notify: Callable[[str], object] = lambda line: None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._headroom = headroom
        self.max_wait = max_wait
        self._notify = notify
        self._buckets: dict[str, _Bucket] = {}
        self._routes: dict[str, str] = {}
        self.waited = 0.0

    def before(self, route: str) -> None:
        """Wait, if needed, before sending a request on ``route``."""
        bucket = self._buckets.get(self._routes.get(route, ""))
        if bucket is None:
            return
        left = bucket.resets_at - self._clock()
        if left <= 0:
            return
        if bucket.remaining <= 0:
            self.wait(left, f"the rate limit {self._routes[route]} to reset")
        elif bucket.remaining <= bucket.limit * self._headroom:
            self.wait(left / (bucket.remaining + 1), f"pacing {self._routes[route]}")
        # Count the request now, so that calls between replies keep pacing too.
        bucket.remaining -= 1

    def observe(self, route: str, headers: Mapping[str, str]) -> None:
        """Learn the route's bucket from a reply's headers (names in any case: HTTP/2 and
        many proxies send them lowercase)."""
        found = _lowered(headers)
        try:
            name = found["x-ratelimit-name"]
            limit = int(found["x-ratelimit-limit"])
            remaining = int(found["x-ratelimit-remaining"])
            reset = _seconds(found["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return  # absent, or not numbers a bucket can be (inf, nan, negative): ignored
        if limit <= 0 or remaining < 0:
            return
        self._routes[route] = name
        self._buckets[name] = _Bucket(limit, remaining, self._clock() + reset)

    def retry_after(self, headers: Mapping[str, str], fallback: float) -> float:
        """Seconds to wait after a 429: until the bucket resets (``fallback`` when no header
        says so in a usable number)."""
        found = _lowered(headers)
        for name in ("x-ratelimit-reset", "retry-after"):
            try:
                return _seconds(found[name])
            except (KeyError, ValueError):
                continue
        return fallback

    def wait(self, seconds: float, purpose: str) -> None:
        """Wait ``seconds`` (at most ``max_wait``), saying on stderr what for when it is long."""
        seconds = min(seconds, self.max_wait)
        if seconds >= _ANNOUNCED:
            self._notify(f"obs provision: waiting {seconds:.0f} s for {purpose}")
        self.waited += seconds
        self._sleep(seconds)


def _seconds(text: str) -> float:
    """A header's number of seconds; ValueError unless finite and not negative."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
