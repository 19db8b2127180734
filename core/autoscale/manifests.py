"""The Kubernetes objects that scale a queue's workers, as values (YAML-ready dicts).

Two ways to feed the Horizontal Pod Autoscaler the queue's signals (``obs.autoscale.
signals``):

- :func:`keda_scaled_object`: a KEDA ``ScaledObject`` with two Prometheus triggers on the
  agents' ``/metrics`` as Prometheus scraped them: backlog per worker (``AverageValue``:
  replicas = backlog / target) and oldest waiting age (``Value``: replicas grow by the
  ratio of the age to its limit). The HPA follows whichever asks for more.
- :func:`datadog_hpa`: an ``autoscaling/v2`` HPA on external metrics served by the Datadog
  Cluster Agent, each backed by a ``DatadogMetric`` holding the full Datadog query (the
  way Datadog recommends: any query, one series, reported in the object's status).

Example:
    >>> scaling = Scaling(Queue("bull", "exports"), deployment="export-worker")
    >>> keda_scaled_object(scaling)["spec"]["triggers"][0]["metadata"]["threshold"]
    '100'
    >>> [d["kind"] for d in datadog_hpa(scaling)]
    ['DatadogMetric', 'DatadogMetric', 'HorizontalPodAutoscaler']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from obs.autoscale.signals import (
    Queue,
    backlog_datadog,
    backlog_promql,
    oldest_age_datadog,
    oldest_age_promql,
)

Manifest = dict[str, Any]

# prometheus-operator's Service for a Prometheus in the "monitoring" namespace.
DEFAULT_PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"
# Names of the objects made for a deployment NAME: NAME, NAME-backlog, NAME-oldest-age.
_SUFFIXES = ("-backlog", "-oldest-age")
_MAX_DEPLOYMENT = 253 - max(len(s) for s in _SUFFIXES)  # a name is at most 253 characters
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL.pattern}(\.{_DNS_LABEL.pattern})*")
_NOT_IN_NAME = re.compile(r"[^a-z0-9]+")
_LABELS = {"app.kubernetes.io/managed-by": "obs"}


def deployment_name(queue_name: str) -> str:
    """A Kubernetes name made of a queue's name (the default deployment to scale).

    Example:
        >>> deployment_name("Reports:daily:EU")
        'reports-daily-eu'
    """
    return _NOT_IN_NAME.sub("-", queue_name.lower()).strip("-")[:_MAX_DEPLOYMENT].rstrip("-")


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes of a command line
        return False
    return True


def _check_prometheus(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--prometheus must be an http:// or https:// URL, got {url!r}")
    if parts.username is not None or parts.password is not None:
        # The manifest is printed and stored in Git: credentials belong in a KEDA
        # TriggerAuthentication backed by a Secret.
        raise ValueError(
            "--prometheus must not carry credentials: reference a KEDA "
            "TriggerAuthentication instead"
        )
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ValueError(f"--prometheus contains spaces or control characters: {url!r}")


@dataclass(frozen=True)
class Scaling:
    """What to scale on what: a queue, the deployment of its workers and the targets.

    Raises ValueError naming the option that is wrong.
    """

    queue: Queue
    deployment: str
    namespace: str = "default"
    target_backlog: int = 100  # jobs waiting per worker
    max_age: int = 300  # seconds the oldest waiting job may wait
    min_replicas: int = 1
    max_replicas: int = 10
    prometheus: str = DEFAULT_PROMETHEUS

    def __post_init__(self) -> None:
        for option, value in (("--queue", self.queue.name), ("--prefix", self.queue.prefix)):
            if not value:
                raise ValueError(f"{option} must not be empty")
            if not _encodes(value):
                raise ValueError(f"{option} is not valid UTF-8 text: {value!r}")
        if not _DNS_SUBDOMAIN.fullmatch(self.deployment) or len(self.deployment) > _MAX_DEPLOYMENT:
            raise ValueError(
                f"--deployment must be a Kubernetes name (lowercase letters, digits, '-' "
                f"and '.', at most {_MAX_DEPLOYMENT} characters), got {self.deployment!r}"
            )
        if not _DNS_LABEL.fullmatch(self.namespace) or len(self.namespace) > 63:
            raise ValueError(
                "--namespace must be a Kubernetes namespace (lowercase letters, digits "
                f"and '-', at most 63 characters), got {self.namespace!r}"
            )
        for option, number, least in (
            ("--target-backlog", self.target_backlog, 1),
            ("--max-age", self.max_age, 1),
            ("--min-replicas", self.min_replicas, 0),
            ("--max-replicas", self.max_replicas, 1),
        ):
            if number < least:
                raise ValueError(f"{option} must be at least {least}, got {number}")
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"--min-replicas ({self.min_replicas}) is above --max-replicas "
                f"({self.max_replicas})"
            )
        _check_prometheus(self.prometheus)

    def metadata(self, name: str) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace, "labels": dict(_LABELS)}

    def target(self) -> dict[str, str]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.deployment}


def _prometheus_trigger(
    scaling: Scaling, name: str, metric_type: str, query: str, limit: int
) -> dict[str, Any]:
    return {
        "type": "prometheus",
        "name": name,
        "metricType": metric_type,
        "metadata": {
            "serverAddress": scaling.prometheus,
            "query": query,
            "threshold": str(limit),
            # No series (the agent lost the queue's Redis, or the queue does not exist):
            # an error, on which the HPA keeps the replicas it has, not a 0 that would
            # scale the workers down.
            "ignoreNullValues": "false",
        },
    }


def keda_scaled_object(scaling: Scaling) -> Manifest:
    """A KEDA ScaledObject scaling the deployment on the queue's Prometheus signals."""
    queue = scaling.queue
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": scaling.metadata(scaling.deployment),
        "spec": {
            "scaleTargetRef": scaling.target(),
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "triggers": [
                _prometheus_trigger(
                    scaling, "backlog", "AverageValue", backlog_promql(queue),
                    scaling.target_backlog,
                ),
                _prometheus_trigger(
                    scaling, "oldest-waiting-age", "Value", oldest_age_promql(queue),
                    scaling.max_age,
                ),
            ],
        },
    }  # fmt: skip


