"""Show every setting ``obs.init()`` would use in this environment, where it came from,
and what is wrong with any of them. Secrets are shown as ``***``.

``--format markdown`` prints the reference table of every setting (the README's).

Exit codes: 0 when every setting is usable, 1 when one is not.
"""

from __future__ import annotations

import argparse
import json
import os

from obs.privacy.scrub import scrub_text
from obs.runtime import settings as obs_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("table", "json", "markdown"),
        default="table",
        help="table (default), json, or markdown: the reference table of every setting",
    )


def describe() -> tuple[list[dict[str, str]], list[str]]:
    """Rows of (setting, variables, value, source) and the problems, secrets masked."""
    values, problems = obs_settings.load()
    rows = []
    for name in obs_settings.Settings.model_fields:
        variables = obs_settings.env_names(name)
        source = next((v for v in variables if v in os.environ), "default")
        value = getattr(values, name)
        # Any value may hold a credential (an endpoint's user:password@): scrubbed too.
        shown = "***" if obs_settings.is_secret(name) and value else scrub_text(repr(value))
        rows.append(
            {"setting": name, "variables": " | ".join(variables), "value": shown, "source": source}
        )
    return rows, [str(p) for p in problems]


def _default(value: object) -> str:
    if value in (None, {}, []):
        return ""
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def markdown_table() -> str:
    """The README's table of every setting: variables, default, what it does."""
    lines = [
        "| `obs.init()` argument | Environment variables | Default | What it does |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in obs_settings.Settings.model_fields.items():
        variables = ", ".join(f"`{v}`" for v in obs_settings.env_names(name))
        lines.append(
            f"| `{name}` | {variables} | {_default(field.get_default())} | {field.description} |"
        )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.format == "markdown":
        print(markdown_table(), end="")
        return 0
    rows, problems = describe()
    if args.format == "json":
        print(json.dumps({"settings": rows, "problems": problems}, indent=2))
    else:
        widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in rows[0]}
        print("  ".join(k.ljust(widths[k]) for k in widths))
        for row in rows:
            print("  ".join(row[k].ljust(widths[k]) for k in widths))
        for problem in problems:
            print(f"problem: {problem}")
    return 1 if problems else 0
