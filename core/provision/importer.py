"""``obs provision import``: live Datadog dashboards, monitors and SLOs to Python
definitions.

Each object is read as raw JSON and turned into obs values (queries become catalog metrics,
parsed by :mod:`obs.metric_query.grammar`). Before any source is written, each value is
rendered again and compared with the live object under the same normalisation ``plan`` uses:
if anything would differ (a widget type or field obs does not model, a metric outside the
catalog), the import stops and names it, so that an import followed by ``plan`` shows no
changes. Objects obs does not own are imported with ``adopt_id``. An SLO is imported
without burn-rate alerts (``alerts=()``): Datadog's alerts on it stay as they are (for an SLO
obs created, plan lists its alerts as not in code until the definition asks for them).

Example:
    >>> key_for("Orders: Mongo latency!", "abc-def-ghi")
    'imported.orders-mongo-latency'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from obs import catalog
from obs.dashboards.dashboard import Dashboard, TemplateVariable
from obs.dashboards.widgets import (
    Axis,
    Distribution,
    Formula,
    Group,
    Heatmap,
    Layout,
    Marker,
    Note,
    QueryValue,
    Timeseries,
    Toplist,
    Widget,
)
from obs.metric_query.grammar import (
    QueryParseError,
    parse_distribution,
    parse_expression,
    parse_formula,
    parse_monitor_query,
    parse_query,
)
from obs.metric_query.tree import Query
from obs.monitors.monitor import Monitor, Thresholds
from obs.provision.client import DatadogClient
from obs.provision.identity import Identity, Kind, mark_of
from obs.provision.live import checked, unwrapped
from obs.provision.normalize import normalize_dashboard, normalize_monitor, normalize_slo
from obs.provision.problems import ProvisionError
from obs.provision.render_dashboard import render_dashboard
from obs.provision.render_monitor import render_monitor
from obs.provision.render_slo import render_slo
from obs.provision.source import module_source
from obs.provision.validate import validate_dashboard, validate_monitor, validate_slo
from obs.slos.slo import SLO, WINDOWS, Ratio, TimeSlice

_NOTE_FIELDS = (
    "background_color",
    "font_size",
    "text_align",
    "vertical_align",
    "show_tick",
    "tick_edge",
    "tick_pos",
    "has_padding",
)


class ImportRefused(ProvisionError):
    """A live object obs cannot represent exactly."""


_SLO_ID = re.compile(r"[0-9a-f]{32}")


def kind_of_id(ident: str) -> Kind:
    """What an id names: monitors are numbers, SLOs 32 hexadecimal digits, dashboards
    ``abc-def-ghi``.

    Example:
        >>> kind_of_id("1234"), kind_of_id("c2ce7fb6030c5c0b8035d1ce94dec12c"), kind_of_id("a-b-c")
        ('monitor', 'slo', 'dashboard')
    """
    if ident.isdigit():
        return "monitor"
    return "slo" if _SLO_ID.fullmatch(ident) else "dashboard"


_FROM_JSON: dict[Kind, Callable[[Mapping[str, Any]], tuple[Any, Identity | None]]] = {}


def import_objects(client: DatadogClient, ids: Sequence[str]) -> str:
    """Python source defining the live objects ``ids`` (numbers: monitors)."""
    values: list[Dashboard | Monitor | SLO] = []
    envs: set[str | None] = set()
    projects: set[str | None] = set()
    keys: set[tuple[str, str]] = set()
    for ident in ids:
        kind = kind_of_id(ident)
        reply = unwrapped(kind, client.get(f"/api/v1/{kind}/{ident}"))
        body = checked(kind, reply, f"GET /api/v1/{kind}/{ident}")
        value, owner = _FROM_JSON[kind](body)
        env = owner.env if owner else None
        check_valid(value, f"{kind} {ident}")
        check_round_trip(value, body, env)
        if (kind, value.key) in keys:
            if value.adopt_id is None:
                raise ProvisionError(f"{kind} {ident}: obs already owns another {value.key}")
            value = replace(value, key=f"{value.key}-{ident}")  # two with one title
        keys.add((kind, value.key))
        values.append(value)
        envs.add(env)
        projects.add(owner.project if owner else None)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    env_note = "".join(
        f"\nPlan them with --env {e} (they were provisioned for it)."
        for e in sorted(envs - {None})  # type: ignore[type-var]
    )
    env_note += "".join(
        f"\nPlan them with --project {p} (they belong to it)."
        for p in sorted(projects - {None})  # type: ignore[type-var]
    )
    header = (
        f"Imported from Datadog by `obs provision import {' '.join(ids)}` on {stamp}.{env_note}"
    )
    return module_source(values, header)


def check_valid(value: Dashboard | Monitor | SLO, where: str) -> None:
    """Refuse what ``plan`` would reject, naming the first problem's path."""
    if isinstance(value, Dashboard):
        problems = validate_dashboard(value)
    elif isinstance(value, SLO):
        problems = validate_slo(value)
    else:
        problems = validate_monitor(value)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        first = problems[0]
        raise ImportRefused(f"{where}: {first.field}: {first.message}{more}")


