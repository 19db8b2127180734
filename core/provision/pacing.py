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

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


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
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._headroom = headroom
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
            self._wait(left)
        elif bucket.remaining <= bucket.limit * self._headroom:
            self._wait(left / (bucket.remaining + 1))
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
            reset = float(found["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        self._routes[route] = name
        self._buckets[name] = _Bucket(limit, remaining, self._clock() + reset)

    def retry_after(self, headers: Mapping[str, str], fallback: float) -> float:
        """Seconds to wait after a 429: until the bucket resets."""
        found = _lowered(headers)
        for name in ("x-ratelimit-reset", "retry-after"):
            try:
                return max(float(found[name]), 0.0)
            except (KeyError, ValueError):
                continue
        return fallback

    def _wait(self, seconds: float) -> None:
        self.waited += seconds
        self._sleep(seconds)


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
