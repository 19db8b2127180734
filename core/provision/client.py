"""A small HTTP client for Datadog's dashboard and monitor API that reads replies as raw JSON.

Why not datadog-api-client's ``ApiClient``: its typed deserialisation fails on some live
dashboards (widget types or fields newer than the client), and obs compares raw JSON anyway;
its retries only react to a 429, while obs paces from the rate-limit headers before one.

- Keys come from ``DD_API_KEY`` and ``DD_APP_KEY`` and travel only in request headers; they
  are never part of a message, a log line or a ``repr``.
- The site comes from ``DD_SITE`` (``api.<site>``); ``OBS_DATADOG_API_URL`` or ``--api-url``
  replaces the whole base URL (proxies, tests).
- 429 waits until the bucket resets, at most ``max_wait`` seconds (``OBS_PROVISION_MAX_WAIT``,
  said on stderr); a longer wait asked for fails the request instead. 5xx and connection
  errors are retried with exponential backoff, except for requests that are not idempotent
  (creates): those raise :class:`OutcomeUnknown`, so the caller can look for the object before
  trying again.
- A reply must be complete within ``timeout`` seconds (a server trickling bytes would hold a
  read timeout off forever) and at most ``max_body`` bytes long.

Example:
    >>> endpoint = endpoint_from_env(None, {"DD_API_KEY": "k1", "DD_APP_KEY": "k2",
    ...                                     "DD_SITE": "datadoghq.eu"})
    >>> endpoint
    Endpoint(base_url='https://api.datadoghq.eu')
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from obs.provision.pacing import Pacer
from obs.provision.problems import ProvisionError

_ID_SEGMENT = re.compile(r"^(?:\d+|[a-z0-9]{3}-[a-z0-9]{3}-[a-z0-9]{3})$")


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to call Datadog. The keys are left out of ``repr``."""

    base_url: str
    api_key: str = field(repr=False, default="")
    app_key: str = field(repr=False, default="")


def endpoint_from_env(api_url: str | None, environ: Mapping[str, str]) -> Endpoint:
    """The endpoint from ``--api-url`` / the environment; a clear error for what is missing."""
    missing = [name for name in ("DD_API_KEY", "DD_APP_KEY") if not environ.get(name)]
    if missing:
        raise ProvisionError(
            f"{' and '.join(missing)} not set: obs provision needs a Datadog API key and an "
            "application key in the environment"
        )
    site = environ.get("DD_SITE") or "datadoghq.com"
    base = api_url or environ.get("OBS_DATADOG_API_URL") or f"https://api.{site}"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        source = "--api-url" if api_url else "OBS_DATADOG_API_URL or DD_SITE"
        raise ProvisionError(f"{source}: {base!r} is not an http(s) URL")
    return Endpoint(base.rstrip("/"), environ["DD_API_KEY"], environ["DD_APP_KEY"])


class DatadogError(ProvisionError):
    """Datadog refused a request (or kept failing); says which request and why."""

    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        super().__init__(f"{method} {path}: {status or 'no reply'}: {reason}")
        self.status = status
        self.reason = reason


class OutcomeUnknown(ProvisionError):
    """A request that is not safe to repeat got no usable reply: it may or may not have run."""


class _Deadline:
    """Ends a request that is not complete in time by shutting its socket down, which wakes
    the blocked read. urllib3's timeouts bound each socket read, not the whole reply, so a
    server sending one byte a second would hold a request open for ever."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.passed = False

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._socket = sock
            if self.passed and sock is not None:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.passed = True
            if self._socket is not None:
                _shut(self._socket)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


_requests = threading.local()  # the _Deadline of the request this thread is making


class _Watched:
    """A connection that hands its socket to the current request's deadline."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._watch()

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._watch()
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _watch(self) -> None:
        deadline = getattr(_requests, "deadline", None)
        if deadline is not None:
            deadline.attach(self.sock)


class _WatchedHTTP(_Watched, HTTPConnection):
    pass


