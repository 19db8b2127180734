"""What the agent process holds: none of the modules it never calls (each one is memory it
would keep for its whole life; bench/agent_queues.py measures the total)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# The agent as `obs agent` builds it, OTLP over HTTP (the default), one Redis target: the
# modules then loaded, by top-level package.
_BUILD = """
import json, sys
from obs import cli
cli.build_parser(cli._command_in(["agent", "--redis", "redis://127.0.0.1:1/0"]))
from obs.agent.config import load
from obs.agent.otlp_settings import load_otlp
from obs.agent.otlp import otlp_exporter
from obs.agent.app import Agent
settings = load_otlp({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
config = load(flags={"redis": ["redis://127.0.0.1:1/0"]}, environ={})
Agent(config, settings.resource(), otlp=otlp_exporter(settings))
packages = {name.split(".")[0] for name in sys.modules}
print(json.dumps(sorted(packages | {name for name in sys.modules if name.startswith("obs.")})))
"""


@pytest.mark.servers  # starts a process
def test_the_agent_loads_nothing_it_never_calls() -> None:
    environ = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-c", _BUILD], capture_output=True, text=True, env=environ, check=True
    )
    loaded = set(json.loads(done.stdout))
    # grpc: OTLP/HTTP is asked for; pydantic_settings: the agent reads its variables itself;
    # yaml: no YAML file; requests: urllib3 sends OTLP/HTTP; pymongo: no MongoDB target.
    # obs.runtime, obs.provision...: the service's settings and the other commands.
    never = {"grpc", "pydantic_settings", "yaml", "requests", "pymongo", "prometheus_client"}
    never |= {"obs.runtime", "obs.lifecycle", "obs.provision", "obs.preview", "obs.autoscale"}
    assert loaded & never == set()
    assert {"redis", "urllib3", "pydantic"} <= loaded  # what it does use: the check sees them
