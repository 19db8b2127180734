"""obs.init() is a loop over FEATURES: a feature is one object (name, the settings that turn
it off, what it needs, start, flush, stop), so a new one is a file and an entry in the list."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import obs
from obs.export.deadline import Deadline
from obs.lifecycle import process
from obs.lifecycle.features import FEATURES, Context, Feature
from obs.runtime import settings
from obs.runtime.settings import EVERY_FEATURE, Settings
from obs.runtime.status import Status

StartObs = Callable[..., Status]


def test_every_feature_a_setting_names_exists() -> None:
    names = [feature.name for feature in FEATURES]
    assert len(set(names)) == len(names)
    named = {f for field in Settings.model_fields for f in settings.features_of(field)}
    assert named - {EVERY_FEATURE} <= set(names)


class Recorder(Feature):
    """A feature as another engineer would add one: off by default, needs metrics."""

    name = "recorder"
    events: list[str] = []  # noqa: RUF012 - shared by the instances a test makes

    def off(self, settings: Settings) -> str | None:
        return None if settings.service_name == "recorded" else "not the recorded service"

    def missing(self, context: Context) -> str | None:
        return None if context.instruments is not None else "metrics are off"

    def start(self, context: Context) -> str:
        self.events.append("start")
        return "recording"

    def flush(self, deadline: Deadline) -> bool:
        self.events.append("flush")
        return True

    def stop(self, deadline: Deadline) -> bool:
        self.events.append(f"stop within {'3' if 2 < deadline.remaining() <= 3 else '?'} s")
        return True


@pytest.fixture
def with_recorder(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(process, "FEATURES", (*FEATURES, Recorder))
    Recorder.events = []
    return Recorder.events


def test_a_feature_in_the_list_is_started_flushed_and_stopped(
    start_obs: StartObs, with_recorder: list[str]
) -> None:
    status = start_obs(service_name="recorded")
    assert status["recorder"].on
    assert status["recorder"].detail == "recording"
    assert [f.name for f in status.features][-1] == "recorder"
    assert obs.flush(5.0)
    assert obs.shutdown(3.0)
    assert with_recorder == ["start", "flush", "stop within 3 s"]


def test_a_features_own_settings_and_needs_turn_it_off(
    start_obs: StartObs, with_recorder: list[str]
) -> None:
    assert start_obs()["recorder"].detail == "not the recorded service"
    obs.shutdown()
    status = start_obs(service_name="recorded", metrics=False)
    assert status["recorder"].detail == "metrics are off"
    assert with_recorder == []


def test_a_feature_that_fails_to_start_is_off_and_the_others_run(
    start_obs: StartObs, with_recorder: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Recorder, context: Context) -> str:
        raise RuntimeError("no recorder today")

    monkeypatch.setattr(Recorder, "start", broken)
    status = start_obs(service_name="recorded")
    assert status["recorder"].detail == "failed to start: RuntimeError: no recorder today"
    assert status["metrics"].on
    assert status["pymongo"].on
