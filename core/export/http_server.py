"""A few read-only GET routes served from a daemon thread: the agent's endpoints and a
service's ``/metrics``.

The standard library's threaded ``http.server`` is enough for a handful of routes read by
scrapers and probes; a web framework would cost more memory than everything it serves.
What a hostile or broken client could do to it is bounded:

- at most ``max_connections`` connections are served at once; a connection that has taken
  longer than ``deadline`` seconds is cut when a new one needs its place, else the new one
  is refused (a slowloris holds a few threads for a few seconds, never hundreds);
- each read and write waits at most ``io_timeout`` seconds;
- bodies over 1 KiB are gzipped for clients that accept it (a /metrics page of 1,000
  queues is 1.5 MB);
- the address family follows the host as prometheus_client chooses it (``::`` is IPv6).

:func:`cached` keeps an expensive route (a service's /metrics collects every instrument)
to at most one rendering per ``max_age`` seconds, however often it is asked. It keeps the
answer gzipped (:class:`Gzipped`), compressing the body piece by piece as the route yields
it: the plain page (15 MB at 10,000 queues) is never whole in memory, nor kept until the
next scrape.

Example:
    >>> server = RouteServer(("127.0.0.1", 0), {"/ping": lambda: (200, "text/plain", [b"ok"])})
    >>> server.start().port > 0
    True
    >>> server.stop()
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Gzipped:
    """A body kept gzipped: sent as it is to a client that accepts gzip, inflated piece by
    piece for one that does not.

    Example:
        >>> page = [b"a" * 700, b"b" * 700]
        >>> body = gzipped(page)
        >>> isinstance(body, Gzipped), body.length, b"".join(body.plain()) == b"".join(page)
        (True, 1400, True)
        >>> gzipped([b"small"])
        [b'small']
    """

    pieces: tuple[bytes, ...]
    length: int  # of the plain body

    def plain(self) -> Iterator[bytes]:
        inflate = zlib.decompressobj(31)
        for piece in self.pieces:
            yield inflate.decompress(piece)
        yield inflate.flush()


# A route answers a status, a content type and the body in pieces, written one after the
# other (a /metrics page of 1,000 queues is 1.5 MB: it is never joined first); the pieces
# may come from an iterator, taken as they are written.
Body = Iterable[bytes] | Gzipped
Route = Callable[[], tuple[int, str, Body]]

MAX_CONNECTIONS = 16
IO_TIMEOUT = 5.0
DEADLINE = 10.0
_GZIP_FROM = 1024  # bytes; smaller bodies are sent as they are
_GZIP_LEVEL = 1  # Prometheus text compresses about 10x at level 1, at a fraction of level 9's CPU


def address_family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """The family and address to bind ``host`` with, chosen as prometheus_client does (the
    first of getaddrinfo's passive answers).

    Example:
        >>> address_family("127.0.0.1", 0)
        (<AddressFamily.AF_INET: 2>, '127.0.0.1')
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return family, str(sockaddr[0])


def cached(
    render: Route, max_age: float = 1.0, clock: Callable[[], float] = time.monotonic
) -> Route:
    """``render`` run at most once per ``max_age`` seconds: requests in between get its
    last answer, and requests that arrive while it runs wait for that one run.

    Example:
        >>> calls = []
        >>> route = cached(lambda: (calls.append(1), (200, "text/plain", [b"x"]))[1])
        >>> route() == route(), len(calls)
        (True, 1)
    """
    lock = threading.Lock()
    last: list[Any] = [None, 0.0]  # the answer, when it was made

    def route() -> tuple[int, str, Body]:
        with lock:
            now = clock()
            if last[0] is None or now - last[1] >= max_age:
                status, content_type, body = render()
                last[0], last[1] = (status, content_type, gzipped(body)), now
            answer: tuple[int, str, Body] = last[0]
            return answer

    return route


def gzipped(body: Body) -> Gzipped | list[bytes]:
    """``body`` gzipped as it is taken, piece by piece; a body under 1 KiB stays as it is
    (a list of its pieces), as the server sends it."""
    if isinstance(body, Gzipped):
        return body
    pieces = iter(body)
    head: list[bytes] = []
    length = 0
    for piece in pieces:
        head.append(piece)
        length += len(piece)
        if length >= _GZIP_FROM:
            break
    else:
        return head
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: the gzip format
    out = [compressor.compress(piece) for piece in head]
    for piece in pieces:
        length += len(piece)
        out.append(compressor.compress(piece))
    out.append(compressor.flush())
    return Gzipped(tuple(piece for piece in out if piece), length)


class _Server(ThreadingHTTPServer):
    """Serves at most ``max_connections`` connections, cutting those past their deadline."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a burst is accepted and turned away, not left to SYN retries

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
        deadline: float,
    ) -> None:
        self.address_family, host = address_family(*address)
        self.max_connections = max_connections
        self.deadline = deadline
        self.refused = 0  # connections turned away while every place was taken
        self._open: dict[Any, float] = {}  # connection -> when it must be done
        self._lock = threading.Lock()
        super().__init__((host, address[1]), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if len(self._open) >= self.max_connections:
                for connection, until in list(self._open.items()):
                    if until <= now:  # its thread sees the connection end and finishes
                        with contextlib.suppress(OSError):
                            connection.shutdown(socket.SHUT_RDWR)
                        del self._open[connection]
            full = len(self._open) >= self.max_connections
            if full:
                self.refused += 1
            else:
                self._open[request] = now + self.deadline
        if full:
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (or was cut off) is no error of the process's

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)


class RouteServer:
    """Serves ``routes`` (path -> :data:`Route`) on ``address``; 404 for anything else."""

    def __init__(
        self,
        address: tuple[str, int],
        routes: Mapping[str, Route],
        *,
        max_connections: int = MAX_CONNECTIONS,
        io_timeout: float = IO_TIMEOUT,
        deadline: float = DEADLINE,
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            timeout = io_timeout  # every read and write of the connection

            def do_GET(self) -> None:
                route = routes.get(self.path.split("?", 1)[0])
                accepts = "gzip" in self.headers.get("Accept-Encoding", "")
                body: Gzipped | list[bytes]
                try:
                    status, content_type, answer = route() if route else (404, "text/plain", [])
                    if isinstance(answer, Gzipped) or accepts:
                        body = gzipped(answer)
                    else:
                        body = list(answer)
                except Exception as exc:  # a failing route answers; the server goes on
                    status, content_type, body = 500, "text/plain", [type(exc).__name__.encode()]
                gzip = accepts and isinstance(body, Gzipped)
                pieces: Iterable[bytes]
                if isinstance(body, Gzipped):
                    pieces = body.pieces if gzip else body.plain()
                    length = sum(map(len, body.pieces)) if gzip else body.length
                else:
                    pieces, length = body, sum(map(len, body))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if gzip:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Vary", "Accept-Encoding")
                self.send_header("Content-Length", str(length))
                self.end_headers()
                for piece in pieces:
                    self.wfile.write(piece)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a scrape every few seconds must not fill the process's log

        # Binds now: errors surface here.
        self.server = _Server(address, Handler, max_connections, deadline)
        self.host = str(address[0])
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
