"""The agent's configuration: ``OBS_AGENT_*`` variables, an optional TOML or YAML file and
command-line flags, highest first: flags, then the environment, then the file.

Anything wrong fails at start with one :class:`ConfigError` that names each bad field
where the user wrote it (the flag, the variable, or the file and key), never echoing a
URI, since URIs carry passwords.

Example:
    >>> c = load(flags={"redis": ["redis://cache:6379/0"]}, environ={})
    >>> c.redis[0].label, c.schedule(Collector.BULLMQ)
    ('redis://cache:6379/0', Schedule(interval=15.0, timeout=10.0))
    >>> try:
    ...     load(flags={}, environ={"OBS_AGENT_MONGO_STATUS__INTERVAL": "1",
    ...                             "OBS_AGENT_MONGO": "mongodb://db"})
    ... except ConfigError as exc:
    ...     print(exc)
    bad agent configuration:
      OBS_AGENT_MONGO_STATUS__INTERVAL: serverStatus runs at most every 10 s (got 1.0)
"""

from __future__ import annotations

import difflib
import enum
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from obs.agent.targets import MongoTarget, RedisTarget
from obs.export.otel_env import parse_list

ENV_PREFIX = "OBS_AGENT_"


class Collector(enum.StrEnum):
    """Every collector; each runs on its own schedule, per target."""

    MONGO_STATUS = "mongo_status"
    MONGO_CURRENTOP = "mongo_currentop"
    MONGO_PROFILE = "mongo_profile"
    MONGO_STATS = "mongo_stats"
    REDIS_INFO = "redis_info"
    BULLMQ = "bullmq"
    PROCESS = "process"


@dataclass(frozen=True)
class Schedule:
    """How often a collector runs and how long one collection may take, in seconds."""

    interval: float
    timeout: float


DEFAULT_SCHEDULES = {
    Collector.MONGO_STATUS: Schedule(15.0, 5.0),
    Collector.MONGO_CURRENTOP: Schedule(15.0, 5.0),
    Collector.MONGO_PROFILE: Schedule(15.0, 10.0),
    Collector.MONGO_STATS: Schedule(300.0, 30.0),
    Collector.REDIS_INFO: Schedule(15.0, 5.0),
    Collector.BULLMQ: Schedule(15.0, 10.0),
    Collector.PROCESS: Schedule(15.0, 1.0),
}
# obs's promise to the watched servers: serverStatus no more often than every 10 s,
# collStats / $indexStats no more often than every 5 minutes.
MINIMUM_INTERVALS = {
    Collector.MONGO_STATUS: (10.0, "serverStatus runs at most every 10 s"),
    Collector.MONGO_STATS: (300.0, "collStats and $indexStats run at most every 300 s"),
}


DEFAULT_LISTEN = "0.0.0.0:9465"


def listen_address(listen: str) -> tuple[str, int] | None:
    """(host, port) of a ``listen`` value, or None when it is empty (endpoints off).

    Example:
        >>> listen_address(":9465"), listen_address("[::]:9000"), listen_address("")
        (('0.0.0.0', 9465), ('::', 9000), None)
    """
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class ConfigError(ValueError):
    """The configuration cannot be used; the message names every bad field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("bad agent configuration:\n  " + "\n  ".join(problems))


def _split_uris(value: object) -> object:
    """A variable holds URIs separated by whitespace, or a JSON list (URIs may hold commas)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return text.split()
        try:
            return json.loads(text)
        except RecursionError:
            raise ValueError("a JSON list nested too deeply") from None
    return value


DAY = 86_400.0
# Seconds as settings take them: finite, and within bounds that keep a watched server from
# being hammered (an interval of 1e-300) and a collector from never running (inf).
Interval = Annotated[float, Field(ge=0.1, le=DAY, allow_inf_nan=False)]
Timeout = Annotated[float, Field(ge=0.01, le=3600.0, allow_inf_nan=False)]


