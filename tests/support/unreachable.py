"""Collectors that never answer, for the promises kept when one is down: a refused endpoint
(a closed port) and a black hole (a socket that listens, never accepts and never replies,
as a firewall dropping packets or a hung collector looks to a client).

Example:
    >>> with black_hole() as endpoint:
    ...     endpoint.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from support.servers import free_port


@contextmanager
def black_hole() -> Iterator[str]:
    """The URL of a port that takes connections and never says a word."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(128)
        yield f"http://127.0.0.1:{hole.getsockname()[1]}"


def refused() -> str:
    """The URL of a port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"
