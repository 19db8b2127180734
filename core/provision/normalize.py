"""Bring a dashboard or monitor body, as sent or as read back, into one canonical form, so
that comparing the two shows only real differences (a plan right after an apply is empty).

Dropped: read-only fields (ids, authors, timestamps, urls, states), widget ids, widget
layouts on auto-reflow dashboards (Datadog computes them), values equal to Datadog's
defaults (from its OpenAPI spec, e.g. ``include_tags: true``, and the ones its editor adds,
e.g. ``palette: dog_classic``), ``null``/empty values, the ownership marker and tags, and
fields obs does not manage (kept as they are on update). Rewritten: tag order, number types
(``5`` vs ``5.0``), query and formula text (spacing, parentheses, query names in order of use).

Example:
    >>> live = {"id": 7, "name": "n", "type": "query alert", "creator": {"handle": "a"},
    ...         "query": "avg(last_5m):avg:redis.memory.used{*}>5", "tags": ["b", "managed-by:obs"],
    ...         "options": {"thresholds": {"critical": 5}, "include_tags": True, "silenced": {}}}
    >>> normalized = normalize_monitor(live)
    >>> normalized["query"], normalized["options"], normalized["tags"]
    ('avg(last_5m):avg:redis.memory.used{*} > 5', {'thresholds': {'critical': 5.0}}, ['b'])
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from obs import catalog
from obs.catalog import Emitter, Kind, Metric
from obs.metric_query.grammar import (
    DISTRIBUTION_AGGREGATOR,
    QueryParseError,
    parse_distribution,
    parse_expression,
    parse_formula,
    parse_monitor_query,
    render,
    render_distribution,
    render_formula,
    render_monitor_query,
)
from obs.metric_query.tree import Query
from obs.provision.identity import is_ownership_tag, strip_marker

DASHBOARD_READ_ONLY = frozenset(
    {"id", "author_handle", "author_name", "created_at", "modified_at", "url", "deleted_at"}
)
# Writable, but set by people in Datadog's UI rather than in code: left out of the diff and
# carried over unchanged when obs updates the dashboard.
DASHBOARD_UNMANAGED = ("restricted_roles", "template_variable_presets", "tabs")
MONITOR_READ_ONLY = frozenset(
    {
        "id",
        "org_id",
        "created",
        "created_at",
        "modified",
        "creator",
        "deleted",
        "multi",
        "overall_state",
        "overall_state_modified",
        "state",
        "matching_downtimes",
        "restricted_roles",
        "assets",
    }
)

_DASHBOARD_DEFAULTS = {"is_read_only": False, "reflow_type": "auto"}
_MONITOR_DEFAULTS = {"draft_status": "published"}
# Types Datadog rewrites when it stores a monitor: a metric alert over a classic metric query
# comes back as a query alert (recorded in datadog-api-client-python's cassettes).
MONITOR_TYPE_STORED_AS = {"metric alert": "query alert"}
_MONITOR_OPTION_DEFAULTS: dict[str, Any] = {
    # From the OpenAPI spec's `default:` values.
    "include_tags": True,
    "notify_audit": False,
    "new_host_delay": 300,
    "min_failure_duration": 0,
    "min_location_failed": 1,
    "notification_preset_name": "show_all",
    # Documented as the default in the spec's descriptions, and what Datadog returns.
    "require_full_window": False,
    "notify_no_data": False,
    "escalation_message": "",
    "locked": False,
    "groupby_simple_monitor": False,
    # 0 means "never", as null does.
    "renotify_interval": 0,
    "timeout_h": 0,
}
# Per widget type (and "*" for every type): values that mean the same as leaving them out.
_WIDGET_DEFAULTS: dict[str, dict[str, Any]] = {
    "*": {"title_align": "left", "title_size": "16"},
    "group": {"show_title": True},
    "note": {"has_padding": True},
    "timeseries": {
        "legend_layout": "auto",
        "legend_columns": ["avg", "min", "max", "value", "sum"],
    },
}
_AXIS_DEFAULTS = {"min": "auto", "max": "auto", "scale": "linear"}
_REQUEST_STYLE_DEFAULTS = {"palette": "dog_classic", "line_type": "solid", "line_width": "normal"}
_AXIS_KEYS = ("yaxis", "right_yaxis", "xaxis")


def normalize_dashboard(body: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of a dashboard body (sent or read)."""
    out = {
        k: copy.deepcopy(v)
        for k, v in body.items()
        if k not in DASHBOARD_READ_ONLY and k not in DASHBOARD_UNMANAGED
    }
    out["description"] = strip_marker(out.get("description"))
    if out.get("tags"):
        out["tags"] = sorted(set(out["tags"]))
    out["template_variables"] = [_variable(v) for v in out.get("template_variables") or []]
    _drop_defaults(out, _DASHBOARD_DEFAULTS)
    keep_layouts = body.get("reflow_type") == "fixed" or body.get("layout_type") == "free"
    out["widgets"] = [_widget(w, keep_layouts) for w in out.get("widgets") or []]
    return _pruned(out)


