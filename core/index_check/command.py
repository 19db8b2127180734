"""Fail a build on new unindexed query shapes.

Reads recorded commands from a database's profiler (read-only: the whole capped
collection, or the entries newer than --since; obs's own operations left out) and/or from
JSON Lines files of recorded shapes (--shapes, e.g. written by `pytest --obs-index-check
--obs-index-check-shapes FILE`), explains each distinct shape against --mongo-uri, and
flags collection scans (also of $lookup joins), in-memory sorts, and documents or keys
examined far beyond those returned. Offenders listed in the baseline file are accepted;
--update-baseline rewrites it with the current offenders.

The URI may also come from OBS_INDEX_CHECK_URI (keeps passwords off command lines).

Exit codes: 0 no new offenders, 2 new offenders (not in the baseline), 1 error (bad
arguments or files, database unreachable, a shape the server would not explain).

Example:
    obs index-check --mongo-uri "$STAGING_URI" --since 24h --junit-xml index-check.xml
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import os
import sys
from pathlib import Path
from typing import Any

from obs.index_check.baseline import DEFAULT_PATH
from obs.index_check.explainer import EXECUTION_STATS, QUERY_PLANNER
from obs.index_check.model import Thresholds
from obs.index_check.profile_source import parse_duration
from obs.mongo_queries.own_operations import INDEX_CHECK_APP_NAME

URI_VARIABLE = "OBS_INDEX_CHECK_URI"
_DEFAULTS = Thresholds()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mongo-uri",
        default=None,
        help=f"the database to explain against (and read the profiler of); default ${URI_VARIABLE}",
    )
    parser.add_argument(
        "--since",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="read only system.profile entries newer than this (90s, 30m, 24h, 7d); without "
        "it and without --shapes, the whole profiler collection is read (it is capped)",
    )
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="NAME",
        help="profiler database to read (repeatable; default: the URI's database, else all)",
    )
    parser.add_argument(
        "--shapes",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="JSON Lines file of recorded shapes (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip namespaces matching this glob, e.g. 'app.migrations' or '*.tmp_*'",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=DEFAULT_PATH,
        help=f"accepted offenders (default {DEFAULT_PATH})",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="rewrite the baseline with the current offenders and exit 0",
    )
    parser.add_argument(
        "--format", choices=("table", "json", "junit"), default="table", help="stdout format"
    )
    parser.add_argument("--json-report", type=Path, metavar="FILE", help="also write JSON here")
    parser.add_argument("--junit-xml", type=Path, metavar="FILE", help="also write JUnit XML here")
    parser.add_argument(
        "--max-docs-per-returned",
        type=_positive,
        default=_DEFAULTS.docs_per_returned,
        metavar="RATIO",
        help="flag shapes examining more documents per returned one (default %(default)g)",
    )
    parser.add_argument(
        "--max-keys-per-returned",
        type=_positive,
        default=_DEFAULTS.keys_per_returned,
        metavar="RATIO",
        help="flag shapes examining more index keys per returned one (default %(default)g)",
    )
    parser.add_argument(
        "--verbosity",
        choices=(EXECUTION_STATS, QUERY_PLANNER),
        default=EXECUTION_STATS,
        help="explain verbosity; queryPlanner never runs the query (no examined counts)",
    )


def _duration(text: str) -> Any:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (0 < value < math.inf):  # nan and inf too: a ratio above nan flags nothing
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive finite number")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the gate; see the module docstring for the exit codes."""
    from pymongo.errors import PyMongoError

    from obs.privacy.scrub import exception_message
    from obs.privacy.uris import credential_problem, redact, uri_label

    uri = args.mongo_uri or os.environ.get(URI_VARIABLE)
    if not uri:
        return _fail(f"give --mongo-uri or set {URI_VARIABLE}")
    problem = credential_problem(uri)
    if problem is not None:
        return _fail(f"the MongoDB URI cannot be read: {problem}")
    try:
        return _run(args, uri)
    except (PyMongoError, _UnreadableUri) as exc:
        # The label, never the URI: its options can hold tokens and key passwords.
        cause = exc.__cause__ if isinstance(exc, _UnreadableUri) and exc.__cause__ else exc
        message = redact(f"{type(cause).__name__}: {exception_message(cause)}", uri)
        return _fail(f"MongoDB at {uri_label(uri)}: {message}")
    except OSError as exc:  # writing the baseline or a report
        return _fail(f"{exc.filename}: {exc.strerror}")


class _UnreadableUri(Exception):
    """pymongo refused the URI itself (a ValueError or a ConfigurationError)."""


def _run(args: argparse.Namespace, uri: str) -> int:
    from pymongo import MongoClient, uri_parser

    from obs.index_check import baseline as baseline_file
    from obs.index_check import render
    from obs.index_check.baseline import BaselineError, gate
    from obs.index_check.check import check
    from obs.index_check.explainer import Explainer
    from obs.index_check.model import Sample
    from obs.index_check.profile_source import read_profile
    from obs.index_check.shapes_file import ShapesFileError, read_shapes

    try:
        baseline = baseline_file.load(args.baseline)
        samples: list[Sample] = []
        for path in args.shapes:
            samples += read_shapes(path)
    except (BaselineError, ShapesFileError) as exc:
        return _fail(str(exc))
    options: dict[str, Any] = {"appname": INDEX_CHECK_APP_NAME}  # its explains are skipped
    if "serverselectiontimeoutms" not in uri.lower():  # the URI's own setting wins
        options["serverSelectionTimeoutMS"] = 10_000
    try:
        client: Any = MongoClient(uri, **options)
        default = uri_parser.parse_uri(uri).get("database")
    except ValueError as exc:  # pymongo's InvalidURI and ConfigurationError are PyMongoErrors
        raise _UnreadableUri() from exc
    try:
        if args.since is not None or not args.shapes:
            databases = args.database or ([default] if default else [])
            profile = read_profile(client, databases, since=args.since)
            samples += profile.samples
            print(
                f"index-check: {profile.entries} profiler entries in "
                f"{', '.join(profile.databases)} ({profile.skipped} without a usable command, "
                f"{profile.own} of obs's own)",
                file=sys.stderr,
            )
        samples = [s for s in samples if not _excluded(s, args.exclude)]
        thresholds = Thresholds(args.max_docs_per_returned, args.max_keys_per_returned)
        verdicts = check(samples, Explainer(client, verbosity=args.verbosity), thresholds)
    finally:
        client.close()
    outcome = gate(verdicts, baseline)
    if args.update_baseline:
        baseline_file.save(baseline_file.Baseline.of(verdicts), args.baseline)
    if args.json_report:
        _write(args.json_report, render.to_json(outcome))
    if args.junit_xml:
        _write(args.junit_xml, render.to_junit(outcome))
    shown = {"table": render.table, "json": render.to_json, "junit": render.to_junit}
    sys.stdout.write(shown[args.format](outcome).rstrip("\n") + "\n")
    if args.update_baseline:
        accepted = len(baseline_file.Baseline.of(verdicts).entries)
        print(
            f"index-check: wrote {args.baseline} ({accepted} accepted offenders)", file=sys.stderr
        )
        return 1 if outcome.errors else 0
    return outcome.exit_code


def _excluded(sample: Any, patterns: list[str]) -> bool:
    name = next(iter(sample.command), "")
    namespace = f"{sample.database}.{sample.command.get(name)}"
    return any(fnmatch.fnmatchcase(namespace, p) for p in patterns)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _fail(message: str) -> int:
    print(f"obs index-check: {message}", file=sys.stderr)
    return 1
