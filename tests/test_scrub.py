"""The scrubber alone: every way a secret or a query value reaches an event or a message."""

from __future__ import annotations

import json

import pytest

from obs.privacy.scrub import (
    before_breadcrumb,
    before_send,
    exception_message,
    exception_stacktrace,
    scrub,
    scrub_text,
    server_message,
)

SECRET = "s3cr3tVALUE"


def _leaks(value: object) -> bool:
    return SECRET in json.dumps(value, default=str)


@pytest.mark.parametrize(
    "text",
    [
        # keyValue holding a nested document, and braces inside the value
        f"E11000 ... full_error={{'keyValue': {{'a': {{'b': '{SECRET}'}}}}, 'code': 11000}}",
        f"{{'keyValue': {{'email': 'x}} {SECRET}'}}}}",
        f"{{\\'keyValue\\': {{\\'email\\': \\'{{{SECRET}\\'}}}}",
        # a value containing "} " past the dup key's closing brace
        f'E11000 duplicate key error collection: app.u index: e_1 dup key: {{ e: "a}} {SECRET}" }}',
        f'dup key: {{ a: {{ b: "{SECRET}" }} }}',
        # values holding line breaks: the elision runs to the end of the text, not the line
        f'dup key: {{ e: "a\n{SECRET}" }}',
        f"Failed to parse number 'a\n{SECRET}' in $convert, full error: {{'ok': 0.0}}",
        # the whole reply after "full error:"
        f"Unrecognized expression '$bogus', full error: {{'errmsg': 'x', 'v': '{SECRET}'}}",
        f"Failed to parse number '{SECRET}' in $convert, full error: {{'ok': 0.0}}",
        # a write error's op document, in reprs and reprs of reprs
        f"{{'index': 0, 'op': {{'email': '{SECRET}'}}}}",
        f"BulkWriteError({{\\'op\\': {{\\'email\\': \\'{SECRET}\\'}}}})",
        # pymongo request objects and wire bytes
        f"UpdateOne({{'email': 'x'}}, {{'$set': {{'v': '{SECRET}'}}}}, True, None)",
        f"[InsertOne({{'v': '{SECRET}'}})]",
        f"b'\\x01\\x00email\\x00{SECRET}\\x00'",
        # passwords in log lines and in URLs, whatever characters they hold
        f"could not connect: password={SECRET} (retrying)",
        f"login failed {{'password': '{SECRET}'}}",
        f'auth header "Authorization": "Bearer {SECRET}"',
        f"token: {SECRET}",
        f"redis://:pa/{SECRET}@cache:6379/0",
        f"mongodb://app:{SECRET}#/?x@db:27017/app",
        f"mongodb://app:a?b/{SECRET}@db1,db2/app?authSource=admin",
        f"mongodb://u:p@h/?authMechanismProperties=AWS_SESSION_TOKEN:{SECRET}",
        f"mongodb://u:p@h/?tlsCertificateKeyFilePassword={SECRET}&tls=true",
    ],
)
def test_scrub_text_masks_every_echoed_value(text: str) -> None:
    assert SECRET not in scrub_text(text), scrub_text(text)


def test_scrub_text_keeps_innocent_text() -> None:
    for text in (
        "timed out after 20000.0ms (serverSelectionTimeoutMS)",
        "bob's queue passed 3 checks; tokens used: 5",
        "E11000 duplicate key error collection: app.users index: email_1",
        "https://example.com/path?page=2",
    ):
        assert scrub_text(text) == text


def test_a_server_message_keeps_its_leading_description() -> None:
    assert server_message(f"Failed to parse number '{SECRET}' in $convert") == (
        "Failed to parse number …"
    )
    assert server_message(f"Unknown type name alias: {SECRET}") == "Unknown type name alias…"
    # found by the property tests: a value that starts with ":" after the separator
    assert server_message(f"Unknown type name alias: :{SECRET}") == "Unknown type name alias…"
    assert server_message(f"hint '{SECRET}' does not correspond to an existing index") == ("hint …")
    message = (
        "Plan executor error during findAndModify :: caused by :: Cannot apply $inc to a "
        f"value of non-numeric type. {{_id: '{SECRET}'}} has the field 'n'"
    )
    assert server_message(message) == (
        "Plan executor error during findAndModify :: caused by :: Cannot apply $inc to a "
        "value of non-numeric type. …"
    )


