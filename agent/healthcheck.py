"""The container's HEALTHCHECK: ``python -m obs.agent.healthcheck`` exits 0 while the
agent's ``/healthz`` answers 200, else 1 (with the reason on stderr).

It asks where the agent listens, from ``OBS_AGENT_LISTEN`` (the container's way to set it;
default ``0.0.0.0:9465``): a wildcard host (``0.0.0.0``, ``::``, none) is asked on
loopback, a specific host on that host. An empty value turns the endpoints off: there is
nothing to ask, and the check passes (Docker runs it only while the container runs).
Proxy variables are ignored: the agent is local.

Example:
    >>> health_url("10.0.0.5:9465"), health_url(":9465")
    ('http://10.0.0.5:9465/healthz', 'http://127.0.0.1:9465/healthz')
    >>> health_url("[::]:9000"), health_url("")
    ('http://[::1]:9000/healthz', None)
"""

from __future__ import annotations

import os
import sys
import urllib.request

from obs.agent.config import DEFAULT_LISTEN, listen_address

_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def health_url(listen: str) -> str | None:
    """The /healthz URL of an agent listening on ``listen`` (None: endpoints off)."""
    address = listen_address(listen)
    if address is None:
        return None
    host, port = address
    host = _LOOPBACK.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"


def main() -> int:
    listen = os.environ.get("OBS_AGENT_LISTEN", DEFAULT_LISTEN)
    try:
        url = health_url(listen)
    except ValueError:
        print(
            f"obs agent healthcheck: OBS_AGENT_LISTEN is not host:port: {listen!r}", file=sys.stderr
        )
        return 1
    if url is None:
        return 0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as reply:
            return 0 if reply.status == 200 else 1
    except OSError as exc:  # refused, timed out, or an HTTP error status
        print(f"obs agent healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
