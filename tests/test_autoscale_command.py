"""obs autoscale on the command line: what it prints, where it writes, its errors and
exit codes, and the deploy/ examples it made (which must stay what it prints)."""

from __future__ import annotations

import errno
import os
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs import cli
from obs.autoscale.manifests import Scaling, datadog_hpa, keda_scaled_object
from obs.autoscale.signals import (
    Queue,
    backlog_datadog,
    backlog_promql,
    oldest_age_datadog,
    oldest_age_promql,
)
from support.k8s_schemas import problems

ROOT = Path(__file__).parents[1]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["autoscale", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_short_form_prints_a_valid_scaled_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--queue", "exports", "--target-backlog", "100")
    assert (code, err) == (0, "")
    assert out.startswith("---\n")
    (document,) = yaml.safe_load_all(out)
    assert document == keda_scaled_object(Scaling(Queue("bull", "exports"), "exports"))
    assert problems(document) == []


def test_every_option_reaches_the_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        *("--queue", "reports:daily", "--prefix", "{jobs}", "--deployment", "report-worker"),
        *("--namespace", "batch", "--target-backlog", "40", "--max-age", "90"),
        *("--min-replicas", "2", "--max-replicas", "7", "--format", "hpa-datadog"),
        *("--prometheus", "https://prom.example:9090"),
    )
    assert code == 0
    scaling = Scaling(
        Queue("{jobs}", "reports:daily"),
        "report-worker",
        namespace="batch",
        target_backlog=40,
        max_age=90,
        min_replicas=2,
        max_replicas=7,
        prometheus="https://prom.example:9090",
    )
    assert list(yaml.safe_load_all(out)) == datadog_hpa(scaling)


def test_datadog_renamed_tags_are_noted_on_stderr_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--queue", "Mail", "--prefix", "{bull}", "--format", "hpa-datadog")
    assert code == 0
    assert "bullmq.queue.name:mail" in out
    assert "Datadog stores bullmq.queue.name 'Mail' as 'mail'" in err
    assert "Datadog stores bullmq.queue.prefix '{bull}' as '_bull'" in err
    assert "note" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "q", "--target-backlog", "0"], "--target-backlog must be at least 1, got 0"),
        (["--queue", "q", "--target-backlog", "ten"], "must be a whole number, got 'ten'"),
        (["--queue", "q", "--min-replicas", "4", "--max-replicas", "2"], "is above --max-replicas"),
        (["--queue", "q", "--deployment", "Bad_Name"], "--deployment must be a Kubernetes name"),
        (["--queue", "q", "--namespace", "a.b"], "--namespace must be a Kubernetes namespace"),
        (["--queue", "q", "--prometheus", "http://u:secret@p:9090"], "must not carry credentials"),
        (["--queue", "q", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["--queue", ""], "--queue must not be empty"),
        (["--queue", "q", "--prefix", ""], "--prefix must not be empty"),
        (["--queue", "{}"], "no Kubernetes name can be made of --queue '{}': give --deployment"),
        (["--queue", "{}", "--deployment", "w", "--format", "hpa-datadog"], "no character Datadog"),
        (["--queue", "q", "--min-replicas", "0", "--format", "hpa-datadog"], "for an HPA"),
        (["--target-backlog", "5"], "the following arguments are required: --queue"),
    ],
)
def test_bad_input_exits_1_with_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    try:
        code, out, err = run(capsys, *args)
    except SystemExit as done:  # argparse's own errors (obs's parser exits 1, not 2)
        code = int(str(done.code))
        out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert message in err
    assert "secret" not in err
    last = err.strip().splitlines()[-1]
    assert message in last


def test_output_file_is_written_whole(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "scaling.yaml"
    code, out, err = run(capsys, "--queue", "exports", "-o", str(target))
    assert (code, out) == (0, "")
    assert f"wrote {target}" in err
    assert list(yaml.safe_load_all(target.read_text())) == [
        keda_scaled_object(Scaling(Queue("bull", "exports"), "exports"))
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["scaling.yaml"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open() would make it


def test_a_failed_write_keeps_the_old_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "scaling.yaml"
    target.write_text("old\n")

    def disk_full(source: str, destination: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    code, out, err = run(capsys, "--queue", "exports", "-o", str(target))
    assert (code, out) == (1, "")
    assert f"obs autoscale: cannot write {target}: No space left on device" in err
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scaling.yaml"]  # the temporary is gone


def test_a_missing_output_folder_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--queue", "exports", "-o", str(tmp_path / "no" / "x.yaml"))
    assert code == 1
    assert "cannot write" in err


@pytest.mark.parametrize("name", ["autoscale-keda.yaml", "autoscale-datadog.yaml"])
def test_the_deploy_examples_are_what_the_command_prints(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    text = (ROOT / "deploy" / name).read_text()
    header = [line for line in text.splitlines(keepends=True) if line.startswith("#")]
    body = text[len("".join(header)) :]
    (command,) = [line for line in header if line.startswith("# obs autoscale ")]
    words = shlex.split(command.removeprefix("# obs "))
    code, out, _ = run(capsys, *words[1:])
    assert code == 0
    assert body == out, f"regenerate deploy/{name} with: obs {shlex.join(words)}"
    assert all(problems(document) == [] for document in yaml.safe_load_all(body))


@pytest.mark.parametrize(
    ("heading", "queries"),
    [
        ("The queries, for `--queue exports --prefix bull`:", (backlog_promql, oldest_age_promql)),
        ("The queries use the metrics' OTLP names", (backlog_datadog, oldest_age_datadog)),
    ],
)
def test_the_queries_in_the_docs_are_the_ones_written(heading: str, queries: Any) -> None:
    text = (ROOT / "docs" / "autoscale.md").read_text()
    after = text[text.index(heading) :]
    block = after.split("```\n", 2)[1]  # the first fenced block after the heading
    queue = Queue("bull", "exports")
    assert block.split() == " ".join(query(queue) for query in queries).split()
