"""Run the obs agent: collect MongoDB, Redis and BullMQ metrics and export them over OTLP
and on a Prometheus endpoint (/metrics, with /healthz and /readyz).

Targets and settings come from flags, OBS_AGENT_* variables and an optional --config file
(TOML or YAML), in that order of precedence; see docs/agent.md. The OTLP exporter follows
the standard OTEL_EXPORTER_OTLP_* variables (OTEL_METRICS_EXPORTER=none turns it off).

  obs agent --redis redis://localhost:6379/0 --mongo mongodb://localhost:27017
  obs agent --once --format table --redis redis://localhost:6379/0

Exit codes: 0 ok (with --once: every target answered), 1 bad configuration or, with
--once, a collection failed.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("obs.agent")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="a TOML or YAML file of agent settings")
    parser.add_argument(
        "--mongo", action="append", metavar="URI", help="a MongoDB URI to watch (repeatable)"
    )
    parser.add_argument(
        "--redis",
        action="append",
        metavar="URL",
        help="a Redis URL to watch (repeatable); redis+cluster://host:port for a Redis Cluster",
    )
    parser.add_argument(
        "--bullmq-prefix",
        action="append",
        dest="bullmq_prefixes",
        metavar="PREFIX",
        help="a BullMQ key prefix (repeatable; default: bull)",
    )
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help="endpoints address (default 0.0.0.0:9465)"
    )
    parser.add_argument(
        "--once", action="store_true", help="run every collector once, print, and exit"
    )
    parser.add_argument(
        "--format",
        choices=("json", "table"),
        default="json",
        help="--once output format (default: json)",
    )


def run(args: argparse.Namespace) -> int:
    from obs.agent.config import ConfigError, load
    from obs.agent.otlp_settings import load_otlp

    flags = {
        "mongo": args.mongo,
        "redis": args.redis,
        "bullmq_prefixes": args.bullmq_prefixes,
        "listen": args.listen,
    }
    try:
        config = load(flags=flags, file=args.config)
        settings = load_otlp()
    except ConfigError as exc:
        print(f"obs agent: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"obs agent: bad OpenTelemetry settings:\n  {exc}", file=sys.stderr)
        return 1
    resource = settings.resource()
    if args.once:
        return _once(config, resource, args.format)
    return _serve(config, resource, settings)


def _startup_failure(config: Any, exc: Exception) -> int:
    """One line for an agent that could not start, every target's secrets masked."""
    from obs.privacy.scrub import exception_message

    text = f"{type(exc).__name__}: {exception_message(exc)}"
    for target in (*config.mongo, *config.redis):
        text = target.scrub(text)
    print(f"obs agent: could not start: {text}", file=sys.stderr)
    return 1


def _once(config: Any, resource: Any, output: str) -> int:
    from obs.agent.app import collect_once
    from obs.agent.rows import as_json, table

    try:
        rows, errors = collect_once(config, resource)
    except Exception as exc:  # collections never raise: this is the agent's own setup
        return _startup_failure(config, exc)
    print(as_json(rows, errors) if output == "json" else table(rows, errors))
    return 1 if errors else 0


def _serve(config: Any, resource: Any, settings: Any) -> int:
    from obs.agent.app import Agent
    from obs.agent.otlp import otlp_exporter
    from obs.agent.targets import uri_label

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        otlp = otlp_exporter(settings) if settings.exports_otlp else None
        agent = Agent(
            config,
            resource,
            otlp=otlp,
            delta_counters=settings.delta_counters,
            delta_histograms=settings.delta_histograms,
        )
        agent.start()
    except Exception as exc:  # a taken port, a client that cannot be made
        return _startup_failure(config, exc)
    # Startup objects (modules, config) never die: keep the collector from re-scanning them
    # after every scrape's thousands of short-lived points (about a tenth of the CPU).
    gc.collect()
    gc.freeze()
    targets = ", ".join(t.label for t in (*config.mongo, *config.redis))
    endpoints = f"http://{config.listen}/metrics" if agent.endpoints else "off"
    endpoint = uri_label(settings.endpoint) if settings.endpoint else None
    exporting = (endpoint or "the default OTLP endpoint") if otlp else "off"
    log.info("watching %s; /metrics: %s; OTLP: %s", targets, endpoints, exporting)
    stop.wait()
    log.info("stopping")
    agent.stop()
    return 0
