"""The ``obs`` command line: one subcommand per part of obs.

Each subcommand lives in its own module, exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only routes. Modules keep heavy imports inside ``run`` so
that ``obs --help`` stays fast.

Exit codes: 0 ok, 1 error, 2 changes pending or a gate failed (each command says which).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from obs import __version__

# name -> (module, one-line help). The module documents the command in its docstring.
COMMANDS: dict[str, tuple[str, str]] = {
    "settings": (
        "obs.lifecycle.settings_command",
        "show the settings obs.init() would use, and problems",
    ),
    "provision": ("obs.provision.command", "plan and apply Datadog dashboards and monitors"),
    "index-check": ("obs.index_check.command", "fail CI on new unindexed query shapes"),
    "demo": ("obs.demo.command", "run the whole bundle on embedded servers, with the preview"),
    "agent": ("obs.agent.command", "run the sidecar: Mongo, Redis and BullMQ metrics over OTLP"),
    "preview": ("obs.preview.command", "draw the dashboards locally with live data (--png FILE)"),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1, not argparse's 2: for obs commands 2 means "changes pending"
    or "gate failed", which a CI job must be able to tell from a typo."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="obs",
        description="Observability for services on MongoDB, Redis caches and BullMQ queues.",
        epilog="Run `obs COMMAND --help` for a command's options. In a service, "
        "`import obs; obs.init()` starts the in-process instrumentation.",
    )
    parser.add_argument("--version", action="version", version=f"obs {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``obs`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
