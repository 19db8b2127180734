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
