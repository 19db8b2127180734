"""Building datadog-api-client models, with their complaints turned into :class:`Problem`\\ s.

The client's models are generated from Datadog's OpenAPI spec: constructing one checks types,
required fields, bounds and list sizes. Unknown enum values do not raise; the model only
marks itself ``_unparsed``, so :func:`build` looks for that too.

Example:
    >>> from datadog_api_client.v1.model.widget_layout import WidgetLayout
    >>> build("dashboard d", "widgets[0].layout", WidgetLayout, x=0, y=0, width=4, height=2).x
    0
    >>> build("dashboard d", "widgets[0].layout", WidgetLayout, x=0, y=0, width="4", height=2)
    Traceback (most recent call last):
    obs.provision.problems.DefinitionError: dashboard d: widgets[0].layout: Invalid type ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from datadog_api_client.exceptions import ApiAttributeError, ApiTypeError, ApiValueError
from datadog_api_client.model_utils import ModelNormal, ModelSimple, OpenApiModel

from obs.provision.problems import DefinitionError, Problem

M = TypeVar("M", bound=OpenApiModel)


def build(definition: str, field: str, model: Callable[..., M], /, *args: Any, **kwargs: Any) -> M:
    """``model(*args, **kwargs)`` without ``None`` keyword values; a refusal becomes a
    :class:`DefinitionError` naming the definition and field."""
    given = {k: v for k, v in kwargs.items() if v is not None}
    try:
        built = model(*args, **given)
    except (ApiTypeError, ApiValueError, ApiAttributeError, TypeError) as exc:
        raise DefinitionError([Problem(definition, field, _reason(exc))]) from None
    where = unparsed_path(built)
    if where is not None:
        shown = f"{field}.{where}" if field and where else field or where
        raise DefinitionError([Problem(definition, shown, "value not allowed by Datadog's API")])
    return built


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0]


def unparsed_path(model: object) -> str | None:
    """Where inside ``model`` a value was not understood ("" for the model itself)."""
    if isinstance(model, ModelSimple):
        return "" if model._unparsed else None
    if isinstance(model, ModelNormal):
        if not model._unparsed:
            return None
        for name, value in model._data_store.items():
            inner = _inner_path(value)
            if inner is not None:
                return f"{name}{inner}"
        return ""
    return None


def _inner_path(value: object) -> str | None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            inner = _inner_path(item)
            if inner is not None:
                return f"[{index}]{inner}"
        return None
    found = unparsed_path(value)
    if found is None:
        return None
    return f".{found}" if found else ""


def as_json(model: OpenApiModel) -> dict[str, Any]:
    """The model as the JSON object the API takes."""
    body: dict[str, Any] = model.to_dict()
    return body
