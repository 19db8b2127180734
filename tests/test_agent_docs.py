"""docs/agent.md: its generated reference tables are what the catalog and the agent's
settings say now (regenerate with `python -m obs.agent.reference docs/agent.md`)."""

from __future__ import annotations

from pathlib import Path

from obs import catalog
from obs.agent.reference import metrics_table, with_reference

DOC = Path(__file__).parent.parent / "docs" / "agent.md"


def test_the_generated_tables_are_current() -> None:
    text = DOC.read_text()
    assert with_reference(text) == text, "run: python -m obs.agent.reference docs/agent.md"


def test_every_agent_metric_is_documented() -> None:
    table = metrics_table()
    for metric in catalog.emitted_by(catalog.Emitter.AGENT):
        assert f"| `{metric.name}` |" in table
    assert "db.client.operation.duration" not in table  # in-process metrics are not the agent's


def test_the_documented_benchmark_command_exists() -> None:
    text = DOC.read_text()
    assert "python -m bench agent_queues" in text
    assert (Path(__file__).parent.parent / "bench" / "agent_queues.py").exists()
    assert "MEASUREMENTS" not in text  # the figures were filled in
