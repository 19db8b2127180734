"""An adaptive concurrency limit: Netflix concurrency-limits' Gradient2 algorithm.

Source: ``Gradient2Limit`` in https://github.com/Netflix/concurrency-limits
(concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/Gradient2Limit.java,
Apache-2.0), re-implemented here with its defaults. Each sampling window gives a short-term
RTT (the window's mean latency); the long-term RTT is an exponential average of those
(600 windows, the first 10 a plain mean) and stands for the no-load baseline. Then::

    gradient  = max(0.5, min(1.0, long_rtt / short_rtt))
    new_limit = limit * gradient + queue_size                 # queue_size = 4
    limit     = limit * (1 - smoothing) + new_limit * smoothing   # smoothing = 0.2

clamped to ``[minimum, maximum]``. The limit does not move while fewer than half of it are in
flight (the application, not the resource, limits the rate), and when latency drops back
below half the baseline, the baseline shrinks by a tenth per window so that recovery after a
long overload does not wait for the exponential average.

Netflix feeds one sample per request unless the limit is wrapped in its ``WindowedLimit``;
obs always windows (``window`` seconds and at least ``min_samples`` completions, as
``WindowedLimit``'s defaults of 10 samples), so a completion costs two additions.

Example:
    >>> limit = GradientLimit(initial=20, minimum=1, maximum=100, window=1.0)
    >>> def load(rtt, seconds):  # ten completions a second, 20 in flight
    ...     for second in seconds:
    ...         for _ in range(10):
    ...             _ = limit.sample(rtt, in_flight=20, now=float(second))
    >>> load(0.010, range(6))
    >>> round(limit.limit)  # latency at its baseline: the limit grows
    24
    >>> load(0.040, range(6, 20))
    >>> round(limit.limit)  # four times the baseline: it falls
    13
"""

from __future__ import annotations

_WARMUP = 10  # windows averaged plainly before the exponential average takes over
_QUEUE_SIZE = 4.0
_SMOOTHING = 0.2
_LONG_WINDOW = 600
_DECAY = 0.9  # the baseline's shrink per window while latency is under half of it


class GradientLimit:
    """The concurrency limit of one protected resource; not thread-safe (the guard's lock
    serialises :meth:`sample`)."""

    __slots__ = (
        "_count",
        "_factor",
        "_long",
        "_long_samples",
        "_min_samples",
        "_sum",
        "_window",
        "_window_end",
        "limit",
        "long_rtt",
        "maximum",
        "minimum",
        "short_rtt",
    )

    def __init__(
        self,
        initial: int,
        minimum: int,
        maximum: int,
        *,
        window: float = 0.1,
        min_samples: int = 10,
    ) -> None:
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.limit = min(max(float(initial), self.minimum), self.maximum)
        self._window = window
        self._min_samples = min_samples
        self._window_end: float | None = None
        self._sum = 0.0
        self._count = 0
        self._long_samples = 0
        self._factor = 2.0 / (_LONG_WINDOW + 1)
        self.short_rtt = 0.0
        self.long_rtt = 0.0

    def sample(self, rtt: float, in_flight: int, now: float) -> bool:
        """Add one completion's latency (seconds); True when it closed a window and the
        limit was re-estimated. ``in_flight`` counts the calls running as it completed."""
        self._sum += rtt
        self._count += 1
        end = self._window_end
        if end is None:
            self._window_end = now + self._window
            return False
        if now < end or self._count < self._min_samples:
            return False
        short = self._sum / self._count
        self._sum = 0.0
        self._count = 0
        self._window_end = now + self._window
        self._update(short, in_flight)
        return True

    def _update(self, short: float, in_flight: int) -> None:
        if short <= 0.0:
            return  # a clock too coarse to time the calls says nothing about queueing
        self.short_rtt = short
        self._long_samples += 1
        if self._long_samples <= _WARMUP:
            self.long_rtt += (short - self.long_rtt) / self._long_samples
        else:
            self.long_rtt = self.long_rtt * (1 - self._factor) + short * self._factor
        if self.long_rtt / short > 2:
            self.long_rtt *= _DECAY
        if in_flight < self.limit / 2:
            return
        gradient = max(0.5, min(1.0, self.long_rtt / short))
        estimate = self.limit * gradient + _QUEUE_SIZE
        estimate = self.limit * (1 - _SMOOTHING) + estimate * _SMOOTHING
        self.limit = max(self.minimum, min(self.maximum, estimate))
