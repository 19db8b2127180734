"""No query value leaves the process, end to end: generated filters, pipelines, updates and
documents sent by real pymongo to a real server (SecantusDB), inside obs.job, with obs
exporting spans and metrics over OTLP and errors to Sentry. Nothing generated may appear
in any exported byte (span names and attributes, db.query.text, exception events, metric
attributes) or in any Sentry event, whether the commands succeed or fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pymongo
import pytest
import sentry_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import obs
from obs.runtime.status import Status
from support.generated import documents, filters, leaked, pipelines, updates
from support.otlp_receiver import GrpcReceiver
from support.sentry_receiver import SentryReceiver
from support.servers import MongoServer
from support.waiting import wait_for

pytestmark = pytest.mark.servers  # starts servers, processes or a browser


def test_generated_commands_export_and_report_no_value(
    start_obs: Callable[..., Status],
    otlp: GrpcReceiver,
    sentry_receiver: SentryReceiver,
    mongo: MongoServer,
) -> None:
    start_obs(sentry_dsn=sentry_receiver.dsn)
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo.uri)
    users = client.generated.users
    client.generated.orders.insert_one({"key": "k", "amount": 1})

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(filters, pipelines, updates, st.lists(documents(), min_size=1, max_size=3))
    def run(filter: Any, pipeline: Any, update: Any, docs: Any) -> None:
        otlp.clear()
        sentry_receiver.events.clear()
        users.drop()
        operations: list[Callable[[], object]] = [
            lambda: users.insert_many(docs),
            lambda: users.insert_many(docs),  # again: the same _ids, duplicate keys
            lambda: list(users.find(filter).limit(3)),
            lambda: list(users.aggregate(pipeline)),
            lambda: users.update_many(filter, update),
            lambda: users.find_one_and_update(filter, update),
        ]
        failed = 0
        for operation in operations:
            try:
                with obs.job("generated"):
                    operation()
            except pymongo.errors.PyMongoError:
                sentry_sdk.capture_exception()
                failed += 1
        assert failed >= 1  # the duplicate insert at least
        assert obs.flush()
        assert wait_for(lambda: len(sentry_receiver.events) >= failed)
        texts = [otlp.exported(), *(json.dumps(e) for e in sentry_receiver.events)]
        assert not leaked([filter, pipeline, update, docs], texts)

    try:
        run()
    finally:
        client.close()
