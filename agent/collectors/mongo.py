"""What the MongoDB collectors share: the target's attributes, which databases to read,
and how to read a nested serverStatus field.

Every call here is a read (``listDatabases`` with ``nameOnly``); the agent never writes to
a watched server unless ``mongo_profiler_level`` is set (see :func:`set_profiler_level`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from obs.agent.points import AttributeValue
from obs.catalog import attr
from obs.mongo_queries.own_operations import AGENT_APP_NAME

# The agent's own operations carry it, so that it and index-check skip them.
APP_NAME = AGENT_APP_NAME
SYSTEM_DATABASES = frozenset({"admin", "local", "config"})


def server_attributes(uri: str) -> dict[str, AttributeValue]:
    """``server.address`` / ``server.port`` of the first host of a MongoDB URI.

    Example:
        >>> server_attributes("mongodb://u:p@db1:27018,db2/app")
        {'server.address': 'db1', 'server.port': 27018}
    """
    hosts = urlsplit(uri).netloc.rsplit("@", 1)[-1]
    first = hosts.split(",")[0]
    host, _, port = first.rpartition(":") if first.count(":") == 1 else (first, "", "")
    default = 27017 if urlsplit(uri).scheme == "mongodb" else None
    out: dict[str, AttributeValue] = {attr.SERVER_ADDRESS: host or first}
    if port.isdigit() or default is not None:
        out[attr.SERVER_PORT] = int(port) if port.isdigit() else 27017
    return out


def watched_databases(client: Any, configured: Sequence[str] | None) -> list[str]:
    """The configured databases, or every one the server lists but admin/local/config."""
    if configured:
        return list(configured)
    names = client.list_database_names()
    return sorted(n for n in names if n not in SYSTEM_DATABASES)


def dig(document: Mapping[str, Any], *path: str) -> Any:
    """``document[a][b]...``, or None where the path stops.

    Example:
        >>> dig({"metrics": {"queryExecutor": {"scanned": 5}}}, "metrics", "queryExecutor",
        ...     "scanned"), dig({}, "opLatencies", "reads")
        (5, None)
    """
    value: Any = document
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


# The profiler's and currentOp's `op` values, as the command names drivers send.
_OP_COMMANDS = {"query": "find", "getmore": "getMore", "remove": "delete"}


def operation_name(op: Any, command: Any) -> str:
    """The command name of an operation in currentOp or the profiler.

    Updates and deletes appear as their statement (``{q, u}``) and getMores by cursor id,
    so their ``op`` names them; a command document names itself.

    Example:
        >>> operation_name("update", {"q": {}, "u": {}}), operation_name("command", {"hello": 1})
        ('update', 'hello')
    """
    if isinstance(command, Mapping) and command:
        first = next(iter(command))
        if op == "command" or isinstance(command[first], str):
            return str(first)
    return _OP_COMMANDS.get(str(op), str(op or "unknown"))


def set_profiler_level(client: Any, databases: Sequence[str], level: int, slowms: int) -> None:
    """The one write the agent can make, only when asked for in the configuration."""
    for name in databases:
        client[name].command("profile", level, slowms=slowms)
