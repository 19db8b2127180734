"""Docs generated from code stay current, and every docstring example runs."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import obs
from obs import catalog

ROOT = Path(__file__).parents[1]


def _between(text: str, name: str) -> str:
    found = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert found, f"markers for {name} are missing"
    return found.group(1)


def test_instrumentation_metric_table_is_current() -> None:
    text = (ROOT / "docs" / "instrumentation.md").read_text()
    assert _between(text, "catalog:instrumentation") == catalog.reference_table(
        catalog.Emitter.INSTRUMENTATION
    ), "regenerate with obs.catalog.reference_table(Emitter.INSTRUMENTATION)"


def _modules() -> list[str]:
    names = ["obs"]
    for info in pkgutil.walk_packages(obs.__path__, "obs."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0


def test_the_count_suffixed_gauges_promtool_flags_are_documented() -> None:
    from obs.catalog import Kind
    from obs.export.prometheus_text import prometheus_name

    flagged = {
        prometheus_name(m.name, m.unit, counter=m.kind is Kind.COUNTER)
        for m in catalog.CATALOG.values()
        if m.kind is not Kind.HISTOGRAM
    }
    flagged = {n for n in flagged if n.endswith(("_count", "_sum", "_bucket"))}
    documented = set(re.findall(r"`([a-z0-9_]+)`", _between(_agent_doc(), "promtool")))
    assert documented == flagged


def _agent_doc() -> str:
    return (ROOT / "docs" / "agent.md").read_text()
