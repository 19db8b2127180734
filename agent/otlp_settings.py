"""What the agent reads from the standard OpenTelemetry variables: where and how to export
OTLP, and who it is (the resource). The agent's own settings, apart from a service's
``obs.init()`` ones, so one process reads one configuration system.

Example:
    >>> s = load_otlp({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    >>> s.endpoint, s.protocol, s.exports_otlp
    ('http://collector:4318', 'http/protobuf', True)
    >>> load_otlp({"OTEL_METRICS_EXPORTER": "none"}).exports_otlp
    False
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from opentelemetry.sdk.resources import Resource
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
)

from obs.export import resource
from obs.export.otel_env import check_endpoint, parse_list, parse_pairs


def _env(*names: str) -> Any:
    return AliasChoices(*names)


def _lowercase(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


class OtlpSettings(BaseModel):
    """The agent's OTLP export and resource, from ``OTEL_*`` (and Datadog's ``DD_*``
    unified service tags), read by :func:`load_otlp`."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=True,
    )

    service_name: str = Field("obs-agent", validation_alias=_env("OTEL_SERVICE_NAME", "DD_SERVICE"))
    service_version: str | None = Field(None, validation_alias=_env("DD_VERSION"))
    environment: str | None = Field(None, validation_alias=_env("DD_ENV"))
    resource_attributes: Annotated[dict[str, str], BeforeValidator(parse_pairs)] = Field(
        {}, validation_alias=_env("OTEL_RESOURCE_ATTRIBUTES")
    )
    sdk_disabled: bool = Field(False, validation_alias=_env("OTEL_SDK_DISABLED"))
    metrics_exporter: Annotated[
        list[Literal["otlp", "prometheus", "none"]], BeforeValidator(parse_list)
    ] = Field(["otlp"], validation_alias=_env("OTEL_METRICS_EXPORTER"))
    endpoint: Annotated[str, BeforeValidator(check_endpoint)] | None = Field(
        None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    protocol: Literal["grpc", "http/protobuf"] = Field(
        "http/protobuf",
        validation_alias=_env("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
    )
    headers: Annotated[dict[str, SecretStr], BeforeValidator(parse_pairs)] = Field(
        {}, validation_alias=_env("OTEL_EXPORTER_OTLP_HEADERS")
    )
    # The OpenTelemetry specification's values, case-insensitive: delta for Datadog's OTLP
    # intake, cumulative (the default) for a Collector or Prometheus-style consumer.
    temporality: Annotated[
        Literal["cumulative", "delta", "lowmemory"], BeforeValidator(_lowercase)
    ] = Field(
        "cumulative", validation_alias=_env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
    )

    @property
    def exports_otlp(self) -> bool:
        """Whether the agent exports OTLP at all (``/metrics`` is served either way)."""
        return not self.sdk_disabled and "otlp" in self.metrics_exporter

    def resource(self) -> Resource:
        """The agent's OpenTelemetry resource."""
        return Resource.create(
            resource.attributes(
                service_name=self.service_name,
                service_version=self.service_version,
                environment=self.environment,
                extra=self.resource_attributes,
            )
        )

    @property
    def delta_counters(self) -> bool:
        """Counters as per-interval increments. The agent's counters are observed totals
        (asynchronous counters), which only ``delta`` turns to deltas; ``lowmemory`` keeps
        them cumulative (OpenTelemetry's temporality preferences)."""
        return self.temporality == "delta"

    @property
    def delta_histograms(self) -> bool:
        """Histograms as per-interval distributions (``delta`` and ``lowmemory``)."""
        return self.temporality in ("delta", "lowmemory")

    def plain_headers(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.headers.items()}


# Values of these may hold credentials (a URL's password, an API key): never echoed.
_SECRET = {"endpoint", "headers"}


def load_otlp(environ: Mapping[str, str] | None = None) -> OtlpSettings:
    """The OTLP settings in ``environ`` (default: the process's); raises ``ValueError``
    naming each bad variable, without echoing a value that may be a secret."""
    env = dict(os.environ if environ is None else environ)
    fields = OtlpSettings.model_fields
    values: dict[str, Any] = {}
    for name, field in fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        for var in alias.choices:
            if isinstance(var, str) and var in env:
                values[name] = env[var]
                break
    try:
        return OtlpSettings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            alias = fields[name].validation_alias if name in fields else None
            choices = alias.choices if isinstance(alias, AliasChoices) else [name]
            var = next((v for v in choices if isinstance(v, str) and v in env), name)
            reason = str(error["msg"]).removeprefix("Value error, ")
            if name not in _SECRET and isinstance(error.get("input"), str):
                reason = f"{reason} (got {error['input']!r})"
            problems.append(f"{var}: {reason}")
        raise ValueError("\n  ".join(problems)) from None
