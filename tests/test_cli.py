"""The ``obs`` command line: help everywhere, and exit codes that mean something."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from obs import cli


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize("words", _commands(cli.build_parser()))
def test_every_command_has_useful_help(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([*words, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: obs")
    assert len(out.splitlines()) >= 5, out


@pytest.mark.parametrize("words", [c for c in _commands(cli.build_parser()) if c])
def test_a_usage_error_exits_1_not_2(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([*words, "--no-such-option"])
    assert done.value.code == 1
    assert "error:" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 1
    assert "COMMAND" in capsys.readouterr().out


def test_the_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "obs.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("obs ")
