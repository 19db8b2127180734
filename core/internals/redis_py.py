"""Every redis-py internal that obs uses: a connection's own protocol methods, below the
client API.

The agent's BullMQ scrape sends thousands of commands packed once (``pack_commands``,
``send_packed_command``) and reads the replies straight off the connection
(``read_response``), on a connection taken from the client's pool (``get_connection``,
``release``) under the connection's retry policy (``retry.call_with_retry``); after a
failover it reloads a cluster's slot map (``nodes_manager.initialize``). None of these is
documented client API; nor are its reply parsers (``_HiredisParser``, ``_RESP2Parser``),
which the benchmark names and compares. ``tests/test_internals.py`` exercises each against
the installed redis-py and a real server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from obs.internals import InternalsChanged

LIBRARY = "redis-py"
T = TypeVar("T")


def _member(owner: Any, name: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError as exc:
        raise InternalsChanged(LIBRARY, f"{type(owner).__name__}.{name}", exc) from exc


@contextmanager
def connection_of(client: Any) -> Iterator[Any]:
    """A connection from ``client``'s pool, given back afterwards."""
    pool = _member(client, "connection_pool")
    connection = _member(pool, "get_connection")()
    try:
        yield connection
    finally:
        pool.release(connection)


def pack_commands(connection: Any, commands: Sequence[tuple[Any, ...]]) -> list[bytes]:
    """``commands`` in Redis protocol, as the connection would send them."""
    packed: list[bytes] = _member(connection, "pack_commands")(commands)
    return packed


def send_packed(connection: Any, packed: Iterable[bytes]) -> None:
    """Write packed commands in one go (the pieces one after the other)."""
    _member(connection, "send_packed_command")(packed)


def read_reply(connection: Any, *, decode: bool = True) -> Any:
    """The next reply on the connection (an error reply raises ``ResponseError``); with
    ``decode`` False its strings stay bytes, whatever the client decodes."""
    return _member(connection, "read_response")(disable_decoding=not decode)


def reply_parser(connection: Any) -> str:
    """Which parser reads the connection's replies: ``"hiredis"`` (hiredis's C parser, which
    redis-py picks whenever hiredis >= 3.2 is installed) or ``"python"`` (redis-py's own)."""
    import redis._parsers

    hiredis = _member(redis._parsers, "_HiredisParser")
    return "hiredis" if isinstance(_member(connection, "_parser"), hiredis) else "python"


def python_parser() -> type:
    """redis-py's own RESP2 reply parser, as a client's ``parser_class``: where hiredis is
    installed, the only way to read replies as redis-py would without it."""
    import redis._parsers

    parser: type = _member(redis._parsers, "_RESP2Parser")
    return parser


def with_retry(connection: Any, attempt: Callable[[], T]) -> T:
    """``attempt()`` under the connection's retry policy, reconnecting between tries."""
    retry = _member(connection, "retry")
    result: T = _member(retry, "call_with_retry")(attempt, lambda _error: connection.disconnect())
    return result


def reload_slots(cluster: Any) -> None:
    """Read a cluster client's slot map again."""
    _member(_member(cluster, "nodes_manager"), "initialize")()
