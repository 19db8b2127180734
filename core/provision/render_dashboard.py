"""Render a :class:`~obs.dashboards.Dashboard` into the JSON body Datadog's dashboard API takes,
through datadog-api-client's models (which check it against the API's schema as they go).

Queries in one widget request are named ``query1``, ``query2``... in order of first use, and
the formulas refer to those names, as Datadog's own editor does.

Example:
    >>> from obs import catalog
    >>> from obs.dashboards import Dashboard, QueryValue, avg
    >>> body = render_dashboard(Dashboard("demo", "Demo", (
    ...     QueryValue("Redis memory", (avg(catalog.REDIS_MEMORY_USED),)),)), env=None)
    >>> body["widgets"][0]["definition"]["requests"][0]["formulas"]
    [{'formula': 'query1'}]
"""

from __future__ import annotations

from typing import Any

from datadog_api_client.v1.model.dashboard import Dashboard as DashboardModel
from datadog_api_client.v1.model.dashboard_layout_type import DashboardLayoutType
from datadog_api_client.v1.model.dashboard_template_variable import DashboardTemplateVariable
from datadog_api_client.v1.model.distribution_widget_definition import (
    DistributionWidgetDefinition,
)
from datadog_api_client.v1.model.distribution_widget_definition_type import (
    DistributionWidgetDefinitionType,
)
from datadog_api_client.v1.model.distribution_widget_request import DistributionWidgetRequest
from datadog_api_client.v1.model.formula_and_function_metric_data_source import (
    FormulaAndFunctionMetricDataSource,
)
from datadog_api_client.v1.model.formula_and_function_metric_query_definition import (
    FormulaAndFunctionMetricQueryDefinition,
)
from datadog_api_client.v1.model.formula_and_function_response_format import (
    FormulaAndFunctionResponseFormat,
)
from datadog_api_client.v1.model.group_widget_definition import GroupWidgetDefinition
from datadog_api_client.v1.model.group_widget_definition_type import GroupWidgetDefinitionType
from datadog_api_client.v1.model.heat_map_widget_definition import HeatMapWidgetDefinition
from datadog_api_client.v1.model.heat_map_widget_definition_type import (
    HeatMapWidgetDefinitionType,
)
from datadog_api_client.v1.model.heat_map_widget_request import HeatMapWidgetRequest
from datadog_api_client.v1.model.note_widget_definition import NoteWidgetDefinition
from datadog_api_client.v1.model.note_widget_definition_type import NoteWidgetDefinitionType
from datadog_api_client.v1.model.query_value_widget_definition import (
    QueryValueWidgetDefinition,
)
from datadog_api_client.v1.model.query_value_widget_definition_type import (
    QueryValueWidgetDefinitionType,
)
from datadog_api_client.v1.model.query_value_widget_request import QueryValueWidgetRequest
from datadog_api_client.v1.model.timeseries_widget_definition import (
    TimeseriesWidgetDefinition,
)
from datadog_api_client.v1.model.timeseries_widget_definition_type import (
    TimeseriesWidgetDefinitionType,
)
from datadog_api_client.v1.model.timeseries_widget_request import TimeseriesWidgetRequest
from datadog_api_client.v1.model.toplist_widget_definition import ToplistWidgetDefinition
from datadog_api_client.v1.model.toplist_widget_definition_type import (
    ToplistWidgetDefinitionType,
)
from datadog_api_client.v1.model.toplist_widget_request import ToplistWidgetRequest
from datadog_api_client.v1.model.widget import Widget as WidgetModel
from datadog_api_client.v1.model.widget_axis import WidgetAxis
from datadog_api_client.v1.model.widget_formula import WidgetFormula
from datadog_api_client.v1.model.widget_formula_limit import WidgetFormulaLimit
from datadog_api_client.v1.model.widget_histogram_request_type import WidgetHistogramRequestType
from datadog_api_client.v1.model.widget_layout import WidgetLayout
from datadog_api_client.v1.model.widget_layout_type import WidgetLayoutType
from datadog_api_client.v1.model.widget_marker import WidgetMarker

