"""Ownership against the stand-in: projects keep repositories apart in one organisation, the
marker counts only as the description's last line, UI clones are never touched, and objects
applied before projects existed are adopted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.datadog_standin import DatadogStandIn
from support.provision_run import provision, write_definitions

BOARD_AND_MONITOR = """
from obs import catalog
from obs.dashboards import Dashboard, Note, Timeseries, avg
from obs.monitors import Monitor, Thresholds

BOARD = Dashboard("shared.board", "{title}", (Note("{title}"),
    Timeseries("Memory", (avg(catalog.REDIS_MEMORY_USED),))))
MEMORY = Monitor("shared.memory", "{title} memory", avg(catalog.REDIS_MEMORY_USED), ">",
                 Thresholds(critical=100), "Memory.")
"""


@pytest.fixture
def standin() -> Iterator[DatadogStandIn]:
    server = DatadogStandIn().start()
    yield server
    server.stop()
    assert server.violations == []


def team(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return write_definitions(folder, BOARD_AND_MONITOR.format(title=f"Team {name}"))


def run(standin: DatadogStandIn, source: Path, *args: str, project: str) -> str:
    done = provision(standin, *args, "--no-defaults", "--from", source, "--project", project)
    assert done.rc in (0, 2), done.text
    return done.out


def test_two_projects_with_the_same_keys_never_touch_each_other(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    a, b = team(tmp_path, "a"), team(tmp_path, "b")
    run(standin, a, "apply", "--yes", project="team-a")
    run(standin, b, "apply", "--yes", project="team-b")
    assert sorted(d["title"] for d in standin.state.dashboards.values()) == ["Team a", "Team b"]
    assert len(standin.state.monitors) == 2
    # Each plans empty, and sees nothing of the other to prune.
    for source, project in ((a, "team-a"), (b, "team-b")):
        plan = provision(
            standin, "plan", "--prune", "--no-defaults", "--from", source, "--project", project
        )
        assert plan.rc == 0, plan.text
        assert f"Project {project} (--project)" in plan.out
    # Team a removes everything it defines, with --prune: team b's objects stay as they are.
    before_b = {i: d for i, d in standin.state.dashboards.items() if d["title"] == "Team b"} | {
        i: m for i, m in standin.state.monitors.items() if m["name"] == "Team b memory"
    }
    empty = write_definitions(tmp_path, "", "empty.py")
    out = run(standin, empty, "apply", "--yes", "--prune", project="team-a")
    assert "2 to delete" in out
    remaining = {**standin.state.dashboards, **standin.state.monitors}
    assert remaining == before_b
    assert "0 to create, 0 to update, 0 to delete, 2 unchanged" in run(
        standin, b, "plan", "--prune", project="team-b"
    )


def test_the_default_project_is_the_definitions_repository(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    repository = tmp_path / "orders-service"
    (repository / ".git").mkdir(parents=True)
    (repository / "observability").mkdir()
    source = write_definitions(repository / "observability", BOARD_AND_MONITOR.format(title="O"))
    plan = provision(standin, "plan", "--no-defaults", "--from", source)
    assert plan.rc == 2
    assert f"Project orders-service (derived from the repository {repository};" in plan.out
    applied = provision(
        standin, "apply", "--yes", "--no-defaults", "--from", source, OBS_PROVISION_PROJECT=""
    )
    assert applied.rc == 0, applied.text
    monitor = next(iter(standin.state.monitors.values()))
    assert "obs-project:orders-service" in monitor["tags"]
    # The environment variable names it too, and the same key there is another object.
    other = provision(
        standin, "plan", "--no-defaults", "--from", source, OBS_PROVISION_PROJECT="billing"
    )
    assert "Project billing (OBS_PROVISION_PROJECT)" in other.out
    assert "2 to create" in other.out


def test_a_marker_quoted_inside_a_description_is_not_ownership(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    a = team(tmp_path, "a")
    quoted = (
        "Our runbook. obs marks its dashboards with a line like\n"
        "Managed by obs provision (obs-project:team-a obs-id:shared.board). Edits made here "
        "are overwritten.\nbut this one is made by hand."
    )
    mine = standin.put_dashboard(
        {"title": "Hand made", "layout_type": "ordered", "widgets": [], "description": quoted}
    )
    out = run(standin, a, "apply", "--yes", project="team-a")
    assert "create dashboard shared.board" in out
    assert standin.state.dashboards[mine]["description"] == quoted
    assert standin.state.dashboards[mine]["title"] == "Hand made"


def test_clones_made_in_the_ui_are_reported_and_never_touched(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    a = team(tmp_path, "a")
    run(standin, a, "apply", "--yes", project="team-a")
    [board] = standin.state.dashboards
    [monitor] = standin.state.monitors
    board_clone = standin.clone_dashboard(board)
    monitor_clone = standin.clone_monitor(monitor)
    clones = {
        board_clone: dict(standin.state.dashboards[board_clone]),
        monitor_clone: dict(standin.state.monitors[monitor_clone]),
    }
    plan = provision(
        standin, "plan", "--prune", "--no-defaults", "--from", a, "--project", "team-a"
    )
    assert plan.rc == 0, plan.text
    assert f"not ours: dashboard shared.board (id {board_clone})" in plan.out
    assert f"a copy of dashboard {board}" in plan.out
    assert f"not ours: monitor shared.memory (id {monitor_clone})" in plan.out
    # Even with no definitions left, prune deletes the originals and never the clones.
    empty = write_definitions(tmp_path, "", "empty.py")
    out = run(standin, empty, "apply", "--yes", "--prune", project="team-a")
    assert "2 to delete" in out
    assert {**standin.state.dashboards, **standin.state.monitors} == clones
    assert all(e.method != "DELETE" or str(c) not in e.path for e in standin.log for c in clones)


def test_objects_applied_before_projects_are_adopted_on_the_next_apply(
    standin: DatadogStandIn, tmp_path: Path
) -> None:
    a = team(tmp_path, "a")
    export = tmp_path / "export"
    assert provision(None, "export", export, "--no-defaults", "--from", a, "--project", "x").rc == 0
    board = json.loads((export / "dashboards" / "shared.board.json").read_text())
    memory = json.loads((export / "monitors" / "shared.memory.json").read_text())
    # As an older obs wrote them: no project, no bound id.
    board["description"] = board["description"].replace("obs-project:x ", "")
    memory["tags"] = [t for t in memory["tags"] if not t.startswith("obs-project:")]
    legacy_board = standin.put_dashboard(board)
    legacy_monitor = standin.put_monitor(memory)
    # Another legacy object no definition of this project names: left alone.
    orphan = standin.put_monitor(
        {**memory, "tags": ["managed-by:obs", "obs-id:someone.else"], "name": "Orphan"}
    )
    plan = provision(standin, "plan", "--no-defaults", "--from", a, "--project", "team-a")
    assert plan.rc == 2, plan.text
    assert f"~ update dashboard shared.board (id {legacy_board})" in plan.out
    assert f"~ update monitor shared.memory (id {legacy_monitor})" in plan.out
    assert "ownership: marked before projects existed, adopted into this project" in plan.out
    assert f"not ours: monitor someone.else (id {orphan})" in plan.out
    assert "0 to create, 2 to update, 0 to delete" in plan.out
    applied = provision(
        standin, "apply", "--yes", "--prune", "--no-defaults", "--from", a, "--project", "team-a"
    )
    assert applied.rc == 0, applied.text
    assert set(standin.state.dashboards) == {legacy_board}
    assert set(standin.state.monitors) == {legacy_monitor, orphan}
    assert f"obs-bound:{legacy_monitor}" in standin.state.monitors[legacy_monitor]["tags"]
    assert "obs-project:team-a" in standin.state.monitors[legacy_monitor]["tags"]
    assert f"obs-bound:{legacy_board})" in standin.state.dashboards[legacy_board]["description"]
    again = provision(
        standin, "plan", "--prune", "--no-defaults", "--from", a, "--project", "team-a"
    )
    assert again.rc == 0, again.text
