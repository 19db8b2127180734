"""Settings: precedence, the standard variables, and bad values that turn one feature off."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import obs
from obs.cli import main
from obs.lifecycle.settings_command import markdown_table
from obs.runtime import settings
from obs.runtime.settings import SettingsError, load
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver
from support.sentry_receiver import SentryReceiver

StartObs = Callable[..., Status]


def test_keyword_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OBS_MONGO_SKIP_THRESHOLD", "50")
    values, problems = load({"service_name": "from-kwargs"})
    assert (values.service_name, values.mongo_skip_threshold, problems) == ("from-kwargs", 50, ())


def test_otel_service_name_beats_dd_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_SERVICE", "dd-name")
    assert load()[0].service_name == "dd-name"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "otel-name")
    assert load()[0].service_name == "otel-name"


def test_unified_service_tagging_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_ENV", "prod")
    monkeypatch.setenv("DD_VERSION", "1.4.2")
    values, _ = load()
    assert (values.environment, values.service_version) == ("prod", "1.4.2")


def test_list_formats_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBS_CACHE_PREFIXES", "kpi:=kpi, lb:=leaderboard")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=core,region=eu%2Dwest")
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "flask, requests")
    values, problems = load()
    assert problems == ()
    assert values.cache_prefixes == {"kpi:": "kpi", "lb:": "leaderboard"}
    assert values.resource_attributes == {"team": "core", "region": "eu-west"}
    assert values.disabled_instrumentations == ["flask", "requests"]


@pytest.mark.parametrize(
    ("variable", "value", "features"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", {"traces", "metrics"}),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317", {"traces", "metrics"}),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5", {"traces"}),
        ("OBS_MONGO_SKIP_THRESHOLD", "lots", {"pymongo"}),
        ("OBS_CACHE_PREFIXES", "kpi", {"redis"}),
        ("SENTRY_DSN", "not-a-dsn", {"sentry"}),
        ("OBS_TRACES", "perhaps", {"traces"}),
    ],
)
def test_a_bad_value_names_its_variable_and_turns_its_feature_off(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, features: set[str]
) -> None:
    monkeypatch.setenv(variable, value)
    values, problems = load()
    assert len(problems) == 1
    assert problems[0].setting == variable
    assert set(problems[0].features) == features
    assert str(problems[0]).startswith(f"{variable}: ")
    # the bad value is replaced by the default, so everything else still loads
    field = next(n for n in settings.Settings.model_fields if variable in settings.env_names(n))
    assert getattr(values, field) == settings.Settings.model_fields[field].get_default()


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "https://s3cr3tkey@/nohost")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key")  # no '=': malformed
    _, problems = load()
    text = " ".join(str(p) for p in problems)
    assert {p.setting for p in problems} == {"SENTRY_DSN", "OTEL_EXPORTER_OTLP_HEADERS"}
    assert "s3cr3tkey" not in text
    assert "api-key" not in text


def test_a_password_in_a_bad_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://key:SUPERSECRET@collector:43x17")
    _, problems = load()
    assert [p.setting for p in problems] == ["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert "SUPERSECRET" not in str(problems[0])
    assert "key:***@collector" in str(problems[0])


@pytest.mark.parametrize("output", ["table", "json"])
def test_obs_settings_masks_credentials_in_any_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:SUPERSECRET@collector:4318")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "db=redis://:REDISPASS@cache:6379")
    assert main(["settings", "--format", output]) == 0
    shown = capsys.readouterr().out
    assert "SUPERSECRET" not in shown
    assert "REDISPASS" not in shown
    assert "https://user:***@collector:4318" in shown


def test_a_mistyped_obs_variable_is_reported_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OBS_MONGO_SKIP_THRESOLD", "10")
    _, problems = load()
    assert [p.setting for p in problems] == ["OBS_MONGO_SKIP_THRESOLD".replace("SHOLD", "SOLD")]
    assert "OBS_MONGO_SKIP_THRESHOLD" in str(problems[0])


def test_an_unknown_keyword_argument_is_reported() -> None:
    _, problems = load({"servce_name": "x"})
    assert "did you mean 'service_name'" in str(problems[0])


def test_strict_raises_with_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "sometimes")
    with pytest.raises(SettingsError) as raised:
        obs.init(strict=True, mongo_skip_threshold=0)
    message = str(raised.value)
    assert "OTEL_TRACES_SAMPLER" in message
    assert "mongo_skip_threshold" in message
    assert not obs.status().initialised


def test_strict_failure_part_way_leaves_nothing_started(
    start_obs: StartObs,  # its teardown resets OpenTelemetry's globals
    otlp: GrpcReceiver,
    monkeypatch: pytest.MonkeyPatch,
    sentry_receiver: SentryReceiver,
) -> None:
    import redis

    from obs.instrumentation import pymongo as listener
    from obs.lifecycle import sentry as sentry_setup

    def broken(settings: object) -> str:
        raise RuntimeError("sentry could not start")

    monkeypatch.setattr(sentry_setup, "start", broken)
    original = redis.Redis.execute_command
    with pytest.raises(RuntimeError, match="sentry could not start"):
        obs.init(
            strict=True,
            otlp_endpoint=otlp.endpoint,
            otlp_protocol="grpc",
            sentry_dsn=sentry_receiver.dsn,
            cache_prefixes={"kpi:": "kpi"},
        )
    # pymongo and redis started before Sentry failed: both were undone
    assert not obs.status().initialised
    assert not listener._enabled
    assert redis.Redis.execute_command is original
    assert obs.runtime.state.current is None


def test_init_with_a_bad_value_warns_once_and_runs_the_rest(
    start_obs: StartObs, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBS_MONGO_SKIP_THRESHOLD", "-5")
    with caplog.at_level(logging.WARNING, logger="obs"):
        status = start_obs()
    warnings = [
        r.getMessage() for r in caplog.records if "OBS_MONGO_SKIP_THRESHOLD" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert not status["pymongo"].on
    assert "OBS_MONGO_SKIP_THRESHOLD" in status["pymongo"].detail
    assert status["metrics"].on
    assert status["traces"].on


def test_obs_enabled_false_turns_everything_off(start_obs: StartObs) -> None:
    status = start_obs(enabled=False)
    assert status.initialised
    assert all(not f.on for f in status.features)


def test_the_readme_lists_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    found = re.search(r"<!-- settings:begin -->\n(.*?)<!-- settings:end -->", readme, re.S)
    assert found, "README.md has no settings table between the settings markers"
    assert found.group(1).strip() == markdown_table().strip(), (
        "README settings table is stale: regenerate it with `obs settings --format markdown`"
    )
