"""WSGI and ASGI middleware: a :class:`~obs.protection.guard.Rejected` raised while handling
a request becomes its answer, 429 (client over its rate) or 503 (limit, breaker) with a
``Retry-After`` header. Given a ``name``, the middleware also guards every request itself.

``client`` and ``priority`` are functions of the WSGI environ or the ASGI scope; the client
key they return is used in memory only (telemetry sees its hash).

Example:
    >>> def app(environ, start_response):
    ...     start_response("200 OK", [])
    ...     return [b"ok"]
    >>> guarded = WsgiGuard(app, "api", client=lambda environ: environ.get("HTTP_X_API_KEY"))
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

from obs.protection.guard import Rejected
from obs.protection.runtime import guard

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
App = TypeVar("App", bound=Callable[..., Any])
ClientOf = Callable[[Mapping[str, Any]], str | None]
PriorityOf = Callable[[Mapping[str, Any]], str]

_REASONS = {429: "Too Many Requests", 503: "Service Unavailable"}


def _body(exc: Rejected) -> bytes:
    return f"{exc.reason}: retry after {exc.retry_after_header()} s\n".encode()


class _Middleware(Generic[App]):
    """What both middleware take: the application, and how to guard its requests."""

    def __init__(
        self,
        app: App,
        name: str | None = None,
        *,
        client: ClientOf | None = None,
        priority: PriorityOf | None = None,
    ) -> None:
        self.app: App = app
        self.name = name
        self.client = client
        self.priority = priority

    def _guard(self, name: str, request: Mapping[str, Any]) -> guard:
        """The guard of one request (its WSGI environ or ASGI scope)."""
        client = self.client(request) if self.client else None
        priority = self.priority(request) if self.priority else "normal"
        return guard(name, client=client, priority=priority)


class WsgiGuard(_Middleware[WsgiApp]):
    """WSGI middleware; a streamed response body runs after the guard has let go (the guard
    covers the application call).

    Example:
        >>> WsgiGuard(lambda environ, start_response: [])  # maps rejections only
        <...WsgiGuard object at ...>
    """

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            if self.name is None:
                return self.app(environ, start_response)
            with self._guard(self.name, environ):
                return self.app(environ, start_response)
        except Rejected as exc:
            headers = [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Retry-After", exc.retry_after_header()),
            ]
            # exc_info: an application that already started its answer gets the exception
            # back from the server (PEP 3333) instead of two status lines.
            start_response(f"{exc.status} {_REASONS[exc.status]}", headers, sys.exc_info())
            return [_body(exc)]


class AsgiGuard(_Middleware[AsgiApp]):
    """ASGI middleware (HTTP requests; other scopes pass through).

    Example:
        >>> async def app(scope, receive, send): ...
        >>> guarded = AsgiGuard(app, "api", priority=lambda scope: "low"
        ...                     if scope["path"].startswith("/exports") else "normal")
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            if self.name is None:
                await self.app(scope, receive, tracked)
                return
            async with self._guard(self.name, scope):
                await self.app(scope, receive, tracked)
        except Rejected as exc:
            if started:
                raise  # too late for a status: the server sees the error
            await send(
                {
                    "type": "http.response.start",
                    "status": exc.status,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"retry-after", exc.retry_after_header().encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _body(exc)})