class _WatchedHTTPS(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTP


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPS


class _TooSlow(Exception):
    pass


class _TooLarge(Exception):
    pass


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class DatadogClient:
    """Raw-JSON calls with pacing and retries; counts what it sends in ``requests``."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        attempts: int = 6,
        timeout: float = 60.0,
        backoff: float = 0.25,
        max_wait: float = 300.0,
        max_body: int = 32 * 2**20,
        pacer: Pacer | None = None,
        sleep: Callable[[float], object] = time.sleep,
        notify: Callable[[str], object] = _stderr,
    ) -> None:
        self._endpoint = endpoint
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._max_body = max_body
        self._sleep = sleep
        self.pacer = pacer or Pacer(sleep=sleep, max_wait=max_wait, notify=notify)
        self._pool = urllib3.PoolManager(
            maxsize=4,
            retries=False,
            timeout=urllib3.Timeout(connect=min(10.0, timeout), read=timeout),
        )
        self._pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self.requests: Counter[str] = Counter()

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, *, idempotent: bool = False) -> Any:
        return self.request("POST", path, body=body, idempotent=idempotent)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request, retrying what is safe to retry; the reply's JSON."""
        safe = method != "POST" if idempotent is None else idempotent
        url = self._endpoint.base_url + path + (f"?{urlencode(params)}" if params else "")
        data = json.dumps(body).encode() if body is not None else None
        route = f"{method} {_route(path)}"
        reason = "not sent"
        status = 0
        for attempt in range(self._attempts):
            self.pacer.before(route)
            self.requests[method] += 1
            try:
                status, headers, reply = self._send(method, url, data)
            except _TooSlow:
                reason = f"no complete reply within {self._timeout:g} s"
                if not safe:
                    raise OutcomeUnknown(f"{method} {path}: {reason}") from None
                raise DatadogError(method, path, 0, reason) from None
            except _TooLarge:
                reason = f"the reply is larger than {self._max_body // 2**20} MiB"
                if not safe:
                    raise OutcomeUnknown(f"{method} {path}: {reason}") from None
                raise DatadogError(method, path, 0, reason) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                reason, status = f"connection failed ({type(exc).__name__})", 0
                if not safe:
                    raise OutcomeUnknown(f"{method} {path}: {reason}") from None
                self._sleep(self._delay(attempt))
                continue
            self.pacer.observe(route, headers)
            if 200 <= status < 300:
                return _json(method, path, status, reply)
            reason = _errors(reply)
            if status == 429:
                wait = self.pacer.retry_after(headers, self._delay(attempt))
                if wait > self.pacer.max_wait:
                    raise DatadogError(
                        method,
                        path,
                        status,
                        f"rate limited; Datadog asks to wait {wait:.0f} s, longer than the "
                        f"{self.pacer.max_wait:.0f} s obs waits (OBS_PROVISION_MAX_WAIT)",
                    )
                self.pacer.wait(wait, f"Datadog's rate limit on {route} (429)")
                continue
            if status >= 500:
                if not safe:
                    raise OutcomeUnknown(f"{method} {path}: {status}: {reason}")
                self._sleep(self._delay(attempt))
                continue
            raise DatadogError(method, path, status, reason)
        raise DatadogError(method, path, status, f"{reason} (gave up after {self._attempts} tries)")

    def _send(self, method: str, url: str, data: bytes | None) -> tuple[int, dict[str, str], bytes]:
        """One attempt: the status, headers and body, complete within the timeout and no
        larger than ``max_body``."""
        deadline = _Deadline()
        timer = threading.Timer(self._timeout, deadline.expire)
        timer.daemon = True
        _requests.deadline = deadline
        timer.start()
        reply = None
        complete = False
        try:
            reply = self._pool.request(
                method,
                url,
                body=data,
                headers=self._headers(data is not None),
                preload_content=False,
            )
            declared = reply.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self._max_body:
                raise _TooLarge()
            body = bytearray()
            for chunk in reply.stream(2**16):
                body += chunk
                if len(body) > self._max_body:
                    raise _TooLarge()
            complete = True
            return reply.status, dict(reply.headers.items()), bytes(body)
        except (urllib3.exceptions.HTTPError, OSError):
            if deadline.passed:
                raise _TooSlow() from None
            raise
        finally:
            timer.cancel()
            _requests.deadline = None
            if reply is not None:
                if complete:
                    reply.release_conn()
                else:
                    reply.close()  # unread or cut off: the connection is not reused

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "DD-API-KEY": self._endpoint.api_key,
            "DD-APPLICATION-KEY": self._endpoint.app_key,
            "User-Agent": "obs-provision",
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _delay(self, attempt: int) -> float:
        return min(8.0, self._backoff * 2.0**attempt) * (1 + random.random() / 4)


def _route(path: str) -> str:
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in path.split("/"))


def _json(method: str, path: str, status: int, data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise DatadogError(method, path, status, "the reply is not JSON") from None


def _errors(data: bytes) -> str:
    try:
        errors = json.loads(data).get("errors")
    except (ValueError, AttributeError):
        return data[:200].decode(errors="replace") or "no details"
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)
    return str(errors)