def test_library_frames_lose_their_locals_and_application_frames_are_masked() -> None:
    frames = [
        {"module": "app.handlers", "in_app": True, "vars": {"filter": {"email": SECRET}}},
        {"module": "pymongo.synchronous.command_runner", "vars": {"msg": f"b'{SECRET}'"}},
        {"module": "bson", "in_app": None, "vars": {"data": SECRET}},
        {"module": "obs.instrumentation.jobs", "vars": {"args": [SECRET]}},
        {"module": "somelib.core", "in_app": False, "vars": {"payload": SECRET}},
    ]
    event = {"exception": {"values": [{"stacktrace": {"frames": frames}}]}}
    cleaned = before_send(event, {})
    out = cleaned["exception"]["values"][0]["stacktrace"]["frames"]
    assert out[0]["vars"] == {"filter": {"email": "?"}}
    assert all("vars" not in frame for frame in out[1:])
    assert not _leaks(cleaned)


def test_write_error_documents_in_locals_are_masked() -> None:
    full_result = {
        "writeErrors": [
            {
                "index": 0,
                "code": 11000,
                "errmsg": f'E11000 duplicate key error dup key: {{ email: "{SECRET}" }}',
                "keyPattern": {"email": 1},
                "keyValue": {"email": SECRET},
                "op": {"email": SECRET, "_id": "ObjectId('x')"},
            }
        ],
        "errInfo": {"details": SECRET},
    }
    cleaned = scrub({"vars": {"full_result": full_result, "request": f"UpdateOne({SECRET})"}})
    assert not _leaks(cleaned)
    assert cleaned["vars"]["full_result"]["writeErrors"][0]["code"] == 11000
    # `op` is a name elsewhere (Sentry's span op): kept when it is a string
    assert scrub({"op": "http.server"}) == {"op": "http.server"}


def test_documents_bytes_and_deep_values_are_masked() -> None:
    assert scrub({"user": {"_id": "ObjectId('1')", "email": SECRET}}) == {
        "user": {"_id": "?", "email": "?"}
    }
    assert scrub({"raw": SECRET.encode()}) == {"raw": "b'…'"}
    deep: object = SECRET
    for _ in range(60):
        deep = {"k": deep}
    assert not _leaks(scrub(deep))


def test_headers_as_pairs_and_messages_in_breadcrumbs() -> None:
    event = {
        "request": {"headers": [["Authorization", f"Bearer {SECRET}"], ["Accept", "json"]]},
        "logentry": {"message": f"connect failed password={SECRET}", "params": []},
    }
    cleaned = before_send(event, {})
    assert cleaned["request"]["headers"] == [["Authorization", "[Filtered]"], ["Accept", "json"]]
    assert not _leaks(cleaned)
    crumb = {"category": "log", "message": f"retrying with token={SECRET}", "data": {}}
    assert not _leaks(before_breadcrumb(crumb, {}))


def test_exception_text_of_a_pymongo_error_is_cut_at_its_first_literal() -> None:
    from pymongo.errors import OperationFailure

    error = OperationFailure(
        f"Failed to parse number '{SECRET}' in $convert",
        168,
        {"errmsg": f"Failed to parse number '{SECRET}'", "code": 168},
    )
    assert exception_message(error) == "Failed to parse number …"
    try:
        try:
            raise error
        except OperationFailure as inner:
            raise RuntimeError(f"job failed: {inner}") from inner
    except RuntimeError as outer:
        trace = exception_stacktrace(outer)
    assert SECRET not in trace
    assert "pymongo.errors.OperationFailure: Failed to parse number …" in trace
    assert "RuntimeError: job failed…" in trace
