"""Quantiles estimated from cumulative histogram buckets, as PromQL's ``histogram_quantile``.

Written here because no maintained Python package offers it (prometheus_client only
exposes histograms); it follows the documented PromQL behaviour for classic histograms:
find the bucket holding rank ``q * count`` and interpolate linearly inside it, assuming the
first bucket starts at 0 (when its upper bound is positive); a rank in the ``+Inf`` bucket
yields the highest finite bound; counts that decrease with the bound (rounding in merged
histograms) are first made monotonic.

Example:
    >>> quantile(0.5, (0.0, 0.5, 1.0, float("inf")), (6, 11, 14, 19))
    0.35
    >>> round(quantile(0.95, (0.01, 0.05, 0.1, 0.5, float("inf")), (40, 80, 90, 100, 100)), 9)
    0.3
    >>> quantile(0.5, (1.0, float("inf")), (0, 0)) is None
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float | None:
    """The ``q`` quantile (0..1) of a histogram; None when it holds no observations."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside 0..1")
    if len(bounds) < 2 or bounds[-1] != math.inf or len(cumulative) != len(bounds):
        return None
    counts = list(cumulative)
    for i in range(1, len(counts)):
        counts[i] = max(counts[i], counts[i - 1])
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    bucket = next(i for i, c in enumerate(counts) if c >= rank)
    if bucket == len(bounds) - 1:
        return bounds[-2]
    if bucket == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if bucket == 0 else bounds[bucket - 1]
    below = 0.0 if bucket == 0 else counts[bucket - 1]
    inside = counts[bucket] - below
    if inside <= 0:
        return bounds[bucket]
    return start + (bounds[bucket] - start) * (rank - below) / inside
