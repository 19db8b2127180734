"""Ids an object needs before they exist: a burn-rate alert's query names its SLO's id.

A definition refers to its SLO by key; the rendered query holds ``obs-slo:<key>`` where
Datadog expects the id. Once the SLO is live (read by plan, or created earlier in the same
apply) the placeholder becomes its id. A body still holding one is not sent anywhere: not
to Datadog's validation, not as a write.

Example:
    >>> body = {"query": f'burn_rate("{slo_placeholder("orders.success")}").over("30d") > 1'}
    >>> pending(body)
    ['orders.success']
    >>> resolve(body, {"orders.success": "c2ce7fb6030c5c0b8035d1ce94dec12c"})["query"]
    'burn_rate("c2ce7fb6030c5c0b8035d1ce94dec12c").over("30d") > 1'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PREFIX = "obs-slo:"
_PLACEHOLDER = re.compile(rf'"{PREFIX}([a-z0-9][a-z0-9._-]*)"')


def slo_placeholder(key: str) -> str:
    """What stands for the id of the SLO defined as ``key`` until it is known."""
    return f"{PREFIX}{key}"


def pending(body: Mapping[str, Any]) -> list[str]:
    """The keys of the SLOs whose ids ``body`` still waits for."""
    query = body.get("query")
    return _PLACEHOLDER.findall(query) if isinstance(query, str) else []


def resolve(body: Mapping[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """``body`` with the placeholder of every SLO in ``ids`` replaced by its id."""
    query = body.get("query")
    if not isinstance(query, str):
        return dict(body)

    def swap(found: re.Match[str]) -> str:
        ident = ids.get(found[1])
        return found[0] if ident is None else f'"{ident}"'

    return {**body, "query": _PLACEHOLDER.sub(swap, query)}
