"""A small HTTP client for Datadog's dashboard and monitor API that reads replies as raw JSON.

Why not datadog-api-client's ``ApiClient``: its typed deserialisation fails on some live
dashboards (widget types or fields newer than the client), and obs compares raw JSON anyway;
its retries only react to a 429, while obs paces from the rate-limit headers before one.

- Keys come from ``DD_API_KEY`` and ``DD_APP_KEY`` and travel only in request headers; they
  are never part of a message, a log line or a ``repr``.
- The site comes from ``DD_SITE`` (``api.<site>``); ``OBS_DATADOG_API_URL`` or ``--api-url``
  replaces the whole base URL (proxies, tests).
- 429 waits until the bucket resets; 5xx and connection errors are retried with exponential
  backoff, except for requests that are not idempotent (creates): those raise
  :class:`OutcomeUnknown`, so the caller can look for the object before trying again.

Example:
    >>> endpoint = endpoint_from_env(None, {"DD_API_KEY": "k1", "DD_APP_KEY": "k2",
    ...                                     "DD_SITE": "datadoghq.eu"})
    >>> endpoint
    Endpoint(base_url='https://api.datadoghq.eu')
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

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


class DatadogClient:
    """Raw-JSON calls with pacing and retries; counts what it sends in ``requests``."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        attempts: int = 6,
        timeout: float = 30.0,
        backoff: float = 0.25,
        pacer: Pacer | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._endpoint = endpoint
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self.pacer = pacer or Pacer(sleep=sleep)
        self._pool = urllib3.PoolManager(
            maxsize=4, retries=False, timeout=urllib3.Timeout(connect=10.0, read=timeout)
        )
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
                reply = self._pool.request(
                    method, url, body=data, headers=self._headers(data is not None)
                )
            except urllib3.exceptions.HTTPError as exc:
                reason, status = f"connection failed ({type(exc).__name__})", 0
                if not safe:
                    raise OutcomeUnknown(f"{method} {path}: {reason}") from None
                self._sleep(self._delay(attempt))
                continue
            headers = dict(reply.headers.items())
            self.pacer.observe(route, headers)
            status = reply.status
            if 200 <= status < 300:
                return _json(method, path, status, reply.data)
            reason = _errors(reply.data)
            if status == 429:
                self._sleep(self.pacer.retry_after(headers, self._delay(attempt)))
                continue
            if status >= 500:
                if not safe:
                    raise OutcomeUnknown(f"{method} {path}: {status}: {reason}")
                self._sleep(self._delay(attempt))
                continue
            raise DatadogError(method, path, status, reason)
        raise DatadogError(method, path, status, f"{reason} (gave up after {self._attempts} tries)")

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
