"""Print the Kubernetes manifests that scale a BullMQ queue's workers on its backlog and
on the age of its oldest waiting job, read from the obs agent's metrics.

--format keda (default): a KEDA ScaledObject with two Prometheus triggers (the agent's
/metrics, scraped by Prometheus). --format hpa-datadog: two DatadogMetric objects and an
autoscaling/v2 HorizontalPodAutoscaler, served by the Datadog Cluster Agent (with
DatadogMetric support on). The backlog is the queue's wait + prioritized jobs, scaled on
per worker (--target-backlog); the oldest waiting job's age is scaled on as a whole
(--max-age). docs/autoscale.md explains the choice.

Exit codes: 0 printed (or written), 1 bad input or an unwritable file.

Example:
    obs autoscale --queue exports --target-backlog 100 | kubectl apply -f -
    obs autoscale --queue exports --format hpa-datadog -o deploy/exports-hpa.yaml
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obs.autoscale.escaping import datadog_tag_value
from obs.autoscale.manifests import (
    DEFAULT_PROMETHEUS,
    Manifest,
    Scaling,
    datadog_hpa,
    deployment_name,
    keda_scaled_object,
)
from obs.autoscale.signals import Queue

FORMATS = ("keda", "hpa-datadog")
_DEFAULTS = Scaling(Queue("bull", "q"), "q")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", required=True, metavar="NAME", help="the BullMQ queue")
    parser.add_argument(
        "--prefix",
        default="bull",
        help="the queue's key prefix, as its workers set it (default bull; '{bull}' on a "
        "Redis Cluster)",
    )
    numbers = (
        ("--target-backlog", "N", "jobs waiting per worker (default %(default)s)"),
        ("--max-age", "SECONDS", "longest the oldest job may wait (default %(default)s)"),
        ("--min-replicas", "N", "fewest workers (default %(default)s; 0 with KEDA)"),
        ("--max-replicas", "N", "most workers (default %(default)s)"),
    )
    for option, metavar, text in numbers:
        field = option.removeprefix("--").replace("-", "_")
        default = getattr(_DEFAULTS, field)
        parser.add_argument(option, type=_whole_number, default=default, metavar=metavar, help=text)
    parser.add_argument(
        "--deployment",
        metavar="NAME",
        help="the Deployment of the queue's workers (default: the queue's name, made a "
        "Kubernetes name)",
    )
    parser.add_argument(
        "--namespace",
        default="default",
        metavar="NS",
        help="namespace of the workers' Deployment and of these objects (default default)",
    )
    parser.add_argument(
        "--prometheus",
        default=DEFAULT_PROMETHEUS,
        metavar="URL",
        help=f"the Prometheus that scrapes the agents, for KEDA (default {DEFAULT_PROMETHEUS})",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="keda",
        help="keda: a KEDA ScaledObject on Prometheus; hpa-datadog: an HPA on DatadogMetrics "
        "through the Datadog Cluster Agent (default keda)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout"
    )


def render(manifests: Sequence[Manifest]) -> str:
    """The manifests as one YAML stream (``---`` before each document).

    Example:
        >>> print(render([{"kind": "A", "spec": {"query": 'x{a="b"}'}}]), end="")
        ---
        kind: A
        spec:
          query: x{a="b"}
    """
    import yaml

    text: str = yaml.safe_dump_all(
        manifests, explicit_start=True, sort_keys=False, allow_unicode=True, width=1_000_000
    )
    return text


def manifests(scaling: Scaling, output_format: str) -> list[Manifest]:
    """The objects ``output_format`` (one of :data:`FORMATS`) needs for ``scaling``."""
    if output_format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {output_format!r}")
    if output_format == "keda":
        return [keda_scaled_object(scaling)]
    return datadog_hpa(scaling)


def _write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` whole: a failed write leaves the old file as it was.
    The file gets the mode a plain ``open()`` would give it (mkstemp's is owner-only)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _renamed_in_datadog(queue: Queue) -> list[str]:
    """Notes for names Datadog stores otherwise than they are (the query uses its form)."""
    notes = []
    for key, value in queue.attributes().items():
        stored = datadog_tag_value(key, value)
        if stored != value:
            notes.append(f"Datadog stores {key} {value!r} as {stored!r}; the query uses that")
    return notes


def run(args: argparse.Namespace) -> int:
    def fail(message: str) -> int:
        print(f"obs autoscale: {message}", file=sys.stderr)
        return 1

    queue = Queue(args.prefix, args.queue)
    deployment = args.deployment if args.deployment is not None else deployment_name(args.queue)
    if not deployment and args.queue:
        return fail(f"no Kubernetes name can be made of --queue {args.queue!r}: give --deployment")
    options: dict[str, Any] = {
        "namespace": args.namespace,
        "target_backlog": args.target_backlog,
        "max_age": args.max_age,
        "min_replicas": args.min_replicas,
        "max_replicas": args.max_replicas,
        "prometheus": args.prometheus,
    }
    try:
        scaling = Scaling(queue, deployment, **options)
        text = render(manifests(scaling, args.format))
        notes = _renamed_in_datadog(queue) if args.format == "hpa-datadog" else []
    except ValueError as error:
        return fail(str(error))
    for note in notes:
        print(f"obs autoscale: note: {note}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        _write(args.output, text)
    except OSError as error:
        return fail(f"cannot write {args.output}: {error.strerror or error}")
    print(f"obs autoscale: wrote {args.output}", file=sys.stderr)
    return 0
