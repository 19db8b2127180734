"""Validators for the Kubernetes objects ``obs autoscale`` writes, from the schemas
vendored in tests/k8s_schemas (see its README for sources and versions)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource

FOLDER = Path(__file__).parents[1] / "k8s_schemas"


def strict(schema: Any) -> Any:
    """``schema`` refusing unknown fields: ``additionalProperties: false`` on every object
    schema that lists its properties and says nothing of others (what ``kubectl apply
    --validate=strict`` does with a CRD whose schema allows them)."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def _crd_schema(path: Path, version: str) -> Any:
    crd = yaml.safe_load(path.read_text())
    (found,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return found["schema"]["openAPIV3Schema"]


@cache
def validators() -> dict[tuple[str, str], Validator]:
    """A validator per (apiVersion, kind) of the objects obs writes."""
    keda = strict(_crd_schema(FOLDER / "keda.sh_scaledobjects.yaml", "v1alpha1"))
    datadog_metric = strict(
        json.loads((FOLDER / "datadoghq.com_datadogmetrics_v1alpha1.json").read_text())
    )
    hpa = json.loads((FOLDER / "horizontalpodautoscaler-autoscaling-v2.json").read_text())
    definitions = json.loads((FOLDER / "_definitions.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        definitions["$id"], Resource.from_contents(definitions)
    )
    return {
        ("keda.sh/v1alpha1", "ScaledObject"): Draft202012Validator(keda),
        ("datadoghq.com/v1alpha1", "DatadogMetric"): Draft202012Validator(datadog_metric),
        ("autoscaling/v2", "HorizontalPodAutoscaler"): Draft202012Validator(hpa, registry=registry),
    }


def problems(manifest: dict[str, Any]) -> list[str]:
    """What the schema of ``manifest``'s kind refuses in it (empty: valid)."""
    validator = validators()[manifest["apiVersion"], manifest["kind"]]
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
