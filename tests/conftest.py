"""Fixtures: real servers (SecantusDB, a private Redis), in-process OTLP and Sentry
receivers, and a clean obs/OpenTelemetry state around every test that starts obs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

import obs
from obs.internals import otel_sdk
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver, HttpReceiver
from support.sentry_receiver import SentryReceiver
from support.servers import MongoServer, RedisServer

pytest_plugins = ["support.outside_reads"]

# Property tests judge results, never time: a per-example deadline only measures how busy the
# machine is (CI shares its cores), so it is off; speed lives in bench/.
settings.register_profile("obs", deadline=None)
settings.load_profile("obs")
# Fixtures that start a server process: a test using one (directly or through another
# fixture) is marked `servers`, which `make unit` leaves out.
SERVER_FIXTURES = frozenset({"mongo", "redis_server", "redis_client"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


_ENV_PREFIXES = ("OTEL_", "OBS_", "SENTRY_", "DD_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see none of the machine's OTEL_/OBS_/SENTRY_/DD_ variables."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def mongo() -> Iterator[MongoServer]:
    server = MongoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.remove()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Any]:
    """A client of the private Redis, emptied before the test."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def _grpc_receiver() -> Iterator[GrpcReceiver]:
    receiver = GrpcReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def otlp(_grpc_receiver: GrpcReceiver) -> GrpcReceiver:
    """The OTLP/gRPC receiver, emptied for this test."""
    _grpc_receiver.clear()
    _grpc_receiver.fail_with = None
    return _grpc_receiver


@pytest.fixture
def otlp_http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def sentry_receiver() -> Iterator[SentryReceiver]:
    receiver = SentryReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def start_obs(otlp: GrpcReceiver) -> Iterator[Callable[..., Status]]:
    """``start_obs(**settings)``: obs.init() exporting to the test's OTLP receiver."""

    def start(**overrides: Any) -> Status:
        overrides.setdefault("otlp_endpoint", otlp.endpoint)
        if "OTEL_EXPORTER_OTLP_PROTOCOL" not in os.environ:  # a test may set a bad one
            overrides.setdefault("otlp_protocol", "grpc")
        return obs.init(**overrides)

    yield start
    obs.shutdown(timeout=5)
    otel_sdk.reset_global_providers()  # lets the next test set global providers again
