"""Provision Datadog dashboards, monitors and SLOs from Python definitions.

  obs provision plan          what apply would change, as a diff
                              (exit 0: nothing to do, 2: changes pending, 1: error)
  obs provision apply         make the changes (asks first in a terminal; --yes for CI)
  obs provision export DIR    write the rendered JSON (review, Terraform's datadog_dashboard_json)
  obs provision import ID...  write Python source for live dashboards (ids like abc-def-ghi),
                              monitors (numeric ids) and SLOs (32 hexadecimal digits)

Definitions are obs's own dashboards, monitors and SLOs plus --from FILE|FOLDER|MODULE
(repeatable), or only the latter with --no-defaults. Each SLO brings its burn-rate alerts
(monitors created after it, naming its id). --env ENV tags monitors and SLOs env:ENV (and
scopes their queries to it), picks each monitor's env_thresholds[ENV] and each SLO's
env_targets[ENV], and makes ENV the default of the dashboards' env variable; each
environment's objects are tracked apart.

--project NAME (or OBS_PROVISION_PROJECT; by default the name of the repository holding the
definitions) is the namespace of the keys: a run sees, updates and prunes only its project's
objects, so several repositories share one Datadog organisation safely.

Everything is validated (datadog-api-client's models, obs's rules, and for plan/apply
Datadog's monitor validation) before the first write. obs only touches what its project
created or what a definition adopts by id; --prune deletes the project's objects no
definition names.

Environment: DD_API_KEY and DD_APP_KEY (required for plan, apply, import), DD_SITE
(datadoghq.com by default), OBS_DATADOG_API_URL (or --api-url) to override the API base URL,
OBS_PROVISION_MAX_WAIT: the longest wait for a rate limit, in seconds (default 300).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from obs.provision.identity import KEY_PATTERN, Kind
from obs.provision.problems import DefinitionError, Problem, ProvisionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    plan = sub.add_parser("plan", help="show what apply would change (exit 2 when it would)")
    apply = sub.add_parser("apply", help="create, update (and with --prune delete) in Datadog")
    export = sub.add_parser("export", help="write the rendered JSON into a folder")
    export.add_argument("directory", type=Path, metavar="DIR")
    imported = sub.add_parser("import", help="write Python source for live objects")
    imported.add_argument("ids", nargs="+", metavar="ID", help="dashboard, monitor or SLO ids")
    imported.add_argument(
        "-o", "--output", type=Path, help="write the source here (default: standard output)"
    )
    for command in (plan, apply, export):
        command.add_argument(
            "--from",
            dest="sources",
            action="append",
            default=[],
            metavar="SOURCE",
            help="a .py file, a folder of them, or an importable module (repeatable)",
        )
        command.add_argument(
            "--no-defaults", action="store_true", help="leave out obs's own definitions"
        )
        command.add_argument("--env", help="environment: env tag, defaults and thresholds")
        command.add_argument(
            "--project",
            help="the project owning the objects (else OBS_PROVISION_PROJECT, else the name "
            "of the definitions' repository)",
        )
    for command in (plan, apply):
        command.add_argument(
            "--prune", action="store_true", help="delete obs-owned objects not in the definitions"
        )
    for command in (plan, apply, imported):
        command.add_argument("--api-url", help="Datadog API base URL (else OBS_DATADOG_API_URL)")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "export":
            return _export(args)
        if args.action == "import":
            return _import(args)
        return _plan_or_apply(args)
    except DefinitionError as exc:
        for problem in exc.problems:
            print(f"invalid: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was sent to Datadog.", file=sys.stderr)
        return 1
    except ProvisionError as exc:
        print(f"obs provision {args.action}: {exc}", file=sys.stderr)
        return 1


def _project(args: argparse.Namespace) -> Any:
    from obs.provision.project import ENV_VAR, choose_project

    return choose_project(args.project, os.environ.get(ENV_VAR), args.sources)


def _desired(args: argparse.Namespace, project: str) -> tuple[list[Any], Any]:
    from obs.dashboards.dashboard import Dashboard
    from obs.monitors.monitor import Monitor
    from obs.provision.loader import load
    from obs.provision.plan import Desired
    from obs.provision.render_dashboard import render_dashboard
    from obs.provision.render_monitor import render_monitor
    from obs.provision.render_slo import burn_rate_monitors, render_slo
    from obs.provision.validate import validate_all
    from obs.slos.slo import SLO

    if args.env is not None and not KEY_PATTERN.match(args.env):
        raise ProvisionError(f"--env {args.env!r}: use lowercase letters, digits, '.', '_', '-'")
    definitions = load(args.sources, defaults=not args.no_defaults)
    problems: list[Problem] = validate_all(
        definitions.dashboards, definitions.monitors, definitions.slos
    )
    invalid = {p.definition for p in problems}
    desired: list[Desired] = []
    values: list[Dashboard | Monitor | SLO] = [
        *definitions.dashboards,
        *definitions.monitors,
        *definitions.slos,
    ]
    for value in values:
        kind = _kind_of(value)
        if f"{kind} {value.key}" in invalid:
            continue  # rendering reads fields the rules found wrong
        try:
            if isinstance(value, Dashboard):
                body = render_dashboard(value, args.env, project)
                desired.append(Desired("dashboard", value.key, value.title, body))
            elif isinstance(value, Monitor):
                body = render_monitor(value, args.env, project)
                desired.append(Desired("monitor", value.key, value.name, body))
            else:
                body = render_slo(value, args.env, project)
                alerts = [
                    Desired("monitor", a.key, a.name, a.body)
                    for a in burn_rate_monitors(value, args.env, project)
                ]
                desired.extend([Desired("slo", value.key, value.name, body), *alerts])
        except DefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DefinitionError(problems)
    return desired, definitions


def _kind_of(value: object) -> Kind:
    from obs.dashboards.dashboard import Dashboard
    from obs.monitors.monitor import Monitor

    if isinstance(value, Dashboard):
        return "dashboard"
    return "monitor" if isinstance(value, Monitor) else "slo"


def _client(args: argparse.Namespace) -> Any:
    from obs.provision.client import DatadogClient, endpoint_from_env

    raw = os.environ.get("OBS_PROVISION_MAX_WAIT") or "300"
    try:
        max_wait = float(raw)
    except ValueError:
        max_wait = -1.0
    if not 0 <= max_wait < float("inf"):
        raise ProvisionError(f"OBS_PROVISION_MAX_WAIT: {raw!r} is not a number of seconds")
    return DatadogClient(endpoint_from_env(args.api_url, os.environ), max_wait=max_wait)


def _plan_or_apply(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from obs.provision.apply import apply_changes, summary
    from obs.provision.live import read_live
    from obs.provision.plan import describe, make_plan
    from obs.provision.references import resolve

    project = _project(args)
    desired, definitions = _desired(args, project.name)
    client = _client(args)
    adopt: list[tuple[Kind, str, str | int]] = [
        *(("dashboard", d.key, d.adopt_id) for d in definitions.dashboards if d.adopt_id),
        *(("monitor", m.key, m.adopt_id) for m in definitions.monitors if m.adopt_id),
        *(("slo", s.key, s.adopt_id) for s in definitions.slos if s.adopt_id),
    ]
    live = read_live(client, project.name, args.env, [(d.kind, d.key) for d in desired], adopt)
    # Burn-rate alerts name their SLO's id: known now for the SLOs that are live.
    slo_ids = {key: str(body["id"]) for key, body in live.owned["slo"].items()}
    desired = [replace(d, body=resolve(d.body, slo_ids)) for d in desired]
    plan = make_plan(desired, live, project.name, args.env, prune=args.prune)
    _validate_remotely(client, plan.changes)
    env = f", environment {args.env}" if args.env else ""
    print(f"Project {project.name} ({project.origin}){env}.")
    print(describe(plan))
    if args.action == "plan":
        return 2 if plan.changes else 0
    if not plan.changes:
        print("Nothing to apply.")
        return 0
    if not args.yes and not _confirmed(len(plan.changes)):
        print("Nothing was applied.", file=sys.stderr)
        return 1
    outcomes = apply_changes(
        client,
        plan.changes,
        project.name,
        args.env,
        lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(summary(outcomes))
    return 0 if all(o.status == "done" for o in outcomes) else 1


def _validate_remotely(client: Any, changes: Any) -> None:
    """Datadog's own monitor validation for every monitor about to be written (an alert of
    an SLO not created yet is validated by its create, after the SLO's; Datadog has no
    validation endpoint for SLOs: the client's models and obs's rules check those)."""
    from obs.provision.client import DatadogError
    from obs.provision.references import pending

    problems = []
    for change in changes:
        if change.kind != "monitor" or change.body is None or pending(change.body):
            continue
        try:
            client.post("/api/v1/monitor/validate", change.body, idempotent=True)
        except DatadogError as exc:
            if exc.status != 400:
                raise
            problems.append(Problem(f"monitor {change.key}", "query", f"Datadog: {exc.reason}"))
    if problems:
        raise DefinitionError(problems)


def _confirmed(count: int) -> bool:
    if not sys.stdin.isatty():
        raise ProvisionError("not a terminal, so nothing to confirm with: pass --yes to apply")
    answer = input(f"Apply these {count} change(s)? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _export(args: argparse.Namespace) -> int:
    import json

    desired, _ = _desired(args, _project(args).name)
    if args.directory.exists() and not args.directory.is_dir():
        raise ProvisionError(f"export {args.directory}: is a file, not a folder")
    for item in desired:
        folder = args.directory / f"{item.kind}s"
        text = json.dumps(item.body, indent=2, sort_keys=True, ensure_ascii=False)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{item.key}.json").write_text(text + "\n")
        except OSError as exc:
            raise ProvisionError(
                f"export {args.directory}: {exc.strerror}: {exc.filename}"
            ) from None
    print(f"Wrote {len(desired)} file(s) under {args.directory}.")
    return 0


def _import(args: argparse.Namespace) -> int:
    from obs.provision.importer import import_objects

    source = import_objects(_client(args), args.ids)
    if args.output:
        args.output.write_text(source)
        print(f"Wrote {args.output}.", file=sys.stderr)
    else:
        sys.stdout.write(source)
    return 0
