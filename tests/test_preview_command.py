"""``obs preview`` as a command: a real PNG snapshot through Chromium, dashboards from
--from/--no-defaults, and one clear error (exit 1) for each kind of bad input."""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from obs import catalog
from obs.catalog import attr
from obs.preview import command
from obs.preview.formulas import FUNCTIONS
from support.metrics_source import MetricsSource

pytestmark = pytest.mark.servers  # starts servers, processes or a browser

OBS = [sys.executable, "-m", "obs.cli", "preview"]


def _cache_traffic(source: MetricsSource, n: int) -> None:
    source.add(catalog.CACHE_REQUESTS, 30, {attr.CACHE_NAME: "kpi", attr.CACHE_RESULT: "hit"})
    source.add(catalog.CACHE_REQUESTS, 10, {attr.CACHE_NAME: "kpi", attr.CACHE_RESULT: "miss"})
    source.set(catalog.REDIS_MEMORY_USED, 2097152 + 4096 * n, {attr.SERVER_ADDRESS: "r1"})


@pytest.fixture
def source() -> Iterator[MetricsSource]:
    live = MetricsSource(_cache_traffic).start()
    yield live
    live.stop()


def _obs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OBS, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit PNG, its row filters undone
    (PNG specification, section 9)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert depth == 8
    assert color in (2, 6)
    size = 4 if color == 6 else 3
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        if data[offset + 4 : offset + 8] == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * size
    rows: list[bytes] = []
    previous = bytearray(stride)
    for r in range(height):
        kind = raw[r * (stride + 1)]
        row = bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - size] if i >= size else 0
            up = previous[i]
            corner = previous[i - size] if i >= size else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                nearest = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + nearest) & 0xFF
        rows.append(bytes(row))
        previous = row
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, size)]


def test_png_writes_a_snapshot_of_the_whole_dashboard(
    source: MetricsSource, tmp_path: Path
) -> None:
    out = tmp_path / "shots" / "cache.png"
    done = _obs(
        "--png", str(out), "--dashboard", "obs.cache", "--source", source.url, "--interval", "0.2"
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    width, height, pixels = _pixels(out)
    assert width == 1280
    # exactly as tall as the drawn page: a header, then two groups of one and two rows
    assert 700 < height < 1200
    assert 20_000 < out.stat().st_size < 1_000_000
    # the data is drawn: the stacked bars of hits (blue) and misses (orange); a page of
    # "no data" has neither colour
    counts = Counter(pixels)
    assert counts[bytes.fromhex("4182c0")] > 5_000
    assert counts[bytes.fromhex("e0762d")] > 1_000


def test_a_missing_chromium_is_one_clear_error(source: MetricsSource, tmp_path: Path) -> None:
    done = _obs(
        "--png",
        str(tmp_path / "x.png"),
        "--source",
        source.url,
        env={"PATH": str(tmp_path), "PYTHONPATH": ""},
    )
    assert done.returncode == 1
    assert "chromium is not installed: run `make chromium`" in done.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "ftp://x/metrics"], "--source ftp://x/metrics: expected an http(s) URL"),
        (
            ["--source", "localhost:9464"],
            "--source localhost:9464: expected an http(s) URL",
        ),
        (["--interval", "0"], "--interval 0.0: must be more than 0 seconds"),
        (["--png", "x.png", "--dashboard", "nope"], "--dashboard 'nope' is not one of: obs.mongo,"),
        (["--dashboard", "obs.mongo"], "--dashboard chooses what --png draws; give --png FILE too"),
        (["--from", "no/such/file.py"], "--from no/such/file.py: no such file"),
        (["--no-defaults"], "no dashboards to draw (--no-defaults and no --from)"),
    ],
)
def test_bad_input_exits_1_with_one_message_naming_it(args: list[str], message: str) -> None:
    done = _obs(*args)
    assert done.returncode == 1
    assert message in done.stderr
    assert done.stderr.count("obs preview:") == 1


def test_a_password_in_a_source_url_is_never_printed(tmp_path: Path) -> None:
    done = _obs("--png", str(tmp_path / "x.png"), "--source", "ftp://u:hunter2@h/metrics")
    assert done.returncode == 1
    assert "hunter2" not in done.stderr
    assert "ftp://u:***@h/metrics" in done.stderr


def test_from_and_no_defaults_serve_only_the_given_dashboards(tmp_path: Path) -> None:
    definitions = tmp_path / "mine.py"
    definitions.write_text(
        "from obs import catalog\n"
        "from obs.dashboards import Dashboard, Timeseries, maximum\n"
        "MEMORY = Dashboard('team.memory', 'Team: memory', "
        "(Timeseries('Redis memory', (maximum(catalog.REDIS_MEMORY_USED),)),))\n"
    )
    process = subprocess.Popen(
        [*OBS, "--from", str(definitions), "--no-defaults", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("obs preview: http://"), line
        url = line.split()[2]
        with urllib.request.urlopen(f"{url}api/dashboards") as response:
            listed = json.load(response)
        assert [d["key"] for d in listed] == ["team.memory"]
        with urllib.request.urlopen(f"{url}api/dashboards/team.memory") as response:
            page = json.load(response)
        assert page["widgets"][0]["title"] == "Redis memory"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_docs_name_every_option_and_every_drawn_function() -> None:
    text = (Path(__file__).parent.parent / "docs" / "preview.md").read_text()
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in text, option
    for name, evaluator in FUNCTIONS.items():
        if evaluator is not None:  # the others are refused as not evaluated locally
            assert f"`{name}`" in text, name
    assert (Path(__file__).parent.parent / "docs" / "images" / "preview-service.png").exists()
