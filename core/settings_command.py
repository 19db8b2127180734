"""Show every setting ``obs.init()`` would use in this environment, where it came from,
and what is wrong with any of them. Secrets are shown as ``***``.

Exit codes: 0 when every setting is usable, 1 when one is not.
"""

from __future__ import annotations

import argparse
import json
import os

from obs import settings as obs_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="output format (default: table)",
    )


def describe() -> tuple[list[dict[str, str]], list[str]]:
    """Rows of (setting, variable, value, source) and the problems, secrets masked."""
    values, problems = obs_settings.load()
    rows = []
    for name in obs_settings.Settings.model_fields:
        source = next((v for v in obs_settings.env_names(name) if v in os.environ), "default")
        value = getattr(values, name)
        shown = "***" if obs_settings.is_secret(name) and value else repr(value)
        rows.append(
            {
                "setting": name,
                "variable": obs_settings.env_names(name)[0],
                "value": shown,
                "source": source,
            }
        )
    return rows, [str(p) for p in problems]


def run(args: argparse.Namespace) -> int:
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
