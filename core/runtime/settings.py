"""obs's settings: its own ``OBS_*`` variables plus the standard ones users already set.

Precedence, highest first: keyword arguments to ``obs.init()``, then the environment.
A bad value never takes the service down: :func:`load` drops it, reports it as a
:class:`Problem` naming the variable and the reason, and the feature it belongs to is
turned off. ``strict=True`` raises :class:`SettingsError` instead.

Example:
    >>> s, problems = load({"service_name": "api", "mongo_skip_threshold": 500})
    >>> (s.service_name, s.mongo_skip_threshold, problems)
    ('api', 500, ())
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from obs.export.otel_env import check_endpoint, parse_list, parse_pairs
from obs.privacy.scrub import scrub_text

# A setting names the features (obs.lifecycle.features, by name) that a bad value of it
# turns off; EVERY_FEATURE stands for all of them.
EVERY_FEATURE = "*"
_OTLP = ("traces", "metrics")


def _check_dsn(value: object) -> object:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(raw, str) and raw:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname:
            raise ValueError("expected a Sentry DSN like https://<key>@<host>/<project>")
        if not parts.path.strip("/"):
            raise ValueError("the DSN has no project id")
    return value


Pairs = Annotated[dict[str, str], NoDecode, BeforeValidator(parse_pairs)]
Names = Annotated[list[str], NoDecode, BeforeValidator(parse_list)]
Endpoint = Annotated[str, BeforeValidator(check_endpoint)]
Dsn = Annotated[SecretStr, BeforeValidator(_check_dsn)]
MetricsExporter = Literal["otlp", "prometheus", "none"]
Sampler = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]


def _setting(
    default: Any,
    description: str,
    *,
    env: tuple[str, ...],
    features: tuple[str, ...] = (),
    secret: bool = False,
    **constraints: Any,
) -> Any:
    """Declare one setting: its environment variables (first wins), the features a bad
    value turns off (none: the value is only ignored), and whether it is a secret."""
    return Field(
        default,
        description=description,
        validation_alias=AliasChoices(*env),
        json_schema_extra={
            "env": list(env),
            "features": list(features),
            "secret": secret,
        },
        **constraints,
    )


class Settings(BaseSettings):
    """Every setting obs reads. Field names are the keyword arguments of ``obs.init()``."""

    model_config = SettingsConfigDict(
        validate_by_name=True, validate_by_alias=True, extra="forbid", frozen=True
    )

    enabled: bool = _setting(
        True,
        "Master switch: false turns every part of obs off.",
        env=("OBS_ENABLED",),
        features=(EVERY_FEATURE,),
    )
    service_name: str | None = _setting(
        None,
        "service.name of this process; defaults to `unknown_service`.",
        env=("OTEL_SERVICE_NAME", "DD_SERVICE"),
    )
    service_version: str | None = _setting(
        None,
        "service.version (and Sentry's release unless SENTRY_RELEASE is set).",
        env=("OBS_SERVICE_VERSION", "DD_VERSION"),
    )
    environment: str | None = _setting(
        None,
        "deployment.environment.name (and Sentry's environment).",
        env=("OBS_ENVIRONMENT", "DD_ENV"),
    )
    resource_attributes: Pairs = _setting(
        {},
        "Extra resource attributes, `key=value,...`.",
        env=("OTEL_RESOURCE_ATTRIBUTES",),
    )
    sdk_disabled: bool = _setting(
        False,
        "The OpenTelemetry switch: true turns traces and metrics off.",
        env=("OTEL_SDK_DISABLED",),
        features=_OTLP,
    )
    traces: bool = _setting(
        True,
        "Create spans (one per Mongo command, plus installed instrumentations).",
        env=("OBS_TRACES",),
        features=("traces",),
    )
    metrics: bool = _setting(
        True,
        "Record metrics.",
        env=("OBS_METRICS",),
        features=("metrics",),
    )
    traces_exporter: Literal["otlp", "none"] = _setting(
        "otlp",
        "`otlp`, or `none` to turn traces off.",
        env=("OTEL_TRACES_EXPORTER",),
        features=("traces",),
    )
    metrics_exporter: Annotated[list[MetricsExporter], NoDecode, BeforeValidator(parse_list)] = (
        _setting(
            ["otlp"],
            "`otlp`, `prometheus` (a /metrics endpoint in the service), both (`otlp,prometheus`), "
            "or `none` to turn metrics off.",
            env=("OTEL_METRICS_EXPORTER",),
            features=("metrics",),
        )
    )
    prometheus_host: str = _setting(
        "localhost",
        "Address the Prometheus endpoint listens on (with `OTEL_METRICS_EXPORTER=prometheus`).",
        env=("OTEL_EXPORTER_PROMETHEUS_HOST",),
        features=("metrics",),
    )
    prometheus_port: int = _setting(
        9464,
        "Port of the Prometheus endpoint; 0 picks a free one (`obs.status()` shows it).",
        env=("OTEL_EXPORTER_PROMETHEUS_PORT",),
        features=("metrics",),
        ge=0,
        le=65535,
    )
    otlp_endpoint: Endpoint | None = _setting(
        None,
        "OTLP endpoint; default http://localhost:4318 (http/protobuf) or :4317 (grpc). "
        "Signal-specific OTEL_EXPORTER_OTLP_*_ENDPOINT variables still apply.",
        env=("OTEL_EXPORTER_OTLP_ENDPOINT",),
        features=_OTLP,
    )
    otlp_protocol: Literal["grpc", "http/protobuf"] = _setting(
        "http/protobuf",
        "`http/protobuf` (the OpenTelemetry default) or `grpc` (needs `obs[grpc]`).",
        env=("OTEL_EXPORTER_OTLP_PROTOCOL",),
        features=_OTLP,
    )
    otlp_headers: Annotated[dict[str, SecretStr], NoDecode, BeforeValidator(parse_pairs)] = (
        _setting(
            {},
            "Headers sent with every export, `key=value,...` (never logged).",
            env=("OTEL_EXPORTER_OTLP_HEADERS",),
            features=_OTLP,
            secret=True,
        )
    )
    exit_timeout: float = _setting(
        5.0,
        "Seconds interpreter exit waits at most for telemetry still to be sent "
        "(`obs.flush()` and `obs.shutdown()` take a timeout of their own).",
        env=("OBS_EXIT_TIMEOUT",),
        ge=0.0,
        le=600.0,
        allow_inf_nan=False,
    )
    traces_sampler: Sampler = _setting(
        "parentbased_always_on",
        "Sampler name, as in the OTel specification.",
        env=("OTEL_TRACES_SAMPLER",),
        features=("traces",),
    )
    traces_sampler_arg: float = _setting(
        1.0,
        "Sampling ratio for the `*traceidratio` samplers, 0 to 1.",
        env=("OTEL_TRACES_SAMPLER_ARG",),
        features=("traces",),
        ge=0.0,
        le=1.0,
    )
    exception_detail: Literal["scrubbed", "type"] = _setting(
        "scrubbed",
        "What a span records of an exception: `scrubbed` (type, message and stack trace with "
        "secrets and echoed query values masked) or `type` (the type only).",
        env=("OBS_EXCEPTION_DETAIL",),
    )
    sentry_dsn: Dsn | None = _setting(
        None,
        "Sentry DSN; Sentry stays off without one (never logged).",
        env=("SENTRY_DSN",),
        features=("sentry",),
        secret=True,
    )
    sentry_environment: str | None = _setting(
        None,
        "Sentry environment; defaults to `environment`.",
        env=("SENTRY_ENVIRONMENT",),
    )
    sentry_release: str | None = _setting(
        None,
        "Sentry release; defaults to `service_version`.",
        env=("SENTRY_RELEASE",),
    )
    mongo: bool = _setting(
        True,
        "Instrument pymongo (commands, pool, query smells).",
        env=("OBS_MONGO",),
        features=("pymongo",),
    )
    mongo_statement: Literal["masked", "off"] = _setting(
        "masked",
        "`db.query.text` on Mongo spans: `masked` (values become `?`) or `off`.",
        env=("OBS_MONGO_STATEMENT",),
        features=("pymongo",),
    )
    mongo_pool: bool = _setting(
        True,
        "Pool gauges (connections in use and idle, pending checkouts, size limit), read off "
        "the pools when metrics are collected: no cost per command.",
        env=("OBS_MONGO_POOL",),
        features=("pymongo",),
    )
    mongo_pool_timings: bool = _setting(
        False,
        "Pool timings too (checkout wait time, connection create time, checkout timeouts), "
        "from pymongo's pool events: pymongo then builds three events per command.",
        env=("OBS_MONGO_POOL_TIMINGS",),
        features=("pymongo",),
    )
    mongo_skip_threshold: int = _setting(
        1000,
        "A `skip` at or above this counts as the `large_skip` query smell.",
        env=("OBS_MONGO_SKIP_THRESHOLD",),
        features=("pymongo",),
        ge=1,
    )
    redis: bool = _setting(
        True,
        "Count redis-py reads of cache keys as cache hits and misses.",
        env=("OBS_REDIS",),
        features=("redis",),
    )
    cache_prefixes: Pairs = _setting(
        {},
        "Key prefixes that are caches, `prefix=name,...`, e.g. `kpi:=kpi,lb:=leaderboard`.",
        env=("OBS_CACHE_PREFIXES",),
        features=("redis",),
    )
    jobs: bool = _setting(
        True,
        "Instrument the Python `bullmq` Worker when it is installed.",
        env=("OBS_JOBS",),
        features=("jobs",),
    )
    instrumentations: bool = _setting(
        True,
        "Enable the OpenTelemetry instrumentations installed in the environment "
        "(except pymongo's, which obs replaces).",
        env=("OBS_INSTRUMENTATIONS",),
        features=("instrumentations",),
    )
    disabled_instrumentations: Names = _setting(
        [],
        "Entry-point names of instrumentations to leave off, e.g. `flask,requests`.",
        env=("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",),
        features=("instrumentations",),
    )

    guard: bool = _setting(
        False,
        "Turn `obs.guard()` on: adaptive concurrency limits, circuit breakers and per-client "
        "rate limits (docs/guard.md). Off, a guarded call runs unguarded.",
        env=("OBS_GUARD",),
        features=("guard",),
    )
    guard_limit_initial: int = _setting(
        20,
        "Concurrency limit each guard starts from.",
        env=("OBS_GUARD_LIMIT_INITIAL",),
        features=("guard",),
        ge=1,
    )
    guard_limit_min: int = _setting(
        1,
        "Lowest concurrency limit a guard adapts down to.",
        env=("OBS_GUARD_LIMIT_MIN",),
        features=("guard",),
        ge=1,
    )
    guard_limit_max: int = _setting(
        200,
        "Highest concurrency limit a guard adapts up to.",
        env=("OBS_GUARD_LIMIT_MAX",),
        features=("guard",),
        ge=1,
    )
    guard_queue_timeout: float = _setting(
        0.05,
        "Seconds a call over the limit waits for a slot before it is rejected (low priority "
        "never waits).",
        env=("OBS_GUARD_QUEUE_TIMEOUT",),
        features=("guard",),
        ge=0.0,
        le=60.0,
        allow_inf_nan=False,
    )
    guard_error_ratio: float = _setting(
        0.5,
        "Share of failed calls (Mongo unreachable or timing out) over the window that opens "
        "a guard's breaker.",
        env=("OBS_GUARD_ERROR_RATIO",),
        features=("guard",),
        gt=0.0,
        le=1.0,
    )
    guard_window: float = _setting(
        10.0,
        "Seconds of outcomes the breaker judges.",
        env=("OBS_GUARD_WINDOW",),
        features=("guard",),
        gt=0.0,
        le=3600.0,
        allow_inf_nan=False,
    )
    guard_min_calls: int = _setting(
        20,
        "Calls in the window before the error ratio can open the breaker.",
        env=("OBS_GUARD_MIN_CALLS",),
        features=("guard",),
        ge=1,
    )
    guard_open_seconds: float = _setting(
        5.0,
        "Seconds an open breaker rejects every call before it lets probes through.",
        env=("OBS_GUARD_OPEN_SECONDS",),
        features=("guard",),
        gt=0.0,
        le=3600.0,
        allow_inf_nan=False,
    )
    guard_probes: int = _setting(
        3,
        "Calls a half-open breaker lets through at a time; as many successes close it.",
        env=("OBS_GUARD_PROBES",),
        features=("guard",),
        ge=1,
    )
    guard_pool_pending: int = _setting(
        20,
        "Checkouts waiting for a Mongo connection (obs's pool metrics) at which the pool "
        "counts as saturated; saturated half of the window, the breaker opens. 0: off.",
        env=("OBS_GUARD_POOL_PENDING",),
        features=("guard",),
        ge=0,
    )
    guard_client_rate: float = _setting(
        0.0,
        "Calls a second each client (`obs.guard(..., client=key)`) may make; 0: no "
        "per-client limit.",
        env=("OBS_GUARD_CLIENT_RATE",),
        features=("guard",),
        ge=0.0,
        allow_inf_nan=False,
    )
    guard_client_burst: int = _setting(
        0,
        "Calls a client may make at once above its rate; 0: twice the rate.",
        env=("OBS_GUARD_CLIENT_BURST",),
        features=("guard",),
        ge=0,
    )
    guard_redis_url: SecretStr | None = _setting(
        None,
        "Redis URL for client budgets shared by every process (`redis://host:6379/0`, needs "
        "redis-py); unset: each process keeps its own (never logged).",
        env=("OBS_GUARD_REDIS_URL",),
        features=("guard",),
        secret=True,
    )
    guard_client_salt: SecretStr | None = _setting(
        None,
        "Key of the hash that stands for a client in telemetry and Redis keys; unset: a "
        "random key per process in telemetry, none in Redis keys (never logged).",
        env=("OBS_GUARD_CLIENT_SALT",),
        features=("guard",),
        secret=True,
    )


# --- tolerant loading -----------------------------------------------------------------


def _extra(name: str) -> dict[str, Any]:
    extra = Settings.model_fields[name].json_schema_extra
    assert isinstance(extra, dict)
    return extra


# Every spelling of a field (name or any of its variables) -> the field's name.
_FIELD_OF: dict[str, str] = {
    spelling: name for name in Settings.model_fields for spelling in (name, *_extra(name)["env"])
}


def env_names(field: str) -> list[str]:
    """The environment variables that set ``field``, first wins."""
    return list(_extra(field)["env"])


def features_of(field: str) -> tuple[str, ...]:
    """The names of the features a bad value of ``field`` turns off."""
    return tuple(_extra(field)["features"])


def is_secret(field: str) -> bool:
    return bool(_extra(field)["secret"])


@dataclass(frozen=True)
class Problem:
    """One setting that could not be used, and what that costs."""

    setting: str  # the variable or keyword argument as the user wrote it
    reason: str
    features: tuple[str, ...]  # names of the features it turns off

    def turns_off(self, feature: str) -> bool:
        return feature in self.features or EVERY_FEATURE in self.features

    def __str__(self) -> str:
        if self.features:
            off = "every feature" if EVERY_FEATURE in self.features else ", ".join(self.features)
            return f"{self.setting}: {self.reason}; turned off: {off}"
        return f"{self.setting}: {self.reason}; ignored"


class SettingsError(ValueError):
    """Raised by ``obs.init(strict=True)`` when a setting is invalid."""

    def __init__(self, problems: tuple[Problem, ...]):
        self.problems = problems
        super().__init__("invalid obs settings:\n  " + "\n  ".join(str(p) for p in problems))


def _where(field: str, overrides: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    if field in overrides:
        return f"obs.init({field}=...)"
    upper = {k.upper() for k in environ}
    for var in env_names(field):
        if var in upper:
            return var
    return field


def _problem(error: Any, overrides: Mapping[str, Any], environ: Mapping[str, str]) -> Problem:
    spelling = str(error["loc"][0]) if error["loc"] else "?"
    field = _FIELD_OF.get(spelling)
    if field is None:
        close = difflib.get_close_matches(spelling, list(Settings.model_fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return Problem(f"obs.init({spelling}=...)", f"not an obs setting{hint}", ())
    reason = str(error["msg"]).removeprefix("Value error, ")
    if not is_secret(field) and isinstance(error.get("input"), str | int | float):
        # Not a secret setting, but a URL in it may still carry a password.
        reason = f"{reason} (got {scrub_text(repr(error['input']))})"
    return Problem(_where(field, overrides, environ), reason, features_of(field))


# Variables read by obs's commands rather than by obs.init().
_COMMAND_PREFIXES = (
    "OBS_AGENT_",
    "OBS_DATADOG_",
    "OBS_PROVISION_",
    "OBS_INDEX_",
    "OBS_DEMO_",
    "OBS_PREVIEW_",
)


def _unknown_obs_variables(environ: Mapping[str, str]) -> list[Problem]:
    # A typo in an OBS_ variable would otherwise be silently ignored.
    known = sorted({var for name in Settings.model_fields for var in env_names(name)})
    problems = []
    for var in environ:
        upper = var.upper()
        if (
            upper.startswith("OBS_")
            and upper not in known
            and not upper.startswith(_COMMAND_PREFIXES)
        ):
            close = difflib.get_close_matches(upper, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(Problem(var, f"not an obs setting{hint}", ()))
    return problems


def load(
    overrides: Mapping[str, Any] | None = None, *, strict: bool = False
) -> tuple[Settings, tuple[Problem, ...]]:
    """Read the settings; bad values are dropped and reported, or raised when ``strict``.

    Example:
        >>> s, problems = load({"mongo_skip_threshold": 0})
        >>> print(problems[0])
        obs.init(mongo_skip_threshold=...): Input should be greater than or equal to 1 \
(got 0); turned off: pymongo
    """
    overrides = dict(overrides or {})
    problems: list[Problem] = _unknown_obs_variables(os.environ)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        bad: set[str] = set()
        for error in exc.errors():
            problems.append(_problem(error, overrides, os.environ))
            spelling = str(error["loc"][0]) if error["loc"] else ""
            bad.add(_FIELD_OF.get(spelling, spelling))
        # Keyword arguments beat the environment, so passing a bad field's default as one
        # replaces the bad value wherever it came from.
        kept = {k: v for k, v in overrides.items() if k not in bad}
        defaults = {f: Settings.model_fields[f].get_default() for f in bad if f in _FIELD_OF}
        settings = Settings(**kept, **defaults)
    if strict and problems:
        raise SettingsError(tuple(problems))
    return settings, tuple(problems)