def check_round_trip(
    value: Dashboard | Monitor | SLO, live: Mapping[str, Any], env: str | None
) -> None:
    """Refuse, naming the difference, when ``value`` would not render back to ``live``."""
    if isinstance(value, Dashboard):
        ours, theirs = normalize_dashboard(render_dashboard(value, env)), normalize_dashboard(live)
        kind = "dashboard"
    elif isinstance(value, SLO):
        ours, theirs = normalize_slo(render_slo(value, env)), normalize_slo(live)
        kind = "slo"
    else:
        ours, theirs = normalize_monitor(render_monitor(value, env)), normalize_monitor(live)
        kind = "monitor"
    if ours != theirs:
        where = ", ".join(_differences(theirs, ours, "")[:5])
        raise ImportRefused(
            f"{kind} {live.get('id')}: obs cannot represent all of it; it differs at {where}"
        )


def _differences(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out.extend(_differences(a.get(key), b.get(key), f"{path}.{key}" if path else key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out.extend(_differences(x, y, f"{path}[{i}]"))
        return out
    return [] if a == b else [path or "(top)"]


def key_for(title: str, ident: str | int) -> str:
    """A definition key for an object obs does not own yet."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80] or str(ident)
    return f"imported.{slug}"


# --- dashboards -------------------------------------------------------------------------


def owner_of(kind: Kind, live: Mapping[str, Any]) -> Identity | None:
    """Whom ``live`` belongs to: its mark's identity, unless the mark was copied from another
    object (a clone made in Datadog's UI belongs to no definition yet)."""
    mark = mark_of(kind, live)
    if mark is None or mark.bound not in (None, str(live.get("id"))):
        return None
    return mark.identity


def dashboard_from_json(live: Mapping[str, Any]) -> tuple[Dashboard, Identity | None]:
    """The dashboard ``live`` is, and whom it belongs to (project, key, environment)."""
    ident = str(live.get("id"))
    where = f"dashboard {ident}"
    if live.get("layout_type") != "ordered":
        raise ImportRefused(f"{where}: only ordered dashboards are supported (not free layout)")
    identity = owner_of("dashboard", live)
    # The normal form has no server defaults, ids or computed layouts left to carry over.
    body = normalize_dashboard(live)
    fixed = body.get("reflow_type") == "fixed"
    variables = []
    for var in body.get("template_variables") or []:
        defaults = var.get("defaults") or ([var["default"]] if var.get("default") else ["*"])
        if len(defaults) != 1:
            raise ImportRefused(
                f"{where}: template variable {var.get('name')} has several defaults"
            )
        variables.append(
            TemplateVariable(
                var["name"],
                var.get("prefix"),
                defaults[0],
                tuple(var.get("available_values") or ()),
            )
        )
    teams = tuple(t.removeprefix("team:") for t in body.get("tags") or [])
    dashboard = Dashboard(
        key=identity.key if identity else key_for(str(body.get("title", "")), ident),
        title=str(body.get("title", "")),
        widgets=_widgets(where, "widgets", body.get("widgets") or [], fixed),
        description=body.get("description", ""),
        template_variables=tuple(variables),
        teams=teams,
        notify_list=tuple(body.get("notify_list") or ()),
        reflow="fixed" if fixed else None,
        adopt_id=None if identity else ident,
    )
    return dashboard, identity


def _widgets(where: str, path: str, items: Sequence[Any], fixed: bool) -> tuple[Widget, ...]:
    return tuple(_widget(where, f"{path}[{i}]", w, fixed) for i, w in enumerate(items))


def _widget(where: str, path: str, item: Mapping[str, Any], fixed: bool) -> Widget:
    definition = item.get("definition") or {}
    kind = definition.get("type")
    layout = None
    if fixed and item.get("layout"):
        spot = item["layout"]
        layout = Layout(spot["x"], spot["y"], spot["width"], spot["height"])
    if kind == "group":
        return Group(
            definition.get("title", ""),
            _widgets(where, f"{path}.widgets", definition.get("widgets") or [], fixed),
            definition.get("background_color"),
            definition.get("show_title"),
            layout,
        )
    if kind == "note":
        extra = {f: definition.get(f) for f in _NOTE_FIELDS}
        return Note(definition.get("content", ""), **extra, layout=layout)
    title = definition.get("title", "")
    requests = definition.get("requests") or []
    if kind not in ("timeseries", "query_value", "toplist", "heatmap", "distribution"):
        raise ImportRefused(f"{where}: {path}: {kind!r} widgets are not supported by obs")
    if len(requests) != 1:
        raise ImportRefused(f"{where}: {path}: obs supports one request per widget")
    request = requests[0]
    if kind == "distribution":
        return Distribution(title, _distribution_query(where, path, request), layout)
    series, reducers = _series(where, f"{path}.requests[0]", request)
    reduce = _reduce(reducers, series)
    if kind == "timeseries":
        yaxis = definition.get("yaxis")
        return Timeseries(
            title,
            series,
            request.get("display_type") or "line",
            definition.get("show_legend"),
            Axis(**{k: yaxis.get(k) for k in ("label", "scale", "min", "max", "include_zero")})
            if yaxis
            else None,
            tuple(
                Marker(m["value"], m.get("display_type"), m.get("label"))
                for m in definition.get("markers") or []
            ),
            layout,
        )
    if kind == "heatmap":
        return Heatmap(title, series, layout)
    if kind == "toplist":
        return Toplist(title, series, reduce, layout)
    return QueryValue(
        title,
        series,
        reduce,
        definition.get("precision"),
        definition.get("custom_unit"),
        definition.get("autoscale"),
        layout,
    )


_Parsed = TypeVar("_Parsed")


def _parse(
    where: str, path: str, parse: Callable[[str, Any], _Parsed], text: str, on: Any
) -> _Parsed:
    try:
        return parse(text, on)
    except QueryParseError as exc:
        raise ImportRefused(f"{where}: {path}: {exc}") from None


def _series(
    where: str, path: str, request: Mapping[str, Any]
) -> tuple[tuple[Formula, ...], list[str | None]]:
    if "q" in request and "queries" not in request:
        expr = _parse(where, f"{path}.q", parse_expression, request["q"], catalog.by_datadog_name)
        return (Formula(expr),), []
    names: dict[str, Query] = {}
    reducers: list[str | None] = []
    for i, query in enumerate(request.get("queries") or []):
        if query.get("data_source") != "metrics":
            raise ImportRefused(f"{where}: {path}.queries[{i}]: only metric queries are supported")
        names[query["name"]] = _parse(
            where, f"{path}.queries[{i}]", parse_query, query["query"], catalog.by_datadog_name
        )
        reducers.append(query.get("aggregator"))
    formulas = []
    for i, formula in enumerate(request.get("formulas") or []):
        expr = _parse(where, f"{path}.formulas[{i}]", parse_formula, formula["formula"], names)
        limit = formula.get("limit") or {}
        formulas.append(Formula(expr, formula.get("alias"), limit.get("count"), limit.get("order")))
    return tuple(formulas), reducers


def _reduce(reducers: list[str | None], series: tuple[Formula, ...]) -> str | None:
    """The widget's ``reduce``, or ``None`` where every query uses obs's default."""
    queries = [q for f in series for q in dict.fromkeys(f.expr.queries())]
    defaults = ["percentile" if q.is_percentile else "avg" for q in queries]
    distinct = set(reducers)
    if not reducers or reducers == defaults or distinct == {None}:
        return None
    return reducers[0] if len(distinct) == 1 else None


def _distribution_query(where: str, path: str, request: Mapping[str, Any]) -> Query:
    text = str((request.get("query") or {}).get("query", ""))
    return _parse(where, path, parse_distribution, text, catalog.by_datadog_name)


# --- monitors ---------------------------------------------------------------------------


def monitor_from_json(live: Mapping[str, Any]) -> tuple[Monitor, Identity | None]:
    """The monitor ``live`` is, and whom it belongs to (project, key, environment)."""
    ident = live.get("id")
    where = f"monitor {ident}"
    identity = owner_of("monitor", live)
    body = normalize_monitor(live)
    if body.get("type") == "slo alert":
        raise ImportRefused(
            f"{where}: an SLO alert; obs generates burn-rate alerts from their SLO's "
            "definition: import the SLO and give it alerts"
        )
    if body.get("type") not in ("query alert", "metric alert"):
        raise ImportRefused(
            f"{where}: only metric monitors are supported, not {body.get('type')!r}"
        )
    try:
        parsed = parse_monitor_query(str(body.get("query", "")), catalog.by_datadog_name)
    except QueryParseError as exc:
        raise ImportRefused(f"{where}: query: {exc}") from None
    options = body.get("options") or {}
    levels = options.get("thresholds") or {}
    name = str(body.get("name", ""))
    monitor = Monitor(
        key=identity.key if identity else key_for(name, str(ident)),
        name=name,
        query=parsed.expr,
        comparator=parsed.comparator,
        thresholds=Thresholds(
            parsed.threshold,
            levels.get("warning"),
            levels.get("critical_recovery"),
            levels.get("warning_recovery"),
        ),
        message=str(body.get("message", "")),
        window=parsed.window,
        time_aggregation=parsed.time_aggregation,
        type=body.get("type"),  # type: ignore[arg-type]
        notify_no_data=bool(options.get("notify_no_data")),
        no_data_timeframe=options.get("no_data_timeframe"),
        renotify_interval=options.get("renotify_interval"),
        priority=body.get("priority"),
        tags=tuple(body.get("tags") or ()),
        require_full_window=options.get("require_full_window"),
        evaluation_delay=options.get("evaluation_delay"),
        new_group_delay=options.get("new_group_delay"),
        adopt_id=None if identity else int(str(ident)),
    )
    plain = replace(monitor, time_aggregation=None)
    if plain.effective_time_aggregation() == parsed.time_aggregation:
        monitor = plain
    return monitor, identity


# --- SLOs -------------------------------------------------------------------------------


def slo_from_json(live: Mapping[str, Any]) -> tuple[SLO, Identity | None]:
    """The SLO ``live`` is (without burn-rate alerts), and whom it belongs to."""
    ident = str(live.get("id"))
    where = f"slo {ident}"
    identity = owner_of("slo", live)
    body = normalize_slo(live)
    sli: Ratio | TimeSlice
    if body.get("type") == "metric" and "sli_specification" not in body:
        query = body.get("query") or {}
        good, total = (
            _parse(
                where,
                f"query.{part}",
                parse_expression,
                str(query.get(part, "")),
                catalog.by_datadog_name,
            )
            for part in ("numerator", "denominator")
        )
        sli = Ratio(good, total)
    elif body.get("type") == "time_slice":
        sli = _time_slice(where, (body.get("sli_specification") or {}).get("time_slice") or {})
    else:
        raise ImportRefused(
            f"{where}: only metric SLOs (numerator and denominator) and time-slice SLOs are "
            f"supported, not a {body.get('type')!r} SLO"
            + (" defined by sli_specification" if body.get("type") == "metric" else "")
        )
    thresholds = [t for t in body.get("thresholds") or [] if isinstance(t, dict)]
    primary = body.get("timeframe")
    thresholds.sort(key=lambda t: (t.get("timeframe") != primary, _window_index(t)))
    name = str(body.get("name", ""))
    slo = SLO(
        key=identity.key if identity else key_for(name, ident),
        name=name,
        sli=sli,
        targets={t.get("timeframe"): t.get("target") for t in thresholds},  # type: ignore[misc]
        warnings={t["timeframe"]: t["warning"] for t in thresholds if "warning" in t},
        description=str(body.get("description", "")),
        tags=tuple(body.get("tags") or ()),
        alerts=(),
        adopt_id=None if identity else ident,
    )
    return slo, identity


def _window_index(threshold: Mapping[str, Any]) -> int:
    window = threshold.get("timeframe")
    return WINDOWS.index(window) if window in WINDOWS else len(WINDOWS)


def _time_slice(where: str, condition: Mapping[str, Any]) -> TimeSlice:
    inner = condition.get("query") or {}
    names: dict[str, Query] = {}
    for i, query in enumerate(inner.get("queries") or []):
        if query.get("data_source") != "metrics":
            raise ImportRefused(f"{where}: queries[{i}]: only metric queries are supported")
        names[str(query.get("name"))] = _parse(
            where,
            f"sli_specification.time_slice.query.queries[{i}]",
            parse_query,
            str(query.get("query", "")),
            catalog.by_datadog_name,
        )
    formulas = inner.get("formulas") or [{}]
    expr = _parse(
        where,
        "sli_specification.time_slice.query.formulas[0]",
        parse_formula,
        str(formulas[0].get("formula", "")),
        names,
    )
    return TimeSlice(
        expr,
        condition.get("comparator"),  # type: ignore[arg-type]
        condition.get("threshold"),  # type: ignore[arg-type]
        condition.get("query_interval_seconds", 300),
    )


_FROM_JSON.update(
    {"dashboard": dashboard_from_json, "monitor": monitor_from_json, "slo": slo_from_json}
)
