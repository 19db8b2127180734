"""Gate a load test on the SLOs, with the definitions that page people.

  obs slo check --source URL [--source URL]... [--window 5m] [--junit-xml FILE]
                [--from SOURCE]... [--no-defaults] [--env ENV] [--interval SECONDS]
  obs slo export --k6 [-o FILE] [--from SOURCE]... [--no-defaults] [--env ENV]

check scrapes the Prometheus endpoints (a service with OTEL_METRICS_EXPORTER=prometheus,
the obs agent's /metrics) for --window while the load runs, then judges every SLO over that
window with obs preview's evaluator (an SLO is missed when its indicator over the window is
below its target: the window spent more than its error budget), and every monitor marked
gate=True (as Datadog would evaluate it at the end of the window). It prints a table and, with
--junit-xml, writes JUnit XML for CI. Run it beside any load tool (k6, Locust, a script).

export --k6 writes the thresholds object of a k6 options file for the SLOs k6 can judge
(request latency and failures), and says on stderr which SLOs it cannot map and why.

Definitions are obs's own SLOs plus --from FILE|FOLDER|MODULE (repeatable), or only the
latter with --no-defaults, found as by `obs provision`; --env ENV uses env_targets[ENV].

Exit codes (check): 0 every objective met, 2 one missed, 1 error (bad options or
definitions, a source that never answered, nothing measured in the window).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

_WINDOW = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smh]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


def window_seconds(text: str) -> float:
    """``5m``, ``90s``, ``1h`` or a number of seconds.

    Example:
        >>> window_seconds("5m"), window_seconds("90"), window_seconds("1.5h")
        (300.0, 90.0, 5400.0)
    """
    found = _WINDOW.fullmatch(text.strip())
    if found is None or float(found[1]) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a window such as 5m, 90s or 1h")
    return float(found[1]) * _UNIT[found[2]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="judge a service under load against the SLOs")
    export = sub.add_parser("export", help="write the k6 thresholds matching the SLOs")
    for command in (check, export):
        command.add_argument(
            "--from",
            dest="sources",
            action="append",
            default=[],
            metavar="SOURCE",
            help="SLOs (and monitors) from a .py file, a folder of them, or a module",
        )
        command.add_argument("--no-defaults", action="store_true", help="leave out obs's own SLOs")
        command.add_argument("--env", help="use each SLO's env_targets[ENV]")
    check.add_argument(
        "--source",
        dest="endpoints",
        action="append",
        required=True,
        metavar="URL",
        help="a Prometheus text endpoint of the service or agent (repeatable)",
    )
    check.add_argument(
        "--window",
        type=window_seconds,
        default=300.0,
        metavar="DURATION",
        help="how long to watch the load (5m, 90s, 1h; default 5m)",
    )
    check.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="seconds between scrapes (default: a tenth of the window, at most 5)",
    )
    check.add_argument("--junit-xml", type=Path, metavar="FILE", help="write JUnit XML here")
    export.add_argument("--k6", action="store_true", required=True, help="k6's thresholds")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")


def run(args: argparse.Namespace) -> int:
    from obs.provision.loader import load
    from obs.provision.problems import ProvisionError
    from obs.provision.validate import validate_monitor, validate_slo

    try:
        definitions = load(args.sources, defaults=not args.no_defaults)
    except ProvisionError as exc:
        return _error(args, str(exc))
    monitors = [m for m in definitions.monitors if m.gate]
    problems = [
        *(p for slo in definitions.slos for p in validate_slo(slo)),
        *(p for m in monitors for p in validate_monitor(m)),
    ]
    if problems:
        for problem in problems:
            print(f"invalid: {problem}", file=sys.stderr)
        return 1
    if not definitions.slos and not monitors:
        return _error(args, "no SLOs (and no monitors marked gate=True) to judge")
    if args.action == "export":
        return _export(args, definitions.slos, monitors)
    return _check(args, definitions.slos, monitors)


def _error(args: argparse.Namespace, message: str) -> int:
    print(f"obs slo {args.action}: {message}", file=sys.stderr)
    return 1


def _export(args: argparse.Namespace, slos: Any, monitors: Any) -> int:
    from obs.loadtest.k6 import k6_thresholds

    thresholds, mapped, not_mapped = k6_thresholds(slos, monitors, args.env)
    for m in mapped:
        print(f"mapped: {m.key} -> {m.metric}: {m.threshold}", file=sys.stderr)
    for n in not_mapped:
        print(f"not mapped: {n.key}: {n.reason}", file=sys.stderr)
    text = json.dumps({"thresholds": thresholds}, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text)
    except OSError as exc:
        return _error(args, f"{args.output}: {exc.strerror}")
    return 0


def _check(args: argparse.Namespace, slos: Any, monitors: Any) -> int:
    from urllib.parse import urlsplit

    from obs.privacy.scrub import scrub_text

    for url in args.endpoints:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return _error(args, f"--source {scrub_text(url)}: expected an http(s) URL")
    interval = args.interval if args.interval is not None else min(5.0, args.window / 10)
    if not 0 < interval <= args.window / 2:
        return _error(args, f"--interval {interval:g}: must be above 0, at most half the window")
    store = _watch(args.endpoints, args.window, interval)
    silent = [s for s in store.sources() if s.last_success is None]
    if silent:
        first = silent[0]
        return _error(args, f"{first.url} never answered: {first.error or 'no reply'}")
    for source in store.sources():
        if source.error:
            print(f"obs slo check: warning: {source.error}", file=sys.stderr)
    return _judge(args, store, slos, monitors, interval)


def _watch(endpoints: list[str], window: float, interval: float) -> Any:
    """A store holding every scrape of ``endpoints`` over ``window`` seconds."""
    from obs.preview.scraper import Scraper
    from obs.preview.store import Store

    rounds = math.ceil(window / interval) + 1
    store = Store(capacity=rounds + 1)
    scraper = Scraper(store, endpoints, interval).start()
    try:
        deadline = time.monotonic() + window + interval + scraper.timeout + 5
        while scraper.completed < rounds and time.monotonic() < deadline:
            time.sleep(min(0.05, interval / 4))
    finally:
        scraper.stop()
    return store


def _judge(args: argparse.Namespace, store: Any, slos: Any, monitors: Any, interval: float) -> int:
    from obs.loadtest.report import junit, table
    from obs.loadtest.verdict import monitor_verdict, slo_verdict

    rounds = store.rounds()
    seconds = rounds[-1].time - rounds[0].time if rounds else 0.0
    verdicts = [
        *(slo_verdict(slo, store, args.env) for slo in slos),
        *(monitor_verdict(m, store, args.env) for m in monitors),
    ]
    print(
        f"obs slo check: {len(slos)} SLO(s) and {len(monitors)} monitor(s) over {seconds:.0f} s "
        f"({len(rounds)} scrapes, every {interval:g} s, of {len(args.endpoints)} source(s))"
    )
    print(table(verdicts))
    counts = {r: sum(v.result == r for v in verdicts) for r in ("missed", "met", "skipped")}
    errors = sum(v.result == "error" for v in verdicts)
    print(
        f"Result: {counts['missed']} missed, {counts['met']} met, {counts['skipped']} without "
        f"data, {errors} not evaluated."
    )
    if args.junit_xml is not None:
        try:
            args.junit_xml.write_bytes(junit(verdicts, seconds))
        except OSError as exc:
            return _error(args, f"--junit-xml {args.junit_xml}: {exc.strerror}")
    if counts["missed"]:
        return 2
    if errors:
        return 1
    if not counts["met"]:
        return _error(
            args,
            "nothing was measured in the window: is the service under load, and its /metrics "
            "among the sources?",
        )
    return 0
