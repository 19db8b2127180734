"""Draw the Datadog dashboards locally, in a browser, with live data from Prometheus endpoints.

  obs preview                          serve the page (http://127.0.0.1:8090/) until Ctrl-C
  obs preview --png FILE [--dashboard KEY]
                                       write a snapshot of one dashboard and exit

Sources are Prometheus text endpoints: the obs agent's /metrics, and services started with
OTEL_METRICS_EXPORTER=prometheus (default: both local defaults, a service's
http://127.0.0.1:9464/metrics and the agent's http://127.0.0.1:9465/metrics); repeat
--source for several. Series that no catalog metric produces are ignored. Dashboards and SLOs
are obs's own plus --from FILE|FOLDER|MODULE (repeatable), or only the latter with
--no-defaults, found the same way as by `obs provision`; the first page lists the SLOs with
their status, error budget left and burn rates over the data held. No Datadog account is
needed and nothing leaves the machine; --png needs Chromium (`make chromium` installs it).

Exit codes: 0 ok, 1 error (bad definitions or arguments, Chromium missing or failing).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obs.dashboards.dashboard import Dashboard
    from obs.preview.app import Preview
    from obs.slos.slo import SLO

DEFAULT_PORT = 8090


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        dest="sources",
        action="append",
        default=[],
        metavar="URL",
        help="a Prometheus text endpoint to scrape (repeatable; default "
        "http://127.0.0.1:9464/metrics and http://127.0.0.1:9465/metrics)",
    )
    parser.add_argument(
        "--from",
        dest="definitions",
        action="append",
        default=[],
        metavar="SOURCE",
        help="dashboards and SLOs from a .py file, a folder of them, or an importable module "
        "(repeatable)",
    )
    parser.add_argument(
        "--no-defaults", action="store_true", help="leave out obs's own dashboards and SLOs"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to serve on (default {DEFAULT_PORT}; 0: any free one)",
    )
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between scrapes (default 5)"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=900.0,
        help="seconds of history kept and drawn (default 900)",
    )
    parser.add_argument(
        "--max-series",
        type=int,
        default=10_000,
        help="series kept at most (default 10000: about 120 MiB with a 15 min window)",
    )
    parser.add_argument(
        "--png", type=Path, metavar="FILE", help="write a PNG of a dashboard and exit"
    )
    parser.add_argument(
        "--dashboard", metavar="KEY", help="the dashboard --png draws (default: the first one)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="with --png: scrapes to wait for before the snapshot (default 3; rates need 2)",
    )


def run(args: argparse.Namespace) -> int:
    from obs.provision.loader import load
    from obs.provision.problems import ProvisionError

    problem = _check(args)
    if problem:
        print(f"obs preview: {problem}", file=sys.stderr)
        return 1
    try:
        definitions = load(args.definitions, defaults=not args.no_defaults)
    except ProvisionError as exc:
        print(f"obs preview: {exc}", file=sys.stderr)
        return 1
    dashboards, slos = definitions.dashboards, definitions.slos
    if not dashboards and (args.png is not None or not slos):
        print("obs preview: no dashboards to draw (--no-defaults and no --from)", file=sys.stderr)
        return 1
    keys = [d.key for d in dashboards]
    if args.dashboard is not None and args.dashboard not in keys:
        print(
            f"obs preview: --dashboard {args.dashboard!r} is not one of: {', '.join(keys)}",
            file=sys.stderr,
        )
        return 1
    if args.png is not None:
        return _snapshot(args, dashboards, slos, args.dashboard or keys[0])
    return _serve(args, dashboards, slos)


def _check(args: argparse.Namespace) -> str | None:
    from urllib.parse import urlsplit

    from obs.privacy.scrub import scrub_text

    for url in args.sources:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"--source {scrub_text(url)}: expected an http(s) URL such as http://host:9464/metrics"
    if args.interval <= 0:
        return f"--interval {args.interval}: must be more than 0 seconds"
    if args.window < args.interval:
        return f"--window {args.window}: must be at least the interval ({args.interval} s)"
    if not 0 <= args.port <= 65535:
        return f"--port {args.port}: must be 0..65535"
    if args.max_series < 1:
        return f"--max-series {args.max_series}: must be at least 1"
    if args.rounds < 1:
        return f"--rounds {args.rounds}: must be at least 1"
    if args.dashboard is not None and args.png is None:
        return "--dashboard chooses what --png draws; give --png FILE too"
    return None


def _preview(
    args: argparse.Namespace, dashboards: Sequence[Dashboard], slos: Sequence[SLO], port: int
) -> Preview:
    from obs.preview.app import DEFAULT_SOURCES, Preview

    return Preview(
        dashboards,
        args.sources or list(DEFAULT_SOURCES),
        interval=args.interval,
        window=args.window,
        max_series=args.max_series,
        host=args.host,
        port=port,
        slos=slos,
    ).start()


def _sources_line(preview: Preview) -> str:
    from obs.privacy.scrub import scrub_text

    return ", ".join(scrub_text(s) for s in preview.scraper.sources)


def _serve(args: argparse.Namespace, dashboards: Sequence[Dashboard], slos: Sequence[SLO]) -> int:
    try:
        preview = _preview(args, dashboards, slos, args.port)
    except OSError as exc:
        print(
            f"obs preview: cannot serve on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    print(
        f"obs preview: {preview.url} (scraping {_sources_line(preview)}; Ctrl-C stops)",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly as on Ctrl-C
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        preview.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _snapshot(
    args: argparse.Namespace, dashboards: Sequence[Dashboard], slos: Sequence[SLO], key: str
) -> int:
    from urllib.parse import quote

    from obs.preview.snapshot import SnapshotError, find_chromium, screenshot

    try:
        find_chromium()  # before waiting for data, so a missing browser fails at once
        preview = _preview(args, dashboards, slos, 0)
    except (SnapshotError, OSError) as exc:
        print(f"obs preview: {exc}", file=sys.stderr)
        return 1
    try:
        timeout = args.interval * (args.rounds + 2) + 10
        preview.wait_rounds(args.rounds, timeout)
        for source in preview.store.sources():
            if source.error:
                print(f"obs preview: warning: {source.error}", file=sys.stderr)
        url = f"{preview.url}d/{quote(key)}?snapshot=1"
        height = screenshot(url, args.png)
    except SnapshotError as exc:
        print(f"obs preview: {exc}", file=sys.stderr)
        return 1
    finally:
        preview.stop()
    size = args.png.stat().st_size
    print(f"obs preview: wrote {args.png} ({key}, 1280x{height} px, {size} bytes)")
    return 0
