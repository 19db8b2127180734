"""Multi-window, multi-burn-rate alerts (Google's SRE workbook, "Alerting on SLOs").

A burn rate is how fast an SLO spends its error budget, relative to the rate that would
spend it exactly over the SLO's window: at a burn rate of 1 a 30-day budget lasts 30 days,
at 14.4 about 2 days. An alert fires when the burn rate reaches its factor over a long
window (the budget really went) and over a short one (it is still going).

The workbook's pair, for a 30-day 99.9 % SLO: page when 2 % of the budget goes within 1 h
(14.4x over 1 h and 5 min), open a ticket when 5 % goes within 6 h (6x over 6 h and 30 min).
obs keeps those windows and budget shares and derives the factor from the SLO's window:
factor = share x window / long window (so 3.36x for a 7-day page, 43.2x for a 90-day one);
``factor=`` overrides it. A target caps what can be observed: with a 99 % target at most 1
event in 100 may fail, so no burn rate above 100 can happen, and an alert asking for more
is refused by validation.

Example:
    >>> factor_for(PAGE, 30), factor_for(TICKET, 30), factor_for(PAGE, 7)
    (14.4, 6.0, 3.36)
    >>> highest_burn_rate(99.9), round(exhaustion_seconds(30, 14.4) / 3600, 1)
    (1000.0, 50.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DURATION = re.compile(r"([1-9][0-9]*)([mhd])")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}
# Datadog's burn-rate alerts look back at most 48 hours over their long window.
LONGEST_WINDOW_SECONDS = 48 * 3600


@dataclass(frozen=True)
class BurnRate:
    """One alert of the pair: it fires when ``budget_spent`` of the error budget went
    within ``long_window`` and is still going over ``short_window`` (windows as ``5m``,
    ``1h``, ``2d``). ``factor`` overrides the burn rate derived from ``budget_spent``;
    ``notify`` is appended to the message (``@pagerduty-orders``)."""

    name: str
    budget_spent: float
    long_window: str
    short_window: str
    priority: int | None = None
    notify: str = ""
    factor: float | None = None


PAGE = BurnRate("page", 0.02, "1h", "5m", priority=1)
TICKET = BurnRate("ticket", 0.05, "6h", "30m", priority=3)


def seconds(window: str) -> int:
    """``5m``, ``6h``, ``2d`` in seconds; ValueError for anything else.

    Example:
        >>> seconds("30m"), seconds("2d")
        (1800, 172800)
    """
    found = DURATION.fullmatch(window)
    if found is None:
        raise ValueError(f"{window!r} is not a window such as 5m, 6h or 2d")
    return int(found[1]) * _SECONDS[found[2]]


def factor_for(alert: BurnRate, window_days: int) -> float:
    """The burn rate ``alert`` fires at for an SLO over ``window_days``."""
    if alert.factor is not None:
        return alert.factor
    derived = alert.budget_spent * window_days * 86400 / seconds(alert.long_window)
    return float(f"{derived:.10g}")  # 14.4, not 14.399999999999999


def highest_burn_rate(target: float) -> float:
    """The highest burn rate an SLO with ``target`` percent can show (every event bad)."""
    return float(f"{100 / (100 - target):.10g}")


def exhaustion_seconds(window_days: int, burn_rate: float) -> float:
    """How long a whole error budget over ``window_days`` lasts at ``burn_rate``."""
    return window_days * 86400 / burn_rate


def describe_seconds(value: float) -> str:
    """A duration for people: ``2.1 days``, ``5 h``, ``12 min``.

    Example:
        >>> describe_seconds(180000), describe_seconds(18000), describe_seconds(720)
        ('2.1 days', '5 h', '12 min')
    """
    if value >= 2 * 86400:
        return f"{value / 86400:.1f} days"
    if value >= 2 * 3600:
        return f"{value / 3600:.0f} h"
    return f"{max(value, 60) / 60:.0f} min"
