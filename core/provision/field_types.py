"""Check that a definition's fields hold the types their annotations declare, before any
rule reads them: a definition file is Python, so ``title=None`` or a query written as a string
reaches obs as it is, and would otherwise surface as a traceback deep in validation.

Hand-written rather than a runtime type checker library: it walks obs's own frozen
dataclasses (nested widgets, queries, thresholds) and names each wrong field by its path, in
the ``invalid:`` lines every other problem uses.

Example:
    >>> from obs.monitors import Thresholds
    >>> [str(p) for p in field_type_problems("monitor m", Thresholds(critical=None))]
    ['monitor m: critical: expected float, got None']
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from obs.catalog import Metric
from obs.provision.problems import Problem


def field_type_problems(owner: str, value: object) -> list[Problem]:
    """Every field of the dataclass ``value`` (and of the dataclasses inside it) whose value
    does not fit its annotation."""
    problems: list[Problem] = []
    _fields(owner, "", value, problems)
    return problems


def _fields(owner: str, path: str, value: object, problems: list[Problem]) -> None:
    if not dataclasses.is_dataclass(value) or isinstance(value, type | Metric):
        return  # a catalog metric is checked by the rules, against the catalog itself
    hints = _hints(type(value))
    for item in dataclasses.fields(value):
        if item.name in hints:
            where = f"{path}.{item.name}" if path else item.name
            _check(owner, where, getattr(value, item.name), hints[item.name], problems)


@functools.cache
def _hints(cls: type) -> Mapping[str, Any]:
    # Resolving annotations evaluates their text: once per class, not per definition (a plan
    # of 250 definitions asked 3,800 times, most of its own time).
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def _check(owner: str, path: str, value: Any, hint: Any, problems: list[Problem]) -> None:
    expected = _fits(value, hint)
    if expected is not None:
        problems.append(Problem(owner, path, f"expected {expected}, got {_shown(value)}"))
        return
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        fitting = next(a for a in get_args(hint) if _fits(value, a) is None)
        _check(owner, path, value, fitting, problems)
    elif origin is tuple and isinstance(value, tuple):
        args = get_args(hint)
        each = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        for index, (item, item_hint) in enumerate(zip(value, each, strict=False)):
            _check(owner, f"{path}[{index}]", item, item_hint, problems)
    elif origin is not None and _is_mapping(origin) and isinstance(value, Mapping):
        key_hint, value_hint = get_args(hint) or (Any, Any)
        for key, item in value.items():
            _check(owner, f"{path}[{key!r}]", key, key_hint, problems)
            _check(owner, f"{path}[{key!r}]", item, value_hint, problems)
    else:
        _fields(owner, path, value, problems)


def _fits(value: Any, hint: Any) -> str | None:
    """``None`` when ``value`` fits ``hint`` at its top level, else what was expected."""
    if hint is Any:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if any(_fits(value, a) is None for a in options):
            return None
        return " or ".join(_name(a) for a in options)
    if origin is Literal:
        return None if value in get_args(hint) else " or ".join(map(repr, get_args(hint)))
    if origin is tuple:
        return None if isinstance(value, tuple) else "a tuple"
    if origin is not None and _is_mapping(origin):
        return None if isinstance(value, Mapping) else "a mapping"
    if hint is type(None):
        return None if value is None else "None"
    if hint is float:
        fits = isinstance(value, int | float) and not isinstance(value, bool)
        return None if fits else "float"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "int"
    if isinstance(hint, type):
        return None if isinstance(value, hint) else hint.__name__
    return None


def _is_mapping(origin: Any) -> bool:
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _name(hint: Any) -> str:
    if hint is type(None):
        return "None"
    if get_origin(hint) is tuple:
        return "a tuple"
    return getattr(hint, "__name__", str(hint))


def _shown(value: object) -> str:
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
