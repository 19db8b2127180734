"""Agent configuration: flags over variables over the file; bad input fails at start naming
the field where the user wrote it; URIs never echoed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from unittest import mock
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import create_model
from pydantic._internal._utils import deep_update
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError
from pydantic_settings.sources import EnvSettingsSource

from obs.agent import config as config_module
from obs.agent.config import AgentConfig, Collector, ConfigError, Schedule, load
from obs.agent.targets import MongoTarget, RedisTarget
from support.generated import TOKEN, tokens


def problems(**kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(**kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_flags_beat_variables_which_beat_the_file(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text(
        'redis = ["redis://from-file:6379/0"]\n'
        'bullmq_prefixes = ["file"]\n'
        "[bullmq]\ninterval = 30\ntimeout = 4\n"
    )
    env = {"OBS_AGENT_BULLMQ__INTERVAL": "20", "OBS_AGENT_BULLMQ_PREFIXES": "env,{tagged}"}
    config = load(flags={"bullmq_prefixes": ["flag"]}, file=file, environ=env)
    assert [t.label for t in config.redis] == ["redis://from-file:6379/0"]
    assert config.bullmq_prefixes == ["flag"]
    # Variables and the file merge key by key inside a collector's schedule.
    assert config.schedule(Collector.BULLMQ) == Schedule(interval=20.0, timeout=4.0)
    config = load(flags={}, file=file, environ=env)
    assert config.bullmq_prefixes == ["env", "{tagged}"]


def test_yaml_targets_with_options(tmp_path: Path) -> None:
    file = tmp_path / "agent.yaml"
    file.write_text(
        "mongo:\n"
        "  - uri: mongodb://db1:27017,db2:27017/?replicaSet=rs0\n"
        "    databases: [app]\n"
        "redis:\n"
        "  - url: redis://cache:6379/0\n"
        "    bullmq: false\n"
        "  - url: redis://queues:6379/1\n"
        "    info: false\n"
        "    bullmq_prefixes: ['{bull}']\n"
        "    queues: [exports, 'mail:eu']\n"
    )
    config = load(flags={}, file=file, environ={})
    assert config.mongo == [
        MongoTarget(uri="mongodb://db1:27017,db2:27017/?replicaSet=rs0", databases=["app"])
    ]
    cache, queues = config.redis
    assert (cache.info, cache.bullmq) == (True, False)
    assert config.prefixes_for(cache) == ["bull"]
    assert config.prefixes_for(queues) == ["{bull}"]
    assert config.queues_for(queues) == ["exports", "mail:eu"]


def test_variables_hold_several_uris() -> None:
    env = {
        "OBS_AGENT_MONGO": "mongodb://a:27017 mongodb://b:27017",
        "OBS_AGENT_REDIS": '["redis://c:6379/0"]',
    }
    config = load(flags={}, environ=env)
    assert [t.label for t in config.mongo] == ["mongodb://a:27017", "mongodb://b:27017"]
    assert config.redis == [RedisTarget(url="redis://c:6379/0")]


def test_each_bad_field_is_named_where_it_was_written(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text('redis = [{url = "redis://r", bogus = 1}]\n[mongo_stats]\ninterval = 60\n')
    found = problems(
        flags={"mongo": ["mongodb://ok", "http://user:hunter2@wrong"]},
        file=file,
        environ={"OBS_AGENT_BULLMQ__TIMEOUT": "-1", "OBS_AGENT_SLOW_OPERATIONS": "2"},
    )
    assert found == [
        "OBS_AGENT_SLOW_OPERATIONS: not an agent setting "
        "(did you mean OBS_AGENT_SLOW_OPERATION_SECONDS?)",
        "--mongo (mongo[1].uri): expected a MongoDB URI starting with mongodb:// or mongodb+srv://",
        f"{file}: redis[0].bogus: Extra inputs are not permitted (got 1)",
        "OBS_AGENT_BULLMQ__TIMEOUT (bullmq.timeout): "
        'Input should be greater than or equal to 0.01 (got "-1")',
    ]
    assert "hunter2" not in "\n".join(found)


def test_the_promises_to_watched_servers_are_enforced(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text('mongo = ["mongodb://db"]\n[mongo_stats]\ninterval = 60\n')
    assert problems(flags={}, file=file, environ={"OBS_AGENT_MONGO_STATUS__INTERVAL": "5"}) == [
        "OBS_AGENT_MONGO_STATUS__INTERVAL: serverStatus runs at most every 10 s (got 5.0)",
        f"{file}: mongo_stats.interval: "
        "collStats and $indexStats run at most every 300 s (got 60.0)",
    ]


def test_no_targets_is_an_error() -> None:
    assert problems(flags={}, environ={})[0].startswith("no targets:")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.toml", "redis = [", "not valid TOML"),
        ("a.yaml", "redis: [", "not valid YAML"),
        ("a.yaml", "- just a list", "expected a mapping"),
        ("a.ini", "x=1", "expected a .toml, .yaml or .yml file"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    file = tmp_path / name
    file.write_text(text)
    (found,) = problems(flags={}, file=file, environ={})
    assert found.startswith(f"--config {file}: {expected}")


def test_a_missing_file() -> None:
    (found,) = problems(flags={}, file=Path("/nonexistent/agent.toml"), environ={})
    assert found == "--config /nonexistent/agent.toml: No such file or directory"


def test_listen_address() -> None:
    base = {"redis": ["redis://r"]}
    assert load(flags=base, environ={}).listen_address == ("0.0.0.0", 9465)
    assert load(flags={**base, "listen": "127.0.0.1:9000"}, environ={}).listen_address == (
        "127.0.0.1",
        9000,
    )
    assert load(flags=base, environ={"OBS_AGENT_LISTEN": ""}).listen_address is None
    (found,) = problems(flags={**base, "listen": "localhost"}, environ={})
    assert found == (
        "--listen: expected host:port, e.g. 0.0.0.0:9465, [::]:9465 or :9465 (got 'localhost')"
    )
    assert load(flags={**base, "listen": ":9465"}, environ={}).listen_address == ("0.0.0.0", 9465)
    assert load(flags={**base, "listen": "[::]:9465"}, environ={}).listen_address == ("::", 9465)


def test_targets_print_without_credentials() -> None:
    mongo = MongoTarget(
        uri="mongodb://app:hunter2@db:27017/app?authSource=admin&tlsCertificateKeyFilePassword=pem-secret"
    )
    redis = RedisTarget(url="rediss://default:hunter2@cache:6380/2")
    for target in (mongo, redis):
        assert "hunter2" not in repr(target)
        assert "hunter2" not in str(target)
    assert mongo.label == "mongodb://db:27017/app"
    assert redis.label == "rediss://cache:6380/2"
    message = f"failed: {mongo.uri} said pem-secret hunter2"
    assert mongo.scrub(message) == "failed: mongodb://db:27017/app said *** ***"


def test_scrubbing_masks_the_uris_secrets_and_nothing_else() -> None:
    mongo = MongoTarget(
        uri="mongodb://app:hunter2@db:27017/app?serverSelectionTimeoutMS=20000"
        "&authMechanismProperties=AWS_SESSION_TOKEN:t0ken&tlsCertificateKeyFilePassword=pem"
    )
    message = (
        "db:27017: timed out (configured timeouts: socketTimeoutMS: 20000.0ms, "
        "connectTimeoutMS: 20000.0ms), app hunter2 t0ken pem"
    )
    assert mongo.scrub(message) == (
        "db:27017: timed out (configured timeouts: socketTimeoutMS: 20000.0ms, "
        "connectTimeoutMS: 20000.0ms), app *** *** ***"
    )


@pytest.mark.parametrize("mark", ["/", "#", "?"])
def test_an_unescaped_password_is_named_without_echoing_it(mark: str) -> None:
    for flag, uri in (
        ("redis", f"redis://:pa{mark}hunter2@cache:6379/0"),
        ("mongo", f"mongodb://app:pa{mark}hunter2@db:27017/app"),
    ):
        (found,) = problems(flags={flag: [uri]}, environ={})
        assert "must be percent-escaped" in found
        assert "hunter2" not in found
    (found,) = problems(flags={"redis": ["redis://:pw@cache:63x79/0"]}, environ={})
    assert found.startswith("--redis (redis[0].url): the Redis URI cannot be read: ValueError")


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("OBS_AGENT_BULLMQ__TIMEOUT", "inf", "Input should be a finite number"),
        ("OBS_AGENT_BULLMQ__INTERVAL", "nan", "Input should be a finite number"),
        ("OBS_AGENT_REDIS_INFO__INTERVAL", "1e-300", "greater than or equal to 0.1"),
        ("OBS_AGENT_REDIS_INFO__TIMEOUT", "1e-300", "greater than or equal to 0.01"),
        ("OBS_AGENT_EXPORT_INTERVAL", "inf", "Input should be a finite number"),
        ("OBS_AGENT_BACKOFF_MAX", "1e9", "less than or equal to 86400"),
        ("OBS_AGENT_BULLMQ_DISCOVERY_INTERVAL", "1e-300", "greater than or equal to 0.1"),
        ("OBS_AGENT_SLOW_OPERATION_SECONDS", "nan", "Input should be a finite number"),
    ],
)
def test_seconds_are_finite_and_bounded(variable: str, value: str, reason: str) -> None:
    (found,) = problems(flags={"redis": ["redis://r"]}, environ={variable: value})
    assert found.startswith(variable)
    assert reason in found


def test_files_that_are_not_utf8_or_nest_too_deeply_are_one_line_errors(tmp_path: Path) -> None:
    latin1 = tmp_path / "agent.toml"
    latin1.write_bytes(b'redis = ["redis://r"]\n# caf\xe9\n')
    deep_yaml = tmp_path / "agent.yaml"
    deep_yaml.write_text("redis: " + "[" * 50_000 + "]" * 50_000 + "\n")
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("redis = [" + "{a = " * 3000 + "1" + "}" * 3000 + "]\n")
    assert problems(flags={}, file=latin1, environ={}) == [
        f"--config {latin1}: not UTF-8 text (byte 27)"
    ]
    for file in (deep_yaml, deep_toml):
        assert problems(flags={}, file=file, environ={}) == [
            f"--config {file}: nested too deeply to be settings"
        ]
    (found,) = problems(flags={}, environ={"OBS_AGENT_REDIS": "[" * 5000 + "]" * 5000})
    assert found.startswith("OBS_AGENT_REDIS: a JSON list nested too deeply (got ")
    assert len(found) < 150  # the value is echoed cut short


_password_noise = st.text(alphabet="/#?@:%&=+ !$'\"\\{}é", max_size=4)
passwords = st.builds(lambda a, t, b: a + t + b, _password_noise, tokens, _password_noise)


@settings(max_examples=200, deadline=None)
@given(passwords, st.sampled_from(["mongodb://app:{}@db:27017/app", "redis://:{}@cache:6379/0"]))
def test_a_password_of_any_characters_is_never_printed(password: str, template: str) -> None:
    token = TOKEN.search(password)
    assert token is not None
    flag = "mongo" if template.startswith("mongodb") else "redis"
    escaped = template.format(quote(password, safe=""))
    (target,) = getattr(load(flags={flag: [escaped]}, environ={}), flag)
    message = f"could not reach {escaped}: auth failed for {password!r} ({quote(password)})"
    for text in (target.label, repr(target), target.scrub(message)):
        assert token[0] not in text
    # Unescaped: read as the driver reads it, or one error naming the escaping.
    shown: str
    try:
        (raw,) = getattr(load(flags={flag: [template.format(password)]}, environ={}), flag)
        shown = raw.label + raw.scrub(message)
    except ConfigError as exc:
        shown = str(exc)
    assert token[0] not in shown


# --- the environment reader against pydantic-settings' (what the agent used before) ---


def _reference_settings() -> type[BaseSettings]:
    """AgentConfig as a pydantic-settings class: its variables read by the library."""
    fields: dict[str, Any] = {}
    for name, field in AgentConfig.model_fields.items():
        annotation = field.rebuild_annotation()
        if name in config_module._LIST_FIELDS:  # their own text format, never JSON
            annotation = Annotated[annotation, NoDecode]
        fields[name] = (annotation, field)
    reference = create_model("Reference", __base__=BaseSettings, **fields)
    reference.model_config.update(
        SettingsConfigDict(env_prefix="OBS_AGENT_", env_nested_delimiter="__", extra="forbid")
    )
    return reference


_REFERENCE = _reference_settings()
_names = st.sampled_from(sorted(AgentConfig.model_fields))
_case = st.sampled_from([str.upper, str.lower, str.title])
_keys = st.one_of(
    st.builds(lambda name, case: case(f"OBS_AGENT_{name}"), _names, _case),
    st.builds(
        lambda name, sub, case: case(f"OBS_AGENT_{name}__{sub}"),
        _names,
        st.sampled_from(["interval", "timeout", "bogus", "0__uri", "a__b"]),
        _case,
    ),
    st.sampled_from(["OTHER", "OBS_AGENT_", "obs_agent_nothing"]),
)
_values = st.one_of(
    st.sampled_from(['{"interval": 20}', '{"timeout": "x"}', "[1]", "{", "", "null", "20"]),
    st.text('ab:/ ,{}[]"0123456789.', max_size=12),
)


@given(st.dictionaries(_keys, _values, max_size=6))
def test_variables_are_read_as_pydantic_settings_reads_them(environ: dict[str, str]) -> None:
    with mock.patch.dict(os.environ, environ, clear=True):
        source = EnvSettingsSource(_REFERENCE, case_sensitive=False)
    try:
        expected: dict[str, Any] | None = source()
    except SettingsError:
        expected = None  # a JSON value that cannot be read
    values, problems = config_module._environment(environ)
    assert (values if not problems else None) == expected


_trees = st.recursive(
    st.integers(0, 3) | st.text("ab", max_size=2),
    lambda children: st.dictionaries(st.sampled_from("abc"), children, max_size=3),
    max_leaves=8,
)


@given(
    st.dictionaries(st.sampled_from("abc"), _trees), st.dictionaries(st.sampled_from("abc"), _trees)
)
def test_sources_merge_as_pydantic_settings_merges_them(
    low: dict[str, Any], high: dict[str, Any]
) -> None:
    assert config_module._merged(low, high) == deep_update(low, high)
