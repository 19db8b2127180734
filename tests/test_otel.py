"""OpenTelemetry wiring: resource, protocols and headers, sampling, the application's own
providers, pre-fork workers, and what ``import obs`` costs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import obs
from obs import internals
from obs.export.resource import container_id
from obs.internals import InternalsChanged, otel_sdk
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver, HttpReceiver
from support.servers import python_env

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]


def _one_job(queue: str = "q") -> None:
    with obs.job(queue):
        pass


def test_resource_attributes_follow_the_standard_variables(
    start_obs: StartObs, otlp: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_SERVICE", "dd-name")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    monkeypatch.setenv("DD_ENV", "prod")
    monkeypatch.setenv("DD_VERSION", "3.1.0")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=payments,service.name=ignored")
    start_obs()
    _one_job()
    assert obs.flush()
    resource = otlp.points("messaging.process.duration")[0].resource
    assert resource["service.name"] == "billing"
    assert resource["service.version"] == "3.1.0"
    assert resource["deployment.environment.name"] == "prod"
    assert resource["team"] == "payments"
    assert resource["process.pid"] == os.getpid()
    assert resource["host.name"]
    assert "process.command_args" not in resource  # command lines can carry secrets
    assert otlp.spans("process q")[0].resource["service.name"] == "billing"


def test_http_protobuf_with_headers(
    start_obs: StartObs, otlp_http: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret,x-team=core")
    start_obs(otlp_endpoint=otlp_http.endpoint, otlp_protocol="http/protobuf")
    _one_job()
    assert obs.flush()
    assert otlp_http.points("messaging.process.duration")
    assert otlp_http.spans("process q")
    assert all(h.get("x-api-key") == "s3cret" for h in otlp_http.headers)
    assert "s3cret" not in str(obs.status())


def test_grpc_headers_arrive_as_metadata(
    start_obs: StartObs, otlp: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=grpc-secret")
    start_obs()
    _one_job()
    assert obs.flush()
    assert otlp.headers
    assert all(h.get("x-api-key") == "grpc-secret" for h in otlp.headers)


def test_a_signal_specific_endpoint_wins(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    otlp_http: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{otlp_http.endpoint}/v1/traces")
    start_obs(otlp_endpoint=otlp_http.endpoint, otlp_protocol="http/protobuf")
    _one_job()
    assert obs.flush()
    assert otlp_http.spans("process q")


def test_sampler_always_off_drops_spans_keeps_metrics(
    start_obs: StartObs, otlp: GrpcReceiver
) -> None:
    start_obs(traces_sampler="always_off")
    _one_job()
    assert obs.flush()
    assert otlp.spans() == []
    assert otlp.points("messaging.process.duration")


def test_ratio_sampler_samples_about_the_ratio(start_obs: StartObs, otlp: GrpcReceiver) -> None:
    start_obs(traces_sampler="traceidratio", traces_sampler_arg=0.25)
    for _ in range(400):
        _one_job()
    assert obs.flush()
    assert 50 <= len(otlp.spans("process q")) <= 150


def test_the_applications_providers_are_used_not_replaced(
    start_obs: StartObs, otlp: GrpcReceiver
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    status = start_obs()
    assert status["traces"].detail == "the application's provider"
    assert trace.get_tracer_provider() is provider
    _one_job()
    assert [s.name for s in exporter.get_finished_spans()] == ["process q"]
    obs.shutdown()
    assert provider._active_span_processor._span_processors  # obs did not shut it down


def test_a_forked_worker_exports_as_itself(start_obs: StartObs, otlp: GrpcReceiver) -> None:
    start_obs()
    _one_job("before-fork")
    assert obs.flush()
    pid = os.fork()
    if pid == 0:  # the pre-fork worker
        try:
            _one_job("in-child")
            os._exit(0 if obs.flush(timeout=10) else 3)
        except BaseException:
            os._exit(4)
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0
    seen = {
        (p.attributes["messaging.destination.name"], p.resource["process.pid"])
        for p in otlp.points("messaging.process.duration")
    }
    # the child reports its own work under its own pid, and not the parent's work again
    assert ("in-child", pid) in seen
    assert ("before-fork", pid) not in seen
    assert ("before-fork", os.getpid()) in seen
    assert otlp.spans("process in-child")[0].resource["process.pid"] == pid


def test_shutdown_flushes_what_was_recorded(start_obs: StartObs, otlp: GrpcReceiver) -> None:
    start_obs()
    _one_job("last")
    obs.shutdown()
    assert otlp.points("messaging.process.duration")
    assert otlp.spans("process last")
    assert not obs.status().initialised


def test_exit_flushes_without_an_explicit_shutdown(otlp: GrpcReceiver, tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(
        "import obs\n"
        f"obs.init(otlp_endpoint={otlp.endpoint!r}, otlp_protocol='grpc', service_name='exiting')\n"
        "with obs.job('at-exit'):\n    pass\n"
    )
    subprocess.run([sys.executable, str(script)], check=True, env=python_env(), timeout=60)
    assert otlp.spans("process at-exit")
    assert otlp.points("messaging.process.duration")


def test_import_obs_loads_neither_the_sdk_nor_sentry() -> None:
    code = (
        "import sys, obs\n"
        "heavy = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'sentry_sdk',"
        " 'pymongo', 'redis', 'grpc', 'pydantic'))]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=60,
    )
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cgroup": "12:memory:/docker/" + "a" * 64 + "\n"}, "a" * 64),
        (
            {"cgroup": "0::/kubepods/besteffort/pod1/cri-containerd-" + "b" * 64 + ".scope\n"},
            "b" * 64,
        ),
        (
            {
                "cgroup": "0::/\n",
                "mountinfo": "1 2 0:1 /var/lib/docker/containers/"
                + "c" * 64
                + "/hostname /etc/hostname rw - ext4 /dev/vda rw\n",
            },
            "c" * 64,
        ),
        ({"cgroup": "0::/\n", "mountinfo": "1 2 0:1 / / rw - ext4 /dev/vda rw\n"}, None),
    ],
)
def test_container_id_from_cgroup_or_mountinfo(
    tmp_path: Path, files: dict[str, str], expected: str | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert container_id(tmp_path) == expected


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_still_leave_when_the_exporters_internals_moved(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    otlp_http: HttpReceiver,
    protocol: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A moved private name costs obs its own span encoding, never the spans."""

    def moved(exporter: object) -> None:
        raise InternalsChanged("opentelemetry-sdk", "OTLPSpanExporter._export", AttributeError())

    monkeypatch.setattr(otel_sdk, "check_encoded_span_exporter", moved)
    monkeypatch.setattr(internals, "_warned", set())
    receiver: GrpcReceiver | HttpReceiver = otlp if protocol == "grpc" else otlp_http
    start_obs(otlp_endpoint=receiver.endpoint, otlp_protocol=protocol)
    _one_job()
    assert obs.flush()
    assert receiver.spans("process q")
    assert "encoded by the SDK's (slower) encoder" in caplog.text
