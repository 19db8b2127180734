"""Recorded shapes as JSON Lines: one command per line, MongoDB Extended JSON allowed.

A line is either obs's own record::

    {"database": "app", "command": {"find": "users", "filter": {"email": "?"}}}

or a profiler entry, as ``mongoexport --db app --collection system.profile`` writes them
(``{"op": ..., "ns": "app.users", "command": {...}, "planSummary": ...}``). Values may be real
or masked (``"?"``): the explainer puts harmless stand-ins where ``"?"`` would be invalid.
:func:`write_shapes` writes one masked line per distinct shape.

Example:
    >>> sample = sample_from_line({"database": "app", "command": {"find": "u"}}, "f.jsonl:1")
    >>> sample.database, sample.command
    ('app', {'find': 'u'})
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from obs.index_check.check import Recorded
from obs.index_check.model import Sample
from obs.index_check.profile_source import sample_from_profile
from obs.mongo_queries.masking import masked_command


class ShapesFileError(Exception):
    """A shapes file cannot be read; the message names the file, line and problem."""


def sample_from_line(record: Any, where: str) -> Sample:
    """The sample one parsed line holds; ShapesFileError naming ``where`` otherwise."""
    if not isinstance(record, Mapping):
        raise ShapesFileError(f"{where}: expected a JSON object")
    if "ns" in record:
        sample = sample_from_profile(record)
        if sample is None:
            raise ShapesFileError(f"{where}: profiler entry without a usable command")
        return Sample(sample.database, sample.command, where, sample.observed)
    database = record.get("database")
    command = record.get("command")
    if not isinstance(database, str) or not database:
        raise ShapesFileError(f'{where}: needs a "database" name (or a profiler "ns")')
    if not isinstance(command, Mapping) or not command:
        raise ShapesFileError(f'{where}: needs a "command" object')
    return Sample(database, dict(command), where)


def read_shapes(path: Path) -> list[Sample]:
    """Every sample in the file (blank lines skipped)."""
    from bson import json_util

    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise ShapesFileError(f"{path}: cannot read: {exc.strerror}") from exc
    samples = []
    for number, raw in enumerate(lines, start=1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ShapesFileError(f"{where}: not UTF-8 text (byte {exc.start})") from None
        if not line.strip():
            continue
        try:
            record = json_util.loads(line)
        except (ValueError, TypeError) as exc:
            raise ShapesFileError(f"{where}: not JSON: {exc}") from None
        except RecursionError:
            raise ShapesFileError(f"{where}: nested too deeply to be a command") from None
        if depth(record) > MAX_DEPTH:
            raise ShapesFileError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
        samples.append(sample_from_line(record, where))
    return samples


# MongoDB refuses documents nested deeper than 100 levels (BSONDepth): no command is.
MAX_DEPTH = 100


def depth(value: Any) -> int:
    """How deeply ``value`` nests documents and arrays (a scalar: 0), counted without
    recursion.

    Example:
        >>> depth({"a": [{"b": 1}]}), depth(3)
        (3, 0)
    """
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children: Any = ()
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        stack += [(child, level + 1) for child in children]
    return deepest


def shape_lines(recorded: Iterable[Recorded]) -> Iterable[str]:
    """One masked JSON line per shape."""
    for item in recorded:
        record = {
            "database": item.example.database,
            "command": masked_command(item.example.command),
            "fingerprint": item.shape.fingerprint,
            "shape": item.shape.summary,
            "count": item.count,
        }
        yield json.dumps(record, ensure_ascii=False, default=str)


def write_shapes(recorded: Iterable[Recorded], path: Path) -> None:
    """Write the shapes file (see :func:`shape_lines`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in shape_lines(recorded)), encoding="utf-8")