from obs.dashboards.dashboard import Dashboard, TemplateVariable
from obs.dashboards.widgets import (
    Axis,
    Distribution,
    Formula,
    Graph,
    Group,
    Heatmap,
    Layout,
    Note,
    QueryValue,
    Timeseries,
    Toplist,
    Widget,
)
from obs.metric_query.grammar import render_distribution, render_formula, render_query
from obs.metric_query.tree import Query
from obs.provision.identity import Identity, Mark, with_marker
from obs.provision.models import as_json, build


def render_dashboard(
    dashboard: Dashboard, env: str | None, project: str | None = None
) -> dict[str, Any]:
    """The create/update body for ``dashboard`` (``env`` sets the ``env`` variable's default),
    marked as ``project``'s."""
    name = f"dashboard {dashboard.key}"
    model = build(
        name,
        "",
        DashboardModel,
        title=dashboard.title,
        layout_type=DashboardLayoutType.ORDERED,
        widgets=[_widget(name, f"widgets[{i}]", w) for i, w in enumerate(dashboard.widgets)],
        description=with_marker(dashboard.description, Mark(Identity(dashboard.key, env, project))),
        template_variables=[
            _variable(name, f"template_variables[{i}]", v, env)
            for i, v in enumerate(dashboard.template_variables)
        ]
        or None,
        tags=[f"team:{t}" for t in dashboard.teams] or None,
        notify_list=list(dashboard.notify_list) or None,
        reflow_type=dashboard.reflow,
    )
    return as_json(model)


def _variable(name: str, field: str, var: TemplateVariable, env: str | None) -> Any:
    default = env if env and (var.prefix or var.name) == "env" else var.default
    return build(
        name,
        field,
        DashboardTemplateVariable,
        name=var.name,
        prefix=var.prefix,
        defaults=[default],
        available_values=list(var.available_values) or None,
    )


def _widget(name: str, field: str, widget: Widget) -> Any:
    definition = _definition(name, f"{field}.definition", widget)
    layout = _layout(name, f"{field}.layout", widget.layout) if widget.layout else None
    return build(name, field, WidgetModel, definition=definition, layout=layout)


def _layout(name: str, field: str, layout: Layout) -> Any:
    return build(
        name, field, WidgetLayout, x=layout.x, y=layout.y, width=layout.width, height=layout.height
    )


def _definition(name: str, field: str, widget: Widget) -> Any:
    if isinstance(widget, Group):
        return build(
            name,
            field,
            GroupWidgetDefinition,
            type=GroupWidgetDefinitionType.GROUP,
            layout_type=WidgetLayoutType.ORDERED,
            title=widget.title,
            widgets=[
                _widget(name, f"{field}.widgets[{i}]", w) for i, w in enumerate(widget.widgets)
            ],
            background_color=widget.background_color,
            show_title=widget.show_title,
        )
    if isinstance(widget, Note):
        return build(
            name,
            field,
            NoteWidgetDefinition,
            type=NoteWidgetDefinitionType.NOTE,
            content=widget.content,
            background_color=widget.background_color,
            font_size=widget.font_size,
            text_align=widget.text_align,
            vertical_align=widget.vertical_align,
            show_tick=widget.show_tick,
            tick_edge=widget.tick_edge,
            tick_pos=widget.tick_pos,
            has_padding=widget.has_padding,
        )
    return _graph(name, field, widget)


def _graph(name: str, field: str, widget: Graph) -> Any:
    model, kind, request, extra = _graph_parts(name, field, widget)
    return build(name, field, model, type=kind, title=widget.title, requests=[request], **extra)