def _datadog_metric(scaling: Scaling, name: str, query: str) -> Manifest:
    return {
        "apiVersion": "datadoghq.com/v1alpha1",
        "kind": "DatadogMetric",
        "metadata": scaling.metadata(name),
        "spec": {"query": query},
    }


def _external(scaling: Scaling, metric: Manifest, target: dict[str, str]) -> dict[str, Any]:
    name = f"datadogmetric@{scaling.namespace}:{metric['metadata']['name']}"
    return {"type": "External", "external": {"metric": {"name": name}, "target": target}}


def datadog_hpa(scaling: Scaling) -> list[Manifest]:
    """Two DatadogMetrics (backlog, oldest waiting age) and the HPA that reads them
    through the Datadog Cluster Agent; in the order to apply them."""
    if scaling.min_replicas < 1:
        raise ValueError("--min-replicas must be at least 1 for an HPA (KEDA can scale to 0)")
    backlog_suffix, age_suffix = _SUFFIXES
    deployment = scaling.deployment
    backlog = _datadog_metric(scaling, deployment + backlog_suffix, backlog_datadog(scaling.queue))
    age = _datadog_metric(scaling, deployment + age_suffix, oldest_age_datadog(scaling.queue))
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": scaling.metadata(deployment),
        "spec": {
            "scaleTargetRef": scaling.target(),
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                _external(
                    scaling,
                    backlog,
                    {"type": "AverageValue", "averageValue": str(scaling.target_backlog)},
                ),
                _external(scaling, age, {"type": "Value", "value": str(scaling.max_age)}),
            ],
        },
    }
    return [backlog, age, hpa]
