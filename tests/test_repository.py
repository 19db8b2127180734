"""The repository stands alone: no test reads outside the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.outside_reads import CHECKOUT, SIBLINGS_WATCHED, is_outside

TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    not SIBLINGS_WATCHED, reason="the checkout's parent is a system place (a clone in /tmp)"
)


def test_a_sibling_folder_counts_as_outside() -> None:
    assert is_outside(str(CHECKOUT.parent / "shared" / "datadog" / "openapi-v1.yaml"))
    assert not is_outside(str(TESTS / "datadog_api" / "openapi-v1.yaml"))


def test_a_test_that_reads_outside_the_checkout_fails(tmp_path: Path) -> None:
    outside = CHECKOUT.parent  # exists here, and is not part of the checkout
    (tmp_path / "test_reads.py").write_text(
        "def test_reads():\n"
        "    try:\n"
        f"        open({str(outside)!r}).close()\n"
        "    except OSError:\n"  # a folder: opening fails, after the audit event
        "        pass\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "support.outside_reads", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert f"opened outside the checkout: {outside}" in done.stdout
