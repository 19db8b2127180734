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
obs always windows: the guard averages the latencies of a sampling window (0.1 s and at
least 10 completions, as ``WindowedLimit``'s 10 samples) into one :meth:`update`, so a
completion costs two additions.

Example:
    >>> limit = GradientLimit(initial=20, minimum=1, maximum=100)
    >>> for _ in range(6):  # windows at the 10 ms baseline, 20 in flight: the limit grows
    ...     limit.update(0.010, in_flight=20)
    >>> round(limit.limit)
    25
    >>> for _ in range(14):  # four times the baseline: it falls
    ...     limit.update(0.040, in_flight=20)
    >>> round(limit.limit)
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
    serialises :meth:`update`)."""

    __slots__ = (
        "_factor",
        "_long_samples",
        "limit",
        "long_rtt",
        "maximum",
        "minimum",
        "short_rtt",
    )

    def __init__(self, initial: int, minimum: int, maximum: int) -> None:
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.limit = min(max(float(initial), self.minimum), self.maximum)
        self._long_samples = 0
        self._factor = 2.0 / (_LONG_WINDOW + 1)
        self.short_rtt = 0.0
        self.long_rtt = 0.0

    def update(self, short: float, in_flight: int) -> None:
        """Re-estimate from one sampling window: ``short`` is its mean latency (seconds),
        ``in_flight`` the calls running as it closed."""
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
