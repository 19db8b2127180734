"""Headless Chromium: the rendered DOM of a page, or a PNG of it (``obs preview --png``).

Chromium runs with a fresh profile and without anything that reaches the network on its
own (sync, component updates, QUIC), so that a snapshot in CI only talks to the preview.
``--virtual-time-budget`` lets the page's script fetch and draw before Chromium dumps or
shoots. A PNG takes two runs: the first reads the height the page reports once drawn, the
second shoots a window that tall, so the whole dashboard is in the picture.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH = 1280
_HEIGHT = re.compile(r'data-height="(\d+)"')
_RENDERED = re.compile(r'data-rendered="\d+"')


class SnapshotError(Exception):
    """Chromium is missing or did not render the page (the message says which)."""


def find_chromium() -> str:
    """The path of a Chromium binary; SnapshotError says how to install one."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise SnapshotError(
        "chromium is not installed: run `make chromium` (or `apt-get install chromium`)"
    )


def _run(url: str, flags: list[str], budget_ms: int, timeout: float) -> str:
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="obs-preview-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",  # root in containers has no user namespace to sandbox with
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *flags,
            url,
        ]
        try:
            done = subprocess.run(
                command, check=False, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise SnapshotError(f"chromium did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise SnapshotError(f"chromium exited with {done.returncode}: {' | '.join(tail)}")
    return done.stdout


def dump_dom(url: str, *, width: int = WIDTH, height: int = 2000, budget_ms: int = 4000) -> str:
    """The DOM of ``url`` after its script drew it, as HTML."""
    html = _run(url, ["--dump-dom", f"--window-size={width},{height}"], budget_ms, 60.0)
    if not _RENDERED.search(html):
        raise SnapshotError(f"{url} did not finish drawing (no data-rendered mark in the DOM)")
    return html


def screenshot(url: str, path: Path, *, width: int = WIDTH, budget_ms: int = 4000) -> int:
    """Write a PNG of the whole page at ``url`` to ``path``; returns its height in pixels."""
    found = _HEIGHT.search(dump_dom(url, width=width, height=600, budget_ms=budget_ms))
    height = int(found.group(1)) if found else 2000
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = [f"--screenshot={path}", f"--window-size={width},{height}"]
    _run(url, flags, budget_ms, 60.0)
    if not path.is_file() or path.stat().st_size == 0:
        raise SnapshotError(f"chromium wrote no screenshot to {path}")
    return height
