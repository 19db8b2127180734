"""pytest plugin: ``pytest --obs-index-check`` fails the run on new unindexed query shapes
that the application's own test suite sends through pymongo.

Inert unless ``--obs-index-check`` is given: it then registers a pymongo command listener
before conftest files are imported (so clients created at import time are seen too),
records each query shape the tests send, and explains every new shape right after the
test that first sent it, before that test's fixtures are torn down, so the collections and
indexes it ran against are still there. It explains against the server the command went to
(``mongodb://host:port/?directConnection=true``) unless ``--obs-index-check-uri`` (or
``$OBS_INDEX_CHECK_URI``) names another.

At the end it prints the table, writes the reports asked for, and when tests passed sets
the exit status: 2 for offenders not in the baseline, 1 when a shape could not be checked.
Relative paths are relative to pytest's rootdir.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from obs.index_check.baseline import DEFAULT_PATH

URI_VARIABLE = "OBS_INDEX_CHECK_URI"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("obs-index-check", "obs unindexed-query gate")
    group.addoption(
        "--obs-index-check",
        action="store_true",
        default=False,
        help="record pymongo query shapes and fail on new unindexed ones",
    )
    group.addoption(
        "--obs-index-check-uri",
        default=None,
        help=f"explain against this MongoDB (default: where each command went; ${URI_VARIABLE})",
    )
    group.addoption(
        "--obs-index-check-baseline",
        default=str(DEFAULT_PATH),
        help=f"accepted offenders file (default {DEFAULT_PATH})",
    )
    group.addoption(
        "--obs-index-check-update-baseline",
        action="store_true",
        default=False,
        help="rewrite the baseline with this run's offenders",
    )
    group.addoption("--obs-index-check-json", default=None, help="write the JSON report here")
    group.addoption("--obs-index-check-junit", default=None, help="write JUnit XML here")
    group.addoption(
        "--obs-index-check-shapes",
        default=None,
        help="write the recorded shapes (masked) as JSON Lines, for obs index-check --shapes",
    )


_RECORDER = pytest.StashKey[Any]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    if getattr(early_config.known_args_namespace, "obs_index_check", False):
        _start_recording(early_config)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("obs_index_check"):
        recorder = config.stash.get(_RECORDER, None) or _start_recording(config)
        config.pluginmanager.register(_Gate(config, recorder), "obs-index-check-gate")


def _start_recording(config: pytest.Config) -> Any:
    from pymongo import monitoring

    from obs.index_check.recorder import Recorder

    recorder = Recorder()
    monitoring.register(recorder)
    config.stash[_RECORDER] = recorder
    return recorder


class _Gate:
    def __init__(self, config: pytest.Config, recorder: Any) -> None:
        from obs.index_check.model import Thresholds

        self._config = config
        self._recorder = recorder
        self._uri = config.getoption("obs_index_check_uri") or os.environ.get(URI_VARIABLE)
        self._clients: dict[Any, Any] = {}
        self._verdicts: dict[str, Any] = {}
        self._thresholds = Thresholds()
        self._failure: str | None = None
        self._outcome: Any = None

    def _path(self, option: str) -> Path | None:
        value = self._config.getoption(option)
        return None if not value else self._config.rootpath / value

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        self._recorder.source = item.nodeid
        try:
            return (yield)
        finally:
            self._examine_new()

    def _examine_new(self) -> None:
        from obs.index_check.check import examine
        from obs.index_check.explainer import Explainer
        from obs.privacy.scrub import exception_message

        self._recorder.paused = True
        try:
            for recorded, server in self._recorder.take_new():
                explainer = Explainer(self._client(server))
                verdict = examine(recorded, explainer, self._thresholds)
                self._verdicts[recorded.shape.fingerprint] = verdict
        except Exception as exc:  # the check must never fail the test it follows
            self._failure = f"{type(exc).__name__}: {exception_message(exc)}"
        finally:
            self._recorder.paused = False

    def _client(self, server: Any) -> Any:
        from pymongo import MongoClient

        key = self._uri or server
        if key not in self._clients:
            client: Any
            if self._uri:
                client = MongoClient(self._uri, serverSelectionTimeoutMS=5000)
            else:
                host, port = server
                client = MongoClient(
                    host, int(port), directConnection=True, serverSelectionTimeoutMS=5000
                )
            self._clients[key] = client
        return self._clients[key]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from dataclasses import replace

        from obs.index_check import baseline as baseline_file
        from obs.index_check import render
        from obs.index_check.shapes_file import write_shapes

        self._examine_new()
        for client in self._clients.values():
            client.close()
        recorded = self._recorder.recorded()
        verdicts = [
            replace(self._verdicts[r.shape.fingerprint], count=r.count, sources=tuple(r.sources))
            for r in recorded
            if r.shape.fingerprint in self._verdicts
        ]
        baseline_path = self._path("obs_index_check_baseline") or DEFAULT_PATH
        try:
            baseline = baseline_file.load(baseline_path)
        except baseline_file.BaselineError as exc:
            self._failure = str(exc)
            baseline = baseline_file.Baseline()
        self._outcome = outcome = baseline_file.gate(verdicts, baseline)
        if self._config.getoption("obs_index_check_update_baseline"):
            baseline_file.save(baseline_file.Baseline.of(verdicts), baseline_path)
        writers = {
            "obs_index_check_json": render.to_json,
            "obs_index_check_junit": render.to_junit,
        }
        for option, write in writers.items():
            target = self._path(option)
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(write(outcome), encoding="utf-8")
        shapes_path = self._path("obs_index_check_shapes")
        if shapes_path is not None:
            write_shapes(recorded, shapes_path)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = self._exit_code(outcome)

    def _exit_code(self, outcome: Any) -> int:
        if self._failure is not None:
            return 1
        if self._config.getoption("obs_index_check_update_baseline"):
            return 1 if outcome.errors else 0
        return int(outcome.exit_code)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from obs.index_check import render

        terminalreporter.section("obs index-check")
        if self._outcome is not None:
            terminalreporter.write_line(render.table(self._outcome))
        if self._failure is not None:
            terminalreporter.write_line(f"index-check could not run: {self._failure}")
