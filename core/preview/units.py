"""Numbers as a dashboard shows them, scaled to their unit: ``300 ms``, ``1.5 MiB``, ``2.5/s``.

Units are the catalog's UCUM codes (``s``, ``us``, ``By``, ``1``, ``{job}``) or a
widget's custom unit; ``/s`` after a unit marks a rate.

Example:
    >>> format_value(0.3, "s"), format_value(1572864, "By"), format_value(2.5, "/s")
    ('300 ms', '1.5 MiB', '2.5/s')
    >>> format_value(0.04567, "1", precision=3), format_value(12500.0, "{job}")
    ('0.046', '12.5k')
"""

from __future__ import annotations

from obs.catalog import Kind
from obs.metric_query.tree import Expr, Query

NO_DATA = "no data"
_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
_TIME_STEPS = ((1e-6, 1e-9, "ns"), (1e-3, 1e-6, "µs"), (1.0, 1e-3, "ms"))
_BYTES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_SI = ("", "k", "M", "G", "T", "P")


def _number(value: float, precision: int | None) -> str:
    if precision is not None:
        return f"{value:.{precision}f}"
    if value != 0 and abs(value) < 1:
        return f"{value:.3g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _scaled(value: float, base: float, names: tuple[str, ...]) -> tuple[float, str]:
    index = 0
    while abs(value) >= base and index < len(names) - 1:
        value /= base
        index += 1
    return value, names[index]


def format_value(value: float | None, unit: str | None, precision: int | None = None) -> str:
    """``value`` in ``unit``, scaled to a readable magnitude; "no data" for None."""
    if value is None:
        return NO_DATA
    unit = unit or ""
    rate = unit.endswith("/s")
    base_unit = unit[:-2] if rate else unit
    suffix = "/s" if rate else ""
    if base_unit in _SECONDS:
        seconds = value * _SECONDS[base_unit]
        for limit, scale, name in _TIME_STEPS:
            if seconds != 0 and abs(seconds) < limit:
                return f"{_number(seconds / scale, precision)} {name}{suffix}"
        return f"{_number(seconds, precision)} s{suffix}"
    if base_unit == "By":
        scaled, name = _scaled(value, 1024.0, _BYTES)
        return f"{_number(scaled, precision)} {name}{suffix}"
    scaled, prefix = _scaled(value, 1000.0, _SI)
    custom = "" if base_unit in ("", "1") or base_unit.startswith("{") else f" {base_unit}"
    return f"{_number(scaled, precision)}{prefix}{custom}{suffix}"


def unit_of(expr: Expr) -> str | None:
    """The unit of a plotted expression: a single query's metric unit, ``/s`` for rates,
    none for counts and for arithmetic between queries (ratios).

    Example:
        >>> from obs import catalog
        >>> from obs.metric_query.tree import count, p95, rate
        >>> unit_of(p95(catalog.DB_CLIENT_OPERATION_DURATION))
        's'
        >>> unit_of(rate(catalog.REDIS_KEYSPACE_HITS))
        '/s'
        >>> unit_of(count(catalog.CACHE_REQUESTS)) is None
        True
    """
    if not isinstance(expr, Query):
        return None
    if expr.as_rate:
        return "/s"
    counted = expr.aggregation == "count" or expr.as_count or expr.metric.kind is Kind.COUNTER
    return None if counted else expr.metric.unit