def normalize_monitor(body: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of a monitor body (sent or read)."""
    out = {k: copy.deepcopy(v) for k, v in body.items() if k not in MONITOR_READ_ONLY}
    out["tags"] = sorted({t for t in out.get("tags") or [] if not is_ownership_tag(t)})
    if isinstance(out.get("type"), str):
        out["type"] = MONITOR_TYPE_STORED_AS.get(out["type"], out["type"])
    if isinstance(out.get("query"), str):
        out["query"] = canonical_monitor_query(out["query"])
    options = out.get("options")
    if isinstance(options, dict):
        _drop_defaults(options, _MONITOR_OPTION_DEFAULTS)
        if not options.get("silenced"):
            options.pop("silenced", None)
        thresholds = options.get("thresholds")
        if isinstance(thresholds, dict):
            options["thresholds"] = {
                k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for k, v in thresholds.items()
            }
    _drop_defaults(out, _MONITOR_DEFAULTS)
    return _pruned(out)


SLO_READ_ONLY = frozenset(
    {
        "id",
        "creator",
        "created_at",
        "modified_at",
        "type_id",
        "monitor_tags",
        "configured_alert_ids",
        "deleted",
    }
)
# Datadog rewrites the display strings ("99.0" comes back as "99."): they follow the numbers.
_THRESHOLD_DISPLAY = ("target_display", "warning_display")
# Documented as the size of a slice when none is given, and what Datadog returns then.
_TIME_SLICE_DEFAULTS = {"query_interval_seconds": 300}


def normalize_slo(body: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of an SLO body (sent or read): thresholds in window order,
    numbers as floats, query and formula text canonical, ownership tags left out.

    Example:
        >>> live = {"id": "abc", "type_id": 1, "name": "n", "tags": ["managed-by:obs", "b"],
        ...         "thresholds": [{"timeframe": "7d", "target": 95, "target_display": "95."}],
        ...         "query": {"numerator": "sum:a{*}.as_count()",
        ...                   "denominator": "sum:a{*}.as_count()+sum:b{*}.as_count()"}}
        >>> normalized = normalize_slo(live)
        >>> normalized["thresholds"], normalized["query"]["denominator"], normalized["tags"]
        ([{'target': 95.0, 'timeframe': '7d'}], 'sum:a{*}.as_count() + sum:b{*}.as_count()', ['b'])
    """
    out = {k: copy.deepcopy(v) for k, v in body.items() if k not in SLO_READ_ONLY}
    out["tags"] = sorted({t for t in out.get("tags") or [] if not is_ownership_tag(t)})
    thresholds = [t for t in out.get("thresholds") or [] if isinstance(t, dict)]
    out["thresholds"] = sorted(
        ({k: _float(v) for k, v in t.items() if k not in _THRESHOLD_DISPLAY} for t in thresholds),
        key=lambda t: _WINDOW_ORDER.get(str(t.get("timeframe")), len(_WINDOW_ORDER)),
    )
    for name in ("target_threshold", "warning_threshold"):
        out[name] = _float(out.get(name))
    query = out.get("query")
    if isinstance(query, dict):
        out["query"] = {
            k: _canonical_query(v) if isinstance(v, str) else v for k, v in query.items()
        }
    spec = out.get("sli_specification")
    if isinstance(spec, dict) and isinstance(spec.get("time_slice"), dict):
        condition = dict(spec["time_slice"])
        _drop_defaults(condition, _TIME_SLICE_DEFAULTS)
        condition["threshold"] = _float(condition.get("threshold"))
        inner = condition.get("query")
        if isinstance(inner, dict) and isinstance(inner.get("queries"), list):
            formulas = inner.get("formulas")
            if isinstance(formulas, list):
                queries, formulas = _renamed(inner["queries"], formulas)
                condition["query"] = {**inner, "queries": queries, "formulas": formulas}
        out["sli_specification"] = {**spec, "time_slice": condition}
        # A time-slice SLO has no numerator and denominator; some replies say so with null.
        out.pop("query", None)
    return _pruned(out)


_WINDOW_ORDER = {"7d": 0, "30d": 1, "90d": 2, "custom": 3}


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _lenient_metric(name: str) -> Metric:
    # Canonical text only needs the name; metrics outside the catalog still get spacing fixed.
    try:
        return catalog.by_datadog_name(name)
    except KeyError:
        return Metric(name, Kind.GAUGE, "", "", (), Emitter.AGENT)


def canonical_monitor_query(text: str) -> str:
    """``text`` rewritten the way obs writes monitor queries (unchanged when unreadable)."""
    try:
        return render_monitor_query(parse_monitor_query(text, _lenient_metric))
    except QueryParseError:
        return " ".join(text.split())


def _canonical_query(text: str) -> str:
    try:
        if text.lstrip().startswith(f"{DISTRIBUTION_AGGREGATOR}:"):
            return render_distribution(parse_distribution(text, _lenient_metric))
        return render(parse_expression(text, _lenient_metric))
    except QueryParseError:
        return " ".join(text.split())


def _variable(var: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(var)
    if "default" in out:
        legacy = out.pop("default")
        if legacy is not None and not out.get("defaults"):
            out["defaults"] = [legacy]
    if out.get("defaults") == ["*"]:
        out.pop("defaults")
    return out


def _widget(widget: Mapping[str, Any], keep_layouts: bool) -> dict[str, Any]:
    out = {k: v for k, v in widget.items() if k != "id" and (keep_layouts or k != "layout")}
    definition = dict(out.get("definition") or {})
    kind = definition.get("type", "")
    _drop_defaults(definition, _WIDGET_DEFAULTS["*"])
    _drop_defaults(definition, _WIDGET_DEFAULTS.get(kind, {}))
    for axis in _AXIS_KEYS:
        if isinstance(definition.get(axis), dict):
            _drop_defaults(definition[axis], _AXIS_DEFAULTS)
    if definition.get("time") == {}:
        definition.pop("time")
    if kind == "group":
        # Group members are laid out by Datadog too unless the dashboard reflow is fixed.
        definition["widgets"] = [_widget(w, keep_layouts) for w in definition.get("widgets", [])]
    if isinstance(definition.get("requests"), list):
        definition["requests"] = [_request(r) for r in definition["requests"]]
    out["definition"] = definition
    return out


def _request(request: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(request)
    if isinstance(out.get("style"), dict):
        out["style"] = {
            k: v for k, v in out["style"].items() if _REQUEST_STYLE_DEFAULTS.get(k) != v
        }
    if isinstance(out.get("q"), str):
        out["q"] = _canonical_query(out["q"])
    if isinstance(out.get("query"), dict) and isinstance(out["query"].get("query"), str):
        out["query"] = {**out["query"], "query": _canonical_query(out["query"]["query"])}
    if isinstance(out.get("queries"), list) and isinstance(out.get("formulas"), list):
        out["queries"], out["formulas"] = _renamed(out["queries"], out["formulas"])
    return out


def _renamed(
    queries: list[dict[str, Any]], formulas: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Queries ordered and named ``query1``... by first use in the formulas; formula text and
    query text canonical. Left as they are when a formula cannot be read."""
    by_name = {str(q.get("name")): q for q in queries}
    stand_ins = {name: _placeholder(i) for i, name in enumerate(by_name)}
    name_of = {q: name for name, q in stand_ins.items()}
    try:
        parsed = [parse_formula(str(f.get("formula", "")), stand_ins) for f in formulas]
    except QueryParseError:
        return queries, formulas
    order: list[str] = []
    used = [name_of[q] for expr in parsed for q in expr.queries()]
    for name in [*used, *by_name]:
        if name not in order:
            order.append(name)
    new_name = {old: f"query{i + 1}" for i, old in enumerate(order)}
    renamed = []
    for old in order:
        query = {**by_name[old], "name": new_name[old]}
        if isinstance(query.get("query"), str):
            query["query"] = _canonical_query(query["query"])
        renamed.append(query)
    rewritten = []
    for formula, expr in zip(formulas, parsed, strict=True):
        item = {**formula, "formula": render_formula(expr, lambda q: new_name[name_of[q]])}
        if isinstance(item.get("limit"), dict) and item["limit"].get("order") == "desc":
            item["limit"] = {k: v for k, v in item["limit"].items() if k != "order"}
        rewritten.append(item)
    return renamed, rewritten


def _placeholder(index: int) -> Query:
    # One distinct query object per name, so formulas can be parsed without reading queries.
    return Query(Metric(f"placeholder{index}", Kind.GAUGE, "", "", (), Emitter.AGENT))


def _drop_defaults(target: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    for key, value in defaults.items():
        if key in target and target[key] == value:
            del target[key]


def _pruned(body: dict[str, Any]) -> dict[str, Any]:
    pruned: dict[str, Any] = _prune(body)
    return pruned


def _prune(value: Any) -> Any:
    """Drop ``None``, empty lists, empty dicts and empty strings, recursively."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in sorted(pruned.items()) if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
