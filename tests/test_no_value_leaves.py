"""No query value leaves the process, whatever the values: property tests over generated
documents, filters, pipelines and updates (support.generated) through every output obs
has: db.query.text and query shapes, index-check's table, JSON, JUnit, shapes file and
baseline, the agent's profiler points and logs, Sentry events and exceptions recorded on
spans. The servers' own end of it (real pymongo commands exported over OTLP and sent to
Sentry) is in test_no_value_leaves_servers.py."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
import sentry_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from obs.agent.collectors.mongo_plans import PlanCache
from obs.agent.collectors.mongo_profile import ProfileCollector
from obs.index_check import render
from obs.index_check.baseline import Baseline, gate
from obs.index_check.check import check, distinct_shapes
from obs.index_check.explainer import Explainer
from obs.index_check.model import Sample, Thresholds
from obs.index_check.shapes_file import shape_lines
from obs.mongo_queries.masking import masked_text
from obs.mongo_queries.shape import shape_of
from obs.privacy import scrub
from obs.privacy.span_exceptions import exception_attributes
from support.generated import commands, documents, leaked, strings, values_of

EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@EXAMPLES
@given(commands())
def test_masked_text_and_shapes_hold_no_value(command: dict[str, Any]) -> None:
    texts = [masked_text(command)]
    shape = shape_of("app", command)
    if shape is not None:
        texts += [shape.text, shape.summary, json.dumps(shape.canonical())]
    assert not leaked(command, texts)


def _first_value(command: dict[str, Any]) -> str:
    found = sorted(values_of(command))
    return found[0] if found else "nothing"


class _Server:
    """A client whose server explains a command as a collection scan, or refuses it with a
    message quoting one of its values (as mongod's messages do)."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    def __getitem__(self, name: str) -> Any:
        return self

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.refuse:
            message = f"Failed to parse: {_first_value(body)} in '{_first_value(body)}'"
            raise OperationFailure(message, 9, {"errmsg": message, "codeName": "FailedToParse"})
        return {"queryPlanner": {"namespace": "app.users", "winningPlan": {"stage": "COLLSCAN"}}}

    def list_indexes(self) -> list[Any]:
        return []


@EXAMPLES
@given(st.lists(commands(), min_size=1, max_size=4), st.booleans())
def test_index_check_outputs_hold_no_value(batch: list[dict[str, Any]], refuse: bool) -> None:
    samples = [Sample("app", command, f"t:{n}") for n, command in enumerate(batch)]
    verdicts = check(samples, Explainer(_Server(refuse)), Thresholds())
    outcome = gate(verdicts, Baseline())
    texts = [render.table(outcome), render.to_json(outcome), render.to_junit(outcome)]
    texts += list(shape_lines(distinct_shapes(samples)))
    texts.append(Baseline.of(verdicts).to_json())
    assert not leaked(batch, texts)


@EXAMPLES
@given(st.lists(commands(), min_size=1, max_size=4), st.booleans())
def test_the_agents_profiler_points_and_logs_hold_no_value(
    batch: list[dict[str, Any]], summarised: bool
) -> None:
    def explain(database: str, body: Any) -> Any:
        raise OperationFailure(f"cannot explain {_first_value(body)}", 2, {})

    collector = ProfileCollector(None, {}, PlanCache(explain, per_minute=1000), backfill=True)
    entries = []
    for command in batch:
        entry: dict[str, Any] = {"op": "command", "ns": "app.users", "command": command}
        entry.update(millis=5, docsExamined=10, keysExamined=1)
        if summarised:
            entry["planSummary"] = "COLLSCAN"
        entries.append(entry)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("obs.agent").addHandler(handler)
    try:
        collected = collector.measure(entries)
    finally:
        logging.getLogger("obs.agent").removeHandler(handler)
    points = [*collected.readings, *collected.observations]
    texts = [json.dumps(p.attributes) for p in points] + records
    assert not leaked(batch, texts)


def _failures(document: dict[str, Any], value: str) -> list[BaseException]:
    """The errors pymongo raises about ``document`` and ``value``, as it formats them."""
    key = next(iter(document))
    index = f"E11000 duplicate key error collection: app.users index: {key}_1"
    dup = f'{index} dup key: {{ {key}: "{value}" }}'
    details = {"errmsg": dup, "code": 11000, "keyPattern": {key: 1}, "keyValue": document}
    return [
        DuplicateKeyError(dup, 11000, details),
        OperationFailure(f"Failed to parse number '{value}' in $convert", 9, {"errmsg": value}),
        OperationFailure(f"Unknown type name alias: {value}", 2, {"errmsg": value}),
        BulkWriteError({"writeErrors": [{**details, "index": 0, "op": document}]}),
    ]


def _captured_events(errors: list[BaseException], command: dict[str, Any]) -> list[Any]:
    """Sentry events of ``errors`` as obs's client makes them (before_send and all), each
    raised in a frame that holds the command under the name ``filter``."""
    events: list[Any] = []

    class Capture(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope: Any) -> None:
            events.extend(item.payload.json for item in envelope.items if item.payload.json)

    client = sentry_sdk.Client(
        dsn="http://key@127.0.0.1:9/1",
        transport=Capture,
        before_send=scrub.before_send,
        before_breadcrumb=scrub.before_breadcrumb,
        default_integrations=False,
    )
    for error in errors:
        try:
            filter = command  # noqa: F841 - a local Sentry reads
            raise error
        except BaseException:
            event, hint = sentry_sdk.utils.event_from_exception(
                sys.exc_info(), client_options=client.options
            )
            client.capture_event(event, hint)
    client.close()
    return events


@EXAMPLES
@given(documents(), strings, commands())
def test_sentry_events_and_span_exceptions_hold_no_value(
    document: dict[str, Any], value: str, command: dict[str, Any]
) -> None:
    errors = _failures(document, value)
    texts = [json.dumps(event) for event in _captured_events(errors, command)]
    assert len(texts) == len(errors)
    for error in errors:
        texts.append(scrub.exception_message(error))
        texts.append(scrub.exception_stacktrace(error))
        texts.append(json.dumps(exception_attributes(error)))
    assert not leaked([document, value, command], texts)


@pytest.mark.parametrize("detail", ["scrubbed", "type"])
def test_span_exception_detail_type_holds_the_type_only(detail: str) -> None:
    error = DuplicateKeyError('E11000 dup key: { a: "zqabcdefghij" }', 11000)
    attributes = exception_attributes(error, detail)  # type: ignore[arg-type]
    assert attributes["exception.type"] == "pymongo.errors.DuplicateKeyError"
    assert "zqabcdefghij" not in json.dumps(attributes)
    assert (set(attributes) == {"exception.type"}) == (detail == "type")
