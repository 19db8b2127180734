"""``obs agent --once`` output: what an OpenTelemetry reader collected, as rows.

A row is ``{"name", "attributes", "value", "unit"}``; a histogram's value is the sum of
its samples, with their ``count`` beside it (one collection's duration reads as itself).

Example:
    >>> rows = [{"name": "redis.keyspace.hits", "attributes": {"server.port": 6379},
    ...          "value": 42, "unit": "{hit}"}]
    >>> print(table(rows, [{"collector": "bullmq", "target": "redis://q:6379",
    ...                     "error": "ConnectionError: refused"}]))
    metric               value  unit   attributes
    redis.keyspace.hits  42     {hit}  server.port=6379
    error: bullmq of redis://q:6379: ConnectionError: refused
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import Histogram, MetricsData

Row = dict[str, Any]


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def rows_of(data: MetricsData | None) -> list[Row]:
    """Rows of every data point in ``data``, sorted by name and attributes."""
    rows: list[Row] = []
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    row: Row = {
                        "name": metric.name,
                        "attributes": dict(point.attributes or {}),
                        "unit": metric.unit or "",
                    }
                    if isinstance(metric.data, Histogram):
                        row["value"] = _number(point.sum)  # type: ignore[union-attr]
                        row["count"] = point.count  # type: ignore[union-attr]
                    else:
                        row["value"] = _number(point.value)  # type: ignore[union-attr]
                    rows.append(row)
    return sorted(rows, key=lambda r: (r["name"], sorted(r["attributes"].items())))


def as_json(rows: Sequence[Row], errors: Sequence[Mapping[str, str]]) -> str:
    """Rows and errors as JSON; a value that is not a finite number is written as
    Prometheus writes it (``"+Inf"``, ``"-Inf"``, ``"NaN"``): JSON has no such numbers.

    Example:
        >>> json.loads(as_json([{"name": "x", "value": float("-inf")}], []))["metrics"]
        [{'name': 'x', 'value': '-Inf'}]
    """
    shown = [{k: _finite(v) for k, v in row.items()} for row in rows]
    body = {"metrics": shown, "errors": list(errors)}
    return json.dumps(body, indent=2, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return value


def _shown(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def table(rows: Sequence[Row], errors: Sequence[Mapping[str, str]]) -> str:
    """Rows as aligned columns for people, then one line per error."""
    cells = [
        (
            r["name"],
            _shown(r["value"]) + (f" (n={r['count']})" if "count" in r else ""),
            r["unit"],
            " ".join(f"{k}={v}" for k, v in sorted(r["attributes"].items())),
        )
        for r in rows
    ]
    header = ("metric", "value", "unit", "attributes")
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(3)]
    lines = [
        "  ".join([*(c[i].ljust(widths[i]) for i in range(3)), c[3]]).rstrip()
        for c in [header, *cells]
    ]
    lines += [f"error: {e['collector']} of {e['target']}: {e['error']}" for e in errors]
    return "\n".join(lines)
