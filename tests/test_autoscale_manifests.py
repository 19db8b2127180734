"""The manifests obs autoscale writes validate against the vendored KEDA, DatadogMetric
and Kubernetes autoscaling/v2 schemas (strictly: no unknown field), for any queue, and
say what KEDA and the Datadog Cluster Agent read."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from obs.agent.collectors.bullmq import STATES
from obs.autoscale.command import render
from obs.autoscale.manifests import Scaling, datadog_hpa, deployment_name, keda_scaled_object
from obs.autoscale.signals import (
    BACKLOG_STATES,
    Queue,
    backlog_datadog,
    backlog_promql,
    oldest_age_datadog,
    oldest_age_promql,
)
from support.k8s_schemas import problems

SCALING = Scaling(
    Queue("{jobs}", "reports:daily:eu"),
    deployment="report-worker",
    namespace="jobs",
    target_backlog=50,
    max_age=120,
    min_replicas=2,
    max_replicas=30,
    prometheus="http://prometheus.monitoring.svc:9090",
)
# Keys KEDA's Prometheus scaler reads (keda.sh/docs/latest/scalers/prometheus).
PROMETHEUS_TRIGGER_KEYS = {"serverAddress", "query", "threshold", "ignoreNullValues"}


def test_the_keda_scaled_object_validates() -> None:
    assert problems(keda_scaled_object(SCALING)) == []


def test_the_datadog_metrics_and_the_hpa_validate() -> None:
    documents = datadog_hpa(SCALING)
    assert [problems(d) for d in documents] == [[], [], []]


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["spec"].update(minReplicasCount=1),  # misspelt
        lambda m: m["spec"]["triggers"][0]["metadata"].update(threshold=50),  # not a string
        lambda m: m["spec"]["triggers"][0].pop("type"),
        lambda m: m["spec"].pop("scaleTargetRef"),
    ],
)
def test_the_keda_schema_refuses_a_broken_scaled_object(change: Any) -> None:
    """The validation is not vacuous: each of these is refused."""
    manifest = keda_scaled_object(SCALING)
    change(manifest)
    assert problems(manifest)


@pytest.mark.parametrize(
    "change",
    [
        lambda docs: docs[2]["spec"]["metrics"][0]["external"]["target"].update(average=1),
        lambda docs: docs[2]["spec"].update(minReplicas="2"),
        lambda docs: docs[2]["spec"].pop("maxReplicas"),
        lambda docs: docs[0]["spec"].update(queries=["x"]),
    ],
)
def test_the_schemas_refuse_a_broken_hpa_or_datadog_metric(change: Any) -> None:
    documents = datadog_hpa(SCALING)
    change(documents)
    assert any(problems(d) for d in documents)


def test_keda_triggers_scale_backlog_per_worker_and_age_as_a_whole() -> None:
    spec = keda_scaled_object(SCALING)["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "report-worker",
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 30)
    backlog, age = spec["triggers"]
    assert backlog["type"] == age["type"] == "prometheus"
    assert backlog["metricType"] == "AverageValue"
    assert age["metricType"] == "Value"
    assert backlog["metadata"]["query"] == backlog_promql(SCALING.queue)
    assert age["metadata"]["query"] == oldest_age_promql(SCALING.queue)
    assert backlog["metadata"]["threshold"] == "50"
    assert age["metadata"]["threshold"] == "120"
    for trigger in spec["triggers"]:
        assert set(trigger["metadata"]) == PROMETHEUS_TRIGGER_KEYS
        assert trigger["metadata"]["serverAddress"] == "http://prometheus.monitoring.svc:9090"
        assert trigger["metadata"]["ignoreNullValues"] == "false"


def test_the_hpa_reads_the_datadog_metrics_it_comes_with() -> None:
    backlog, age, hpa = datadog_hpa(SCALING)
    assert backlog["spec"] == {"query": backlog_datadog(SCALING.queue)}
    assert age["spec"] == {"query": oldest_age_datadog(SCALING.queue)}
    assert {d["metadata"]["namespace"] for d in (backlog, age, hpa)} == {"jobs"}
    spec = hpa["spec"]
    assert spec["scaleTargetRef"]["name"] == "report-worker"
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 30)
    by_backlog, by_age = spec["metrics"]
    # datadogmetric@<namespace>:<name>, as the Datadog Cluster Agent resolves it.
    assert by_backlog["external"]["metric"]["name"] == (
        f"datadogmetric@jobs:{backlog['metadata']['name']}"
    )
    assert by_age["external"]["metric"]["name"] == f"datadogmetric@jobs:{age['metadata']['name']}"
    assert by_backlog["external"]["target"] == {"type": "AverageValue", "averageValue": "50"}
    assert by_age["external"]["target"] == {"type": "Value", "value": "120"}


def test_the_backlog_states_are_states_the_agent_reports() -> None:
    assert set(BACKLOG_STATES) <= set(STATES)
    assert not {"delayed", "paused", "active", "waiting-children"} & set(BACKLOG_STATES)


names = st.text(min_size=1).filter(lambda s: deployment_name(s) != "")


@given(prefix=st.text(min_size=1), name=names, target=st.integers(1, 10**6))
def test_any_queue_gives_valid_manifests_that_survive_yaml(
    prefix: str, name: str, target: int
) -> None:
    queue = Queue(prefix, name)
    scaling = Scaling(queue, deployment_name(name), target_backlog=target)
    documents = [keda_scaled_object(scaling)]
    # A name with nothing Datadog keeps in a tag is refused (test_autoscale_escaping).
    with contextlib.suppress(ValueError):
        documents += datadog_hpa(scaling)
    for document in documents:
        assert problems(document) == []
    # What the command prints reads back as the same values, the queries included.
    assert list(yaml.safe_load_all(render(documents))) == documents


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target_backlog": 0}, "--target-backlog must be at least 1, got 0"),
        ({"max_age": -5}, "--max-age must be at least 1, got -5"),
        ({"min_replicas": 5, "max_replicas": 3}, "--min-replicas (5) is above --max-replicas (3)"),
        ({"max_replicas": 0}, "--max-replicas must be at least 1"),
        ({"deployment": "Report_Worker"}, "--deployment must be a Kubernetes name"),
        ({"deployment": "a" * 250}, "--deployment must be a Kubernetes name"),
        ({"namespace": "my.ns"}, "--namespace must be a Kubernetes namespace"),
        ({"prometheus": "prometheus:9090"}, "--prometheus must be an http:// or https:// URL"),
        ({"prometheus": "http://user:pw@prom:9090"}, "--prometheus must not carry credentials"),
        ({"prometheus": "http://prom:9090/a b"}, "--prometheus contains spaces or control"),
        ({"queue": Queue("bull", "")}, "--queue must not be empty"),
        ({"queue": Queue("", "q")}, "--prefix must not be empty"),
        ({"queue": Queue("bull", "q\udc80")}, "--queue is not valid UTF-8 text"),
    ],
)
def test_bad_input_is_refused_naming_the_option(change: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"queue": Queue("bull", "q"), "deployment": "q", **change}
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Scaling(**options)


def test_an_hpa_cannot_scale_to_zero_but_keda_can() -> None:
    scaling = Scaling(Queue("bull", "q"), "q", min_replicas=0)
    assert keda_scaled_object(scaling)["spec"]["minReplicaCount"] == 0
    with pytest.raises(ValueError, match="--min-replicas must be at least 1 for an HPA"):
        datadog_hpa(scaling)
