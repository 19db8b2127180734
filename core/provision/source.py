"""Write dashboards, monitors and SLOs as Python source that evaluates back to equal values.

Metrics are written as ``catalog.<NAME>`` and attribute keys as ``attr.<NAME>`` (the
catalog's own names), so imported definitions stay tied to what obs emits; fields equal to
their defaults are left out; lines are wrapped to stay readable.

Example:
    >>> from obs import catalog
    >>> from obs.metric_query.tree import p95
    >>> python_expr(p95(catalog.CACHE_REQUESTS, by=("cache.name",)))
    'Query(metric=catalog.CACHE_REQUESTS, aggregation="p95", by=(attr.CACHE_NAME,))'
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from obs import catalog
from obs.catalog import Metric, attr
from obs.dashboards.dashboard import Dashboard
from obs.dashboards.widgets import Formula, Layout
from obs.metric_query.tree import BinOp, Number, Query, Rollup, Tag, Var
from obs.monitors.monitor import Monitor
from obs.slos.slo import SLO

_WIDTH = 96
_METRIC_NAMES = {id(v): n for n, v in vars(catalog).items() if isinstance(v, Metric)}
_ATTR_NAMES = {v: n for n, v in vars(attr).items() if n.isupper() and isinstance(v, str)}
_MONITOR_CLASSES = frozenset({"Monitor", "Thresholds"})
_SLO_CLASSES = frozenset({"SLO", "Ratio", "TimeSlice", "BurnRate"})
_PREFIXES = {Dashboard: "DASHBOARD", Monitor: "MONITOR", SLO: "SLO"}
_POSITIONAL = (Var, Tag, Number, Rollup, Layout)


def module_source(values: Sequence[Dashboard | Monitor | SLO], header: str) -> str:
    """A Python module defining ``values`` at module level (found by ``--from``)."""
    classes: set[str] = set()
    bodies = []
    for value in values:
        prefix = _PREFIXES[type(value)]
        name = f"{prefix}_{re.sub(r'[^A-Z0-9]+', '_', value.key.upper()).strip('_')}"
        bodies.append(f"{name} = {_expr(value, 0, classes, None)}\n")
    names = classes - {"catalog", "attr"}
    dashboards = sorted(names - _MONITOR_CLASSES - _SLO_CLASSES)
    monitors = sorted(names & _MONITOR_CLASSES)
    slos = sorted(names & _SLO_CLASSES)
    imports = []
    if "catalog" in classes:
        imports.append("from obs import catalog")
    if "attr" in classes:
        imports.append("from obs.catalog import attr")
    for package, imported in (
        ("obs.dashboards", dashboards),
        ("obs.monitors", monitors),
        ("obs.slos", slos),
    ):
        if imported:
            imports.append(_import(package, imported))
    docstring = json.dumps(header)[1:-1].replace('"', '\\"')
    return f'"""{docstring}"""\n\n' + "\n".join(imports) + "\n\n\n" + "\n\n".join(bodies)


def _import(package: str, names: list[str]) -> str:
    line = f"from {package} import {', '.join(names)}"
    return line if len(line) <= _WIDTH else _wrap(f"from {package} import (", names, ")", 0)


def python_expr(value: Any) -> str:
    """``value`` as a Python expression (on one line when it fits)."""
    return _expr(value, 0, set(), None)


def _expr(value: Any, indent: int, classes: set[str], role: str | None) -> str:
    if isinstance(value, Metric):
        name = _METRIC_NAMES.get(id(value))
        if name is None:
            raise ValueError(f"{value.name} is not an object of obs's catalog")
        classes.add("catalog")
        return f"catalog.{name}"
    if isinstance(value, str):
        if role == "attribute" and value in _ATTR_NAMES:
            classes.add("attr")
            return f"attr.{_ATTR_NAMES[value]}"
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, BinOp):
        left = _expr(value.left, indent + 4, classes, None)
        right = _expr(value.right, indent + 4, classes, None)
        one_line = f"({left} {value.op} {right})"
        if len(one_line) + indent <= _WIDTH and "\n" not in one_line:
            return one_line
        pad = " " * (indent + 4)
        return f"(\n{pad}{left}\n{pad}{value.op} {right}\n{' ' * indent})"
    if isinstance(value, Formula) and value == Formula(value.expr):
        return _expr(value.expr, indent, classes, None)
    if isinstance(value, tuple | list):
        items = [_expr(v, indent + 4, classes, role) for v in value]
        return _wrap("(", items, ",)" if len(items) == 1 else ")", indent)
    if isinstance(value, Mapping):
        items = [
            f"{_expr(k, indent + 4, classes, None)}: {_expr(v, indent + 4, classes, None)}"
            for k, v in value.items()
        ]
        return _wrap("{", items, "}", indent)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass(value, indent, classes)
    raise TypeError(f"cannot write {type(value).__name__} as source")


def _dataclass(value: Any, indent: int, classes: set[str]) -> str:
    cls = type(value)
    classes.add(cls.__name__)
    args = []
    positional = cls in _POSITIONAL
    for f in dataclasses.fields(value):
        current = getattr(value, f.name)
        if _is_default(f, current):
            # Small values read best positionally; stop at the first default to stay exact.
            if positional:
                break
            continue
        role = (
            "attribute"
            if (cls is Query and f.name == "by") or (cls is Tag and f.name == "key")
            else None
        )
        written = _expr(current, indent + 4, classes, role)
        args.append(written if positional else f"{f.name}={written}")
    return _wrap(f"{cls.__name__}(", args, ")", indent)


def _is_default(f: dataclasses.Field[Any], current: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return bool(current == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(current == f.default_factory())
    return False


def _wrap(opening: str, items: list[str], closing: str, indent: int) -> str:
    one_line = f"{opening}{', '.join(items)}{closing}"
    if len(one_line) + indent <= _WIDTH and "\n" not in one_line:
        return one_line
    pad = " " * (indent + 4)
    end = closing.removeprefix(",")
    body = "".join(f"{pad}{item},\n" for item in items)
    return f"{opening}\n{body}{' ' * indent}{end}"
