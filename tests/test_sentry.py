"""Sentry: events reach a local endpoint with environment, release, the active trace id, and
nothing secret; a failing Sentry never touches the service."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from typing import Any

import pymongo
import pytest
import sentry_sdk

import obs
from obs.privacy.scrub import scrub, scrub_text
from obs.runtime.status import Status
from support.otlp_receiver import GrpcReceiver
from support.sentry_receiver import SentryReceiver
from support.servers import MongoServer

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

StartObs = Callable[..., Status]


def test_events_carry_environment_release_and_the_trace_id(
    start_obs: StartObs,
    otlp: GrpcReceiver,
    sentry_receiver: SentryReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DD_ENV", "staging")
    monkeypatch.setenv("DD_VERSION", "2.3.4")
    status = start_obs(sentry_dsn=sentry_receiver.dsn)
    assert status["sentry"].on
    with obs.job("exports"):
        try:
            raise RuntimeError("export exploded")
        except RuntimeError:
            sentry_sdk.capture_exception()
    assert obs.flush()
    (event,) = sentry_receiver.wait_for_events(1)
    assert event["environment"] == "staging"
    assert event["release"] == "2.3.4"
    (span,) = otlp.spans("process exports")
    assert event["contexts"]["trace"]["trace_id"] == span.trace_id
    assert event["contexts"]["trace"]["span_id"] == span.span_id
    assert event["tags"]["otel.trace_id"] == span.trace_id


def test_sentry_release_and_environment_variables_win(
    start_obs: StartObs, sentry_receiver: SentryReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_ENV", "staging")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "eu-staging")
    monkeypatch.setenv("SENTRY_RELEASE", "api@9")
    start_obs(sentry_dsn=sentry_receiver.dsn)
    sentry_sdk.capture_message("hello")
    obs.flush()
    (event,) = sentry_receiver.wait_for_events(1)
    assert (event["environment"], event["release"]) == ("eu-staging", "api@9")


def _connect() -> None:
    # Sentry ships these locals with the event unless something scrubs them.
    password = os.environ["APP_DB_PASSWORD"]
    uri = f"mongodb://app:{password}@db.internal:27017/app"
    filter = {"email": os.environ["APP_USER_EMAIL"], "status": "active"}
    raise ValueError(f"could not reach {uri} ({len(password)}, {len(filter)})")


def test_events_are_scrubbed_of_secrets_and_query_values(
    start_obs: StartObs, sentry_receiver: SentryReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Made at run time: a secret written in the test's source would show in its code context.
    monkeypatch.setenv("APP_DB_PASSWORD", secrets.token_hex(8))
    monkeypatch.setenv("APP_USER_EMAIL", f"{secrets.token_hex(6)}@example.com")
    monkeypatch.setenv("APP_API_KEY", secrets.token_hex(8))
    start_obs(sentry_dsn=sentry_receiver.dsn)
    sentry_sdk.set_extra("api_key", os.environ["APP_API_KEY"])
    try:
        _connect()
    except ValueError:
        sentry_sdk.capture_exception()
    obs.flush()
    (event,) = sentry_receiver.wait_for_events(1)
    text = json.dumps(event)
    for name in ("APP_DB_PASSWORD", "APP_USER_EMAIL", "APP_API_KEY"):
        assert os.environ[name] not in text, name
    assert "mongodb://app:***@db.internal:27017/app" in text
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["vars"]["filter"] == {"email": "?", "status": "?"}


def test_duplicate_key_errors_lose_their_values(
    start_obs: StartObs, sentry_receiver: SentryReceiver, mongo: MongoServer
) -> None:
    start_obs(sentry_dsn=sentry_receiver.dsn)
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    users = client.sentry_app.users
    users.create_index("email", unique=True)
    users.insert_one({"email": f"{secrets.token_hex(6)}@example.com"})
    try:
        users.insert_one(users.find_one({}, {"_id": 0}))
    except pymongo.errors.DuplicateKeyError:
        sentry_sdk.capture_exception()
    email = users.find_one()["email"]  # read only after the capture
    client.close()
    obs.flush()
    (event,) = sentry_receiver.wait_for_events(1)
    text = json.dumps(event)
    assert email not in text, [line for line in text.split(", ") if email in line][:5]


class Values:
    """Values the test's own frames hold without showing them (Sentry ships application
    locals as their repr): any of them in an event came from a library frame or a message."""

    def __init__(self) -> None:
        self.value = f"value-{secrets.token_hex(6)}"
        self.taken = f"taken-{secrets.token_hex(6)}@example.com"  # already in the unique index
        self.name = f"name-{secrets.token_hex(4)}"

    def __repr__(self) -> str:
        return "<values>"


def _failing_commands(users: Any, v: Values) -> dict[str, Callable[[], object]]:
    """Commands that fail with values in their filter, update or documents."""
    return {
        "find": lambda: list(users.find({"email": v.value, "$expr": {"$bogus": 1}})),
        "aggregate": lambda: list(
            users.aggregate(
                [{"$match": {"email": v.value}}, {"$project": {"n": {"$toInt": v.value}}}]
            )
        ),
        "find_one_and_update": lambda: users.find_one_and_update(
            {"email": v.taken, "note": {"$ne": v.value}},
            {"$set": {"email": v.value, "note": v.value}, "$unset": {"email": 1}},
        ),
        "update_one": lambda: users.update_one(
            {"email": v.taken}, {"$inc": {"name": 1}, "$set": {"note": v.value}}
        ),
        "insert_many": lambda: users.insert_many([{"email": v.taken, "note": v.value}]),
        "bulk_write": lambda: users.bulk_write(
            [
                pymongo.UpdateOne(
                    {"email": v.value}, {"$set": {"email": v.taken, "note": v.value}}, upsert=True
                )
            ]
        ),
    }


def test_failing_commands_send_no_value_to_sentry(
    start_obs: StartObs, sentry_receiver: SentryReceiver, mongo: MongoServer
) -> None:
    start_obs(sentry_dsn=sentry_receiver.dsn)
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    users = client.sentry_failures.users
    users.drop()
    users.create_index("email", unique=True)
    v = Values()
    users.insert_one({"email": v.taken, "name": v.name})
    failures = _failing_commands(users, v)
    for name, command in failures.items():
        try:
            command()
        except pymongo.errors.PyMongoError:
            sentry_sdk.capture_exception()
        else:
            pytest.fail(f"{name} did not fail")
    client.close()
    obs.flush()
    events = sentry_receiver.wait_for_events(len(failures))
    assert len(events) == len(failures)
    for event in events:
        text = json.dumps(event)
        for secret in (v.value, v.taken, v.name):
            assert secret not in text, [line for line in text.split(", ") if secret in line][:3]
        (error,) = event["exception"]["values"]
        assert error["module"] == "pymongo.errors"
        assert error["value"]  # the message's text before its first literal stays


def test_sentrys_own_pymongo_integration_is_off(
    start_obs: StartObs, sentry_receiver: SentryReceiver
) -> None:
    start_obs(sentry_dsn=sentry_receiver.dsn)
    assert "pymongo" not in sentry_sdk.get_client().integrations


def test_a_failing_sentry_endpoint_leaves_the_service_alone(
    start_obs: StartObs, sentry_receiver: SentryReceiver
) -> None:
    sentry_receiver.status = 500
    start_obs(sentry_dsn=sentry_receiver.dsn)

    def handler(n: int) -> int:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            sentry_sdk.capture_exception()
        return n * 2

    assert [handler(n) for n in range(5)] == [0, 2, 4, 6, 8]
    obs.flush(timeout=2)
    assert sentry_receiver.requests >= 1
    assert sentry_receiver.events == []


def test_the_application_keeps_its_own_sentry_client(
    start_obs: StartObs, sentry_receiver: SentryReceiver
) -> None:
    sentry_sdk.init(dsn=sentry_receiver.dsn, release="app-owned")
    try:
        status = start_obs(sentry_dsn=sentry_receiver.dsn)
        assert "application's Sentry client" in status["sentry"].detail
        assert sentry_sdk.get_client().options["release"] == "app-owned"
    finally:
        sentry_sdk.get_client().close()


def test_scrub_text_masks_credentials_and_echoed_values() -> None:
    assert scrub_text("redis://:pa55@cache:6379/0") == "redis://:***@cache:6379/0"
    message = (
        "E11000 duplicate key error collection: app.users index: email_1 dup key: "
        "{ email: \"a@b.c\" }, full error: {'keyValue': {'email': 'a@b.c'}}"
    )
    assert "a@b.c" not in scrub_text(message)


def test_scrub_masks_query_documents_and_secret_keys() -> None:
    event = {
        "exception": {
            "values": [
                {
                    "stacktrace": {
                        "frames": [
                            {
                                "vars": {
                                    "pipeline": [{"$match": {"email": "'x@y.z'"}}],
                                    "token": "'abc'",
                                    "count": 3,
                                }
                            }
                        ]
                    }
                }
            ]
        },
        "request": {"headers": {"Authorization": "Bearer t0k3n", "Accept": "json"}},
    }
    cleaned = scrub(event)
    frame_vars = cleaned["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert frame_vars == {
        "pipeline": [{"$match": {"email": "?"}}],
        "token": "[Filtered]",
        "count": 3,
    }
    assert cleaned["request"]["headers"] == {"Authorization": "[Filtered]", "Accept": "json"}


def test_scrub_filters_secret_keys_whatever_their_values() -> None:
    cleaned = scrub(
        {
            "password": ["hunter2"],
            "token": {"v": "abc"},
            "api_key": 1.5,
            "auth": None,
            "name": "kept",
        }
    )
    assert cleaned == {
        "password": "[Filtered]",
        "token": "[Filtered]",
        "api_key": "[Filtered]",
        "auth": None,
        "name": "kept",
    }
