"""Which catalog metric and attribute keys a Prometheus sample stands for.

The exposition obs writes (:mod:`obs.export.prometheus_text`, used by the agent and by services
with ``OTEL_METRICS_EXPORTER=prometheus``) derives each sample name from a catalog entry's
name, unit and kind, and each label from an attribute key with ``.`` turned into ``_``.
This module inverts that, from the catalog alone: a sample name no catalog entry produces
is not obs's and is ignored, never matched by a guess.

Example:
    >>> from obs import catalog
    >>> names = SampleNames(catalog.CATALOG.values())
    >>> target = names.lookup("db_client_operation_duration_seconds_bucket")
    >>> target.metric.name, target.role
    ('db.client.operation.duration', 'bucket')
    >>> names.tags(target.metric, {"db_collection_name": "users", "le": "0.1"})
    (('db.collection.name', 'users'),)
    >>> names.lookup("node_cpu_seconds_total") is None
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from obs.catalog import Kind, Metric
from obs.export.prometheus_text import prometheus_label, prometheus_name

Role = Literal["value", "bucket", "sum", "count"]
Tags = tuple[tuple[str, str], ...]

# Labels of the exposition format itself, not attributes.
_STRUCTURAL = frozenset({"le", "quantile"})
# OpenTelemetry's Prometheus compatibility puts resource attributes on ``target_info``;
# Datadog derives these tags from the same attributes (unified service tagging).
RESOURCE_LABELS: Mapping[str, str] = {
    "deployment_environment": "env",
    "deployment_environment_name": "env",  # the newer name wins when both are present
    "service_name": "service",
    "service_version": "version",
    "host_name": "host",
}
TARGET_INFO = "target_info"


@dataclass(frozen=True)
class Target:
    """A sample's catalog metric and what the sample carries of it."""

    metric: Metric
    role: Role


class SampleNames:
    """Sample name -> catalog metric, and labels -> attribute keys, for a set of metrics."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._targets: dict[str, Target] = {}
        self._labels: dict[str, dict[str, str]] = {}
        for metric in metrics:
            base = prometheus_name(metric.name, metric.unit, counter=metric.kind is Kind.COUNTER)
            if metric.kind is Kind.HISTOGRAM:
                for role in ("bucket", "sum", "count"):
                    self._add(f"{base}_{role}", Target(metric, role))
            else:
                self._add(base, Target(metric, "value"))
            self._labels[metric.name] = {prometheus_label(a): a for a in metric.attributes}

    def _add(self, name: str, target: Target) -> None:
        if name in self._targets:
            other = self._targets[name].metric.name
            raise ValueError(f"{target.metric.name} and {other} both expose {name}")
        self._targets[name] = target

    def lookup(self, sample_name: str) -> Target | None:
        """The catalog metric behind ``sample_name``, or None when obs does not emit it."""
        return self._targets.get(sample_name)

    def tags(self, metric: Metric, labels: Mapping[str, str]) -> Tags:
        """The sample's labels as attribute keys, sorted; undeclared labels keep their
        Prometheus name so that series differing only in them stay apart."""
        known = self._labels[metric.name]
        return tuple(
            sorted(
                (known.get(label, label), value)
                for label, value in labels.items()
                if label not in _STRUCTURAL
            )
        )


def resource_tags(labels: Mapping[str, str]) -> Tags:
    """Datadog's resource tags (env, service, version, host) from ``target_info`` labels.

    Example:
        >>> resource_tags({"service_name": "api", "deployment_environment": "prod", "x": "1"})
        (('env', 'prod'), ('service', 'api'))
    """
    found = {tag: labels[label] for label, tag in RESOURCE_LABELS.items() if label in labels}
    return tuple(sorted(found.items()))
