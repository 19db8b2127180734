"""The OpenTelemetry environment's value formats and OTLP exporter arguments, read the same
way by a service's ``obs.init()`` and by the agent.

Example:
    >>> parse_pairs("kpi:=kpi, lb:=leaderboard")
    {'kpi:': 'kpi', 'lb:': 'leaderboard'}
    >>> exporter_kwargs("http://collector:4318", "http/protobuf", {}, "metrics", environ={})
    {'endpoint': 'http://collector:4318/v1/metrics'}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

Protocol = str  # "grpc" or "http/protobuf"


class GrpcMissing(RuntimeError):
    """OTLP over gRPC was asked for, and its exporter is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "OTLP over gRPC needs the grpc extra (pip install 'obs[grpc]'); or export over "
            "HTTP: OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
        )


def parse_pairs(value: object) -> object:
    """Parse ``k=v,k2=v2`` (the OTel list format, percent-decoded) into a dict.

    Example:
        >>> parse_pairs("team=core,region=eu%2Dwest")
        {'team': 'core', 'region': 'eu-west'}
    """
    if not isinstance(value, str):
        return value
    pairs: dict[str, str] = {}
    for number, item in enumerate(value.split(","), 1):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            # The position, not the text: the value may be a secret (OTLP headers).
            raise ValueError(f"item {number} is not key=value (items are separated by commas)")
        pairs[unquote(key.strip())] = unquote(val.strip())
    return pairs


def parse_list(value: object) -> object:
    """Parse ``a, b,c`` into ``['a', 'b', 'c']``.

    Example:
        >>> parse_list(" otlp, prometheus")
        ['otlp', 'prometheus']
    """
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def check_endpoint(value: object) -> object:
    """An OTLP endpoint must be an http(s) URL with a host and, if any, a numeric port."""
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        if parts.port is None and ":" in parts.netloc.rsplit("@", 1)[-1].strip("[]"):
            raise ValueError("the port is not a number")
    return value


def exporter_kwargs(
    endpoint: str | None,
    protocol: Protocol,
    headers: Mapping[str, str],
    signal: str,
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The OTLP exporter arguments for ``signal`` ("traces" or "metrics"); the exporters read
    everything else (timeout, compression, TLS) from the environment themselves."""
    kwargs: dict[str, Any] = {}
    if headers:
        kwargs["headers"] = dict(headers)
    # A signal-specific endpoint variable is more precise than the generic one: leave it
    # to the exporter, which reads it itself.
    specific = f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
    if endpoint and specific not in (os.environ if environ is None else environ):
        if protocol == "http/protobuf":
            endpoint = endpoint.rstrip("/") + f"/v1/{signal}"
        kwargs["endpoint"] = endpoint
    return kwargs