class ScheduleOverride(BaseModel):
    """``interval`` (0.1 s to a day) and ``timeout`` (0.01 s to an hour) of one collector,
    in seconds; unset keeps the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: Interval | None = None
    timeout: Timeout | None = None


def _schedule(what: str) -> Any:
    # Typed Any (like obs.runtime.settings' fields) so that mypy, without pydantic's plugin,
    # does not take the field for a required constructor argument.
    return Field(ScheduleOverride.model_construct(), description=f"Schedule of {what}")


Names = Annotated[list[str], BeforeValidator(parse_list)]


class AgentConfig(BaseModel):
    """Everything ``obs agent`` reads. Field names are the file's keys; each variable is
    ``OBS_AGENT_`` + the upper-cased name (``__`` reaches into a collector's schedule)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )

    mongo: Annotated[list[MongoTarget], BeforeValidator(_split_uris)] = Field(
        [], description="MongoDB URIs to watch (a variable: separated by spaces)."
    )
    redis: Annotated[list[RedisTarget], BeforeValidator(_split_uris)] = Field(
        [],
        description="Redis URLs to watch: INFO and BullMQ queues (separated by spaces); "
        "`redis+cluster://` (or `rediss+cluster://`) and any node for a Redis Cluster.",
    )
    bullmq_prefixes: Names = Field(
        ["bull"],
        description="BullMQ key prefixes, comma-separated (on a Redis Cluster BullMQ needs "
        "`{name}` hash-tag prefixes).",
    )
    bullmq_queues: Names = Field(
        [], description="A static list of queue names; empty: discover with SCAN."
    )
    bullmq_discovery_interval: Interval = Field(
        60.0, description="Seconds between SCANs for new or removed queues."
    )
    mongo_status: ScheduleOverride = _schedule("serverStatus (interval at least 10 s).")
    mongo_currentop: ScheduleOverride = _schedule("currentOp.")
    mongo_profile: ScheduleOverride = _schedule("the system.profile reader.")
    mongo_stats: ScheduleOverride = _schedule("collStats / $indexStats (interval at least 300 s).")
    redis_info: ScheduleOverride = _schedule("Redis INFO.")
    bullmq: ScheduleOverride = _schedule("BullMQ queues.")
    process: ScheduleOverride = _schedule("the agent's own RSS and CPU.")
    slow_operation_seconds: float = Field(
        1.0,
        gt=0,
        le=DAY,
        allow_inf_nan=False,
        description="currentOp reports operations running longer than this.",
    )
    profile_batch: int = Field(
        1000, ge=1, description="At most this many system.profile entries per database per run."
    )
    explains_per_minute: int = Field(
        6,
        ge=0,
        description="Plan lookups (explain, queryPlanner only) per target per minute for "
        "profiled operations without planSummary; 0 turns them off.",
    )
    max_collections: int = Field(
        1000, ge=1, description="At most this many collections per target get collStats."
    )
    mongo_profiler_level: int | None = Field(
        None,
        ge=0,
        le=2,
        description="Set this profiling level on every watched database at start. The only "
        "setting that writes to a watched server; unset (the default) changes nothing.",
    )
    mongo_profiler_slowms: int = Field(
        100, ge=0, description="slowms sent with mongo_profiler_level."
    )
    listen: str = Field(
        DEFAULT_LISTEN,
        description="host:port of /metrics, /healthz and /readyz (`[::]:9465` for IPv6, "
        "`:9465` for every IPv4 address); empty turns them off.",
    )
    export_interval: Interval = Field(15.0, description="Seconds between OTLP exports.")
    backoff_max: Interval = Field(
        300.0, description="Longest wait between retries of a failing collector."
    )

    def schedule(self, collector: Collector) -> Schedule:
        """The effective schedule of ``collector``."""
        override: ScheduleOverride = getattr(self, collector.value)
        default = DEFAULT_SCHEDULES[collector]
        return Schedule(
            interval=override.interval or default.interval,
            timeout=override.timeout or default.timeout,
        )

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """(host, port) of the HTTP endpoints, or None when they are off."""
        return listen_address(self.listen)

    def prefixes_for(self, target: RedisTarget) -> list[str]:
        return (
            target.bullmq_prefixes if target.bullmq_prefixes is not None else self.bullmq_prefixes
        )

    def queues_for(self, target: RedisTarget) -> list[str]:
        return target.queues or self.bullmq_queues


_NESTED = "__"
# Fields whose variable may hold JSON (a schedule: OBS_AGENT_BULLMQ='{"interval": 20}');
# the lists take their own text format (URIs separated by spaces, names by commas).
_JSON_FIELDS = frozenset(
    name for name, field in AgentConfig.model_fields.items() if field.annotation is ScheduleOverride
)
_LIST_FIELDS = frozenset(
    name
    for name, field in AgentConfig.model_fields.items()
    if getattr(field.annotation, "__origin__", None) is list
)


def _environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The settings in ``OBS_AGENT_*`` variables (names in any case), as a settings file
    would hold them: ``OBS_AGENT_BULLMQ__INTERVAL=20`` is ``{"bullmq": {"interval": "20"}}``.
    Also the problems of variables whose JSON cannot be read."""
    variables = {k.lower(): v for k, v in environ.items()}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name in AgentConfig.model_fields:
        variable = (ENV_PREFIX + name).lower()
        nested = _nested(variables, variable + _NESTED)
        value: Any = variables.get(variable)
        if value is not None and name in _JSON_FIELDS:
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                original = next(k for k in environ if k.lower() == variable)
                problems.append(f"{original}: not valid JSON (a schedule is an object)")
                continue
            if isinstance(value, dict):
                value = _merged(value, nested)
        elif value is None and nested and (name in _JSON_FIELDS or name in _LIST_FIELDS):
            value = nested
        if value is not None:
            values[name] = value
    return values, problems


def _nested(variables: Mapping[str, str], head: str) -> dict[str, Any]:
    """``head`` + ``a__b`` = v as ``{"a": {"b": v}}``, for every such variable."""
    out: dict[str, Any] = {}
    for variable, value in variables.items():
        if variable.startswith(head):
            *keys, last = variable[len(head) :].split(_NESTED)
            into = out
            for key in keys:
                into = into.setdefault(key, {})
                if not isinstance(into, dict):
                    break
            else:
                into[last] = value
    return out


def _merged(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """``low`` updated with ``high``, dictionaries merged key by key (a file's schedule
    keeps its timeout when a variable sets its interval)."""
    out = dict(low)
    for key, value in high.items():
        below = out.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            out[key] = _merged(below, value)
        else:
            out[key] = value
    return out


def read_file(path: Path) -> dict[str, Any]:
    """The mapping in a TOML or YAML config file."""
    where = f"--config {path}"
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError([f"{where}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{where}: not UTF-8 text (byte {exc.start})"]) from None
    parse: Callable[[str], Any]
    invalid: type[Exception]
    if path.suffix == ".toml":
        parse, invalid = tomllib.loads, tomllib.TOMLDecodeError
    elif path.suffix in (".yaml", ".yml"):
        # Imported for a YAML file only: PyYAML is ~3 MiB the agent would hold for its life.
        import yaml

        parse, invalid = (lambda text: yaml.safe_load(text) or {}), yaml.YAMLError
    else:
        raise ConfigError([f"{where}: expected a .toml, .yaml or .yml file"])
    try:
        data = parse(text)
    except invalid as exc:
        raise ConfigError([f"{where}: not valid {path.suffix[1:].upper()}: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{where}: nested too deeply to be settings"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{where}: expected a mapping of settings at the top"])
    return data


def _env_names(environ: Mapping[str, str]) -> dict[str, str]:
    return {k.upper(): k for k in environ if k.upper().startswith(ENV_PREFIX)}


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    known = set()
    for name, field in AgentConfig.model_fields.items():
        known.add(ENV_PREFIX + name.upper())
        if field.annotation is ScheduleOverride:
            known |= {f"{ENV_PREFIX}{name.upper()}__{k.upper()}" for k in ("interval", "timeout")}
    problems = []
    for upper, original in _env_names(environ).items():
        if upper not in known:
            close = difflib.get_close_matches(upper, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{original}: not an agent setting{hint}")
    return problems


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Settings whose command-line flag is not the field's name (repeatable flags are singular).
_FLAGS = {"bullmq_prefixes": "--bullmq-prefix"}


def _where(
    loc: tuple[Any, ...],
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    file: Path | None,
    file_values: Mapping[str, Any],
) -> str:
    field = str(loc[0]) if loc else ""
    if field in flags:
        return _FLAGS.get(field, "--" + field.replace("_", "-"))
    present = _env_names(environ)
    if len(loc) > 1 and isinstance(loc[1], str):
        nested = f"{ENV_PREFIX}{field.upper()}__{loc[1].upper()}"
        if nested in present:
            return present[nested]
    if ENV_PREFIX + field.upper() in present:
        return present[ENV_PREFIX + field.upper()]
    if file is not None and field in file_values:
        return f"{file}: {_dotted(loc)}"
    return _dotted(loc)


_ECHO_MAX = 60  # characters of a bad value echoed back


def _describe(error: Any) -> str:
    reason = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    # Inputs are echoed to help, except anything that may be a URI (and so hold a password).
    if isinstance(value, str | int | float) and "://" not in str(value):
        shown = json.dumps(value) if isinstance(value, str) else str(value)
        if len(shown) > _ECHO_MAX:
            shown = shown[: _ECHO_MAX - 1] + "…"
        reason = f"{reason} (got {shown})"
    return reason


def _check_intervals(config: AgentConfig) -> list[tuple[Collector, str]]:
    problems = []
    for collector, (minimum, rule) in MINIMUM_INTERVALS.items():
        interval = config.schedule(collector).interval
        if interval < minimum:
            problems.append((collector, f"{rule} (got {interval})"))
    return problems


def load(
    *,
    flags: Mapping[str, Any],
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> AgentConfig:
    """The configuration from ``flags`` (non-empty values only), the environment and
    ``file``; raises :class:`ConfigError`."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    flags = {k: v for k, v in flags.items() if v not in (None, [], ())}
    file_values = read_file(file) if file is not None else {}
    problems = _unknown_variables(env)

    from_environment, unreadable = _environment(env)
    if unreadable:
        raise ConfigError(problems + unreadable)
    try:
        config = AgentConfig.model_validate(_merged(_merged(file_values, from_environment), flags))
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = _where(loc, flags, env, file, file_values)
            if len(loc) > 1 and _dotted(loc) not in where:
                where = f"{where} ({_dotted(loc)})"  # which item of a list, which key
            problems.append(f"{where}: {_describe(error)}")
        raise ConfigError(problems) from None
    for collector, problem in _check_intervals(config):
        problems.append(
            f"{_where((collector.value, 'interval'), flags, env, file, file_values)}: {problem}"
        )
    if not config.mongo and not config.redis:
        problems.append(
            "no targets: give --mongo URI or --redis URL, OBS_AGENT_MONGO / OBS_AGENT_REDIS, "
            "or `mongo` / `redis` in the --config file"
        )
    if config.listen:
        separator, port = config.listen.rpartition(":")[1:]
        if not separator or not port.isdigit() or not 0 <= int(port) < 65536:
            where = _where(("listen",), flags, env, file, file_values)
            problems.append(
                f"{where}: expected host:port, e.g. 0.0.0.0:9465, [::]:9465 or :9465 "
                f"(got {config.listen!r})"
            )
    if problems:
        raise ConfigError(problems)
    return config
