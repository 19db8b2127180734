"""The container (Docker cannot run here, so the Dockerfile is parsed) and the deployment
examples (their agent arguments and variables are loaded by the agent's own config)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from obs.agent.config import load
from obs.agent.endpoints import Endpoints
from obs.cli import build_parser
from support.servers import free_port, python_env

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

ROOT = Path(__file__).parent.parent


def stages() -> list[list[dict[str, Any]]]:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    out: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "COMMENT":
            continue
        if instruction["instruction"] == "FROM":
            out.append([])
        out[-1].append(instruction)
    return out


def values(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def install_commands(text: str) -> set[str]:
    """`pip install ...` commands, options dropped (``--no-cache-dir`` changes nothing)."""
    found = set()
    for match in re.finditer(r"pip install ([^`\n&;]*)", text):
        words = [w for w in shlex.split(match.group(1)) if not w.startswith("-")]
        found.add("pip install " + " ".join(words))
    return found


def test_dockerfile_is_multi_stage_non_root_with_the_agent_entrypoint() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert any("--from=" in v for v in values(final, "COPY"))  # only built artefacts move on
    assert not values(final, "RUN") or all("pip" not in v for v in values(final, "RUN"))
    (user,) = values(final, "USER")
    assert user not in ("root", "0")
    assert any(f"--uid {user}" in v for v in values(final, "RUN"))
    (entrypoint,) = values(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["obs", "agent"]
    assert healthcheck_command()[1:] == ["-m", "obs.agent.healthcheck"]  # run below
    assert "9465" in values(final, "EXPOSE")
    assert values(build, "RUN")


def test_the_image_runs_the_agent_with_one_malloc_arena() -> None:
    """What bench/agent_queues.py measures as the image runs the agent (docs/agent.md)."""
    environment = " ".join(values(stages()[-1], "ENV"))
    assert "MALLOC_ARENA_MAX=1" in environment.split()


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form command, run with this interpreter as the image's python."""
    (healthcheck,) = values(stages()[-1], "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@pytest.fixture
def healthz_on_127_0_0_2() -> Iterator[int]:
    """The agent's endpoints bound to one specific address (not the wildcard)."""
    endpoints = Endpoints(("127.0.0.2", free_port()), lambda: [], lambda: []).start()
    yield endpoints.port
    endpoints.stop()


def test_the_healthcheck_asks_where_the_agent_listens(healthz_on_127_0_0_2: int) -> None:
    port = healthz_on_127_0_0_2

    def healthy(**env: str) -> bool:
        done = subprocess.run(
            healthcheck_command(),
            env=python_env(**env),
            capture_output=True,
            timeout=30,
            check=False,
        )
        return done.returncode == 0

    assert healthy(OBS_AGENT_LISTEN=f"127.0.0.2:{port}")  # a specific host, not loopback
    assert not healthy(OBS_AGENT_LISTEN=f"127.0.0.2:{free_port()}")  # nothing answers there
    assert not healthy(OBS_AGENT_LISTEN=f"0.0.0.0:{port}")  # 127.0.0.1: not listened on
    assert healthy(OBS_AGENT_LISTEN="")  # endpoints off: nothing to ask, the process runs
    assert not healthy(OBS_AGENT_LISTEN="no-port")
    wildcard = Endpoints(("0.0.0.0", 0), lambda: [], lambda: []).start()
    try:
        assert healthy(OBS_AGENT_LISTEN=f":{wildcard.port}")
        assert healthy(OBS_AGENT_LISTEN=f"0.0.0.0:{wildcard.port}", http_proxy="http://10.9.9.9:1")
    finally:
        wildcard.stop()


def test_the_image_installs_obs_as_the_readme_says() -> None:
    build = stages()[0]
    in_image = install_commands("\n".join(values(build, "RUN")))
    assert in_image == {"pip install .[agent]"}  # the agent's part only
    assert in_image <= install_commands((ROOT / "docs" / "agent.md").read_text())
    readme = ROOT / "README.md"
    if readme.exists():  # the README is the lead's; once it documents installing, it agrees
        documented = install_commands(readme.read_text())
        assert not documented or in_image <= documented


def test_dockerignore_keeps_what_the_install_needs() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "build"} <= ignored
    for needed in ("core", "agent", "pyproject.toml", "README.md"):
        assert needed not in ignored


def agent_config(args: list[str], env: dict[str, str]) -> Any:
    parsed = build_parser().parse_args(["agent", *args])
    flags = {
        "mongo": parsed.mongo,
        "redis": parsed.redis,
        "bullmq_prefixes": parsed.bullmq_prefixes,
        "listen": parsed.listen,
    }
    return load(flags=flags, environ={k: v for k, v in env.items() if k.startswith("OBS_")})


def test_kubernetes_sidecar() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))
    secret = next(d for d in documents if d["kind"] == "Secret")
    pod = next(d for d in documents if d["kind"] == "Pod")
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert len(containers) == 2  # the service, and obs beside it
    sidecar = containers["obs-agent"]
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/healthz"
    # A sidecar's readiness is the pod's: /readyz (503 while a target is unreachable) would
    # take the application out of its Service.
    assert "readinessProbe" not in sidecar
    assert "/readyz" not in json.dumps(sidecar)
    assert sidecar["ports"][0]["containerPort"] == 9465
    security = sidecar["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    env = {}
    for item in sidecar["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            env[item["name"]] = secret["stringData"][item["valueFrom"]["secretKeyRef"]["key"]]
    config = agent_config(sidecar.get("args", []), env)
    assert [t.label for t in config.mongo] == ["mongodb://mongo-0.mongo:27017"]
    assert [t.label for t in config.redis] == ["redis://redis:6379/0"]
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in env


def test_compose_example() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yaml").read_text())
    agent = compose["services"]["obs-agent"]
    assert (ROOT / "deploy" / agent["build"]["context"] / agent["build"]["dockerfile"]).exists()
    config = agent_config(agent["command"], agent["environment"])
    assert [t.label for t in config.mongo] == ["mongodb://mongo:27017"]
    assert [t.label for t in config.redis] == ["redis://redis:6379/0"]
    assert config.listen_address == ("0.0.0.0", 9465)
    assert set(agent["depends_on"]) == {"mongo", "redis"}


@pytest.mark.parametrize("path", ["deploy/kubernetes.yaml", "deploy/docker-compose.yaml"])
def test_examples_hold_no_real_secrets(path: str) -> None:
    text = (ROOT / path).read_text()
    passwords = re.findall(r"://[^:/@\s]*:([^@\s]+)@", text)
    assert set(passwords) <= {"CHANGE-ME"}
