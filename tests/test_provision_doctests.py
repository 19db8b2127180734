"""The examples in the provisioning modules' docstrings run and stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "obs.dashboards.query",
    "obs.dashboards.widgets",
    "obs.dashboards.dashboard",
    "obs.monitors.monitor",
    "obs.provision.apply",
    "obs.provision.client",
    "obs.provision.identity",
    "obs.provision.importer",
    "obs.provision.live",
    "obs.provision.loader",
    "obs.provision.models",
    "obs.provision.normalize",
    "obs.provision.pacing",
    "obs.provision.plan",
    "obs.provision.problems",
    "obs.provision.query_parse",
    "obs.provision.render_dashboard",
    "obs.provision.render_monitor",
    "obs.provision.source",
    "obs.provision.validate",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no example"