def _graph_parts(name: str, field: str, widget: Graph) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The definition model, its type, its one request and its other fields."""
    if isinstance(widget, Distribution):
        query = _metric_query(name, f"{field}.query", "query1", render_distribution(widget.query))
        request = build(
            name,
            f"{field}.requests[0]",
            DistributionWidgetRequest,
            request_type=WidgetHistogramRequestType.HISTOGRAM,
            query=query,
        )
        return (
            DistributionWidgetDefinition,
            DistributionWidgetDefinitionType.DISTRIBUTION,
            request,
            {},
        )
    if isinstance(widget, Timeseries):
        request = _request(
            name,
            field,
            widget,
            TimeseriesWidgetRequest,
            timeseries=True,
            display_type=widget.display,
        )
        markers = [
            build(
                name,
                f"{field}.markers[{i}]",
                WidgetMarker,
                value=m.value,
                display_type=m.display_type,
                label=m.label,
            )
            for i, m in enumerate(widget.markers)
        ]
        extra = {
            "show_legend": widget.show_legend,
            "yaxis": _axis(name, f"{field}.yaxis", widget.yaxis) if widget.yaxis else None,
            "markers": markers or None,
        }
        return TimeseriesWidgetDefinition, TimeseriesWidgetDefinitionType.TIMESERIES, request, extra
    if isinstance(widget, Heatmap):
        request = _request(name, field, widget, HeatMapWidgetRequest, timeseries=True)
        return HeatMapWidgetDefinition, HeatMapWidgetDefinitionType.HEATMAP, request, {}
    if isinstance(widget, QueryValue):
        request = _request(name, field, widget, QueryValueWidgetRequest, reduce=widget.reduce)
        extra = {
            "precision": widget.precision,
            "custom_unit": widget.unit,
            "autoscale": widget.autoscale,
        }
        return (
            QueryValueWidgetDefinition,
            QueryValueWidgetDefinitionType.QUERY_VALUE,
            request,
            extra,
        )
    if isinstance(widget, Toplist):
        request = _request(name, field, widget, ToplistWidgetRequest, reduce=widget.reduce)
        return ToplistWidgetDefinition, ToplistWidgetDefinitionType.TOPLIST, request, {}
    raise TypeError(f"{name}: {field}: {type(widget).__name__} is not a widget")


def query_names(formulas: tuple[Formula, ...]) -> dict[Query, str]:
    """``query1``, ``query2``... for each distinct query, in order of first use."""
    names: dict[Query, str] = {}
    for formula in formulas:
        for q in formula.expr.queries():
            names.setdefault(q, f"query{len(names) + 1}")
    return names


def _request(
    name: str,
    field: str,
    widget: Graph,
    model: Any,
    *,
    timeseries: bool = False,
    reduce: str | None = None,
    **extra: Any,
) -> Any:
    field = f"{field}.requests[0]"
    formulas = widget.formulas()
    names = query_names(formulas)
    queries = [
        _metric_query(
            name,
            f"{field}.queries[{i}]",
            n,
            render_query(q),
            reduce=None if timeseries else reduce or ("percentile" if q.is_percentile else "avg"),
        )
        for i, (q, n) in enumerate(names.items())
    ]
    rendered = [
        build(
            name,
            f"{field}.formulas[{i}]",
            WidgetFormula,
            formula=render_formula(f.expr, names.__getitem__),
            alias=f.alias,
            limit=build(
                name,
                f"{field}.formulas[{i}].limit",
                WidgetFormulaLimit,
                count=f.limit,
                order=f.order,
            )
            if f.limit is not None or f.order
            else None,
        )
        for i, f in enumerate(formulas)
    ]
    response_format = (
        FormulaAndFunctionResponseFormat.TIMESERIES
        if timeseries
        else FormulaAndFunctionResponseFormat.SCALAR
    )
    return build(
        name,
        field,
        model,
        response_format=response_format,
        queries=queries,
        formulas=rendered,
        **extra,
    )


def _metric_query(
    name: str,
    field: str,
    query_name: str,
    text: str,
    *,
    reduce: str | None = None,
) -> Any:
    return build(
        name,
        field,
        FormulaAndFunctionMetricQueryDefinition,
        data_source=FormulaAndFunctionMetricDataSource.METRICS,
        name=query_name,
        query=text,
        aggregator=reduce,
    )


def _axis(name: str, field: str, axis: Axis) -> Any:
    return build(
        name,
        field,
        WidgetAxis,
        label=axis.label,
        scale=axis.scale,
        min=axis.min,
        max=axis.max,
        include_zero=axis.include_zero,
    )
