"""Run ``obs provision`` in-process against a Datadog stand-in, capturing its output."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from obs.cli import main
from support.datadog_standin import API_KEY, APP_KEY, DatadogStandIn


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def provision(standin: DatadogStandIn | None, *args: str | Path, **env: str) -> Run:
    """``obs provision ARGS`` with the stand-in's URL and keys in the environment."""
    environ = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, **env}
    if standin is not None:
        environ.setdefault("OBS_DATADOG_API_URL", standin.url)
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, environ), redirect_stdout(out), redirect_stderr(err):
        rc = main(["provision", *map(str, args)])
    run = Run(rc, out.getvalue(), err.getvalue())
    assert API_KEY not in run.text, "the API key was printed"
    assert APP_KEY not in run.text, "the application key was printed"
    return run


def write_definitions(folder: Path, source: str, name: str = "team_defs.py") -> Path:
    path = folder / name
    path.write_text(source)
    return path
