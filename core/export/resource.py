"""The OpenTelemetry resource: who is sending (service, version, environment, host,
process, container).

Process command lines are left out on purpose: they often carry passwords and tokens.

Example:
    >>> attributes(service_name="api", service_version="1.2", environment="prod",
    ...            extra={"team": "core"})["deployment.environment.name"]
    'prod'
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

_CONTAINER_ID = re.compile(r"([0-9a-f]{64})")
# cgroup v1 lines end in the id; cgroup v2 hides it, but the container runtime's mounts
# (hostname, resolv.conf) name it in mountinfo.
_MOUNT_ID = re.compile(r"/(?:docker/containers|containers|sandboxes)/([0-9a-f]{64})/")


def container_id(proc: Path = Path("/proc/self")) -> str | None:
    """The id of the container this process runs in, when the kernel tells.

    Example:
        >>> container_id(Path("/nonexistent")) is None
        True
    """
    try:
        for line in (proc / "cgroup").read_text().splitlines():
            found = _CONTAINER_ID.search(line.rsplit("/", 1)[-1])
            if found:
                return found.group(1)
    except OSError:
        pass
    try:
        for line in (proc / "mountinfo").read_text().splitlines():
            found = _MOUNT_ID.search(line)
            if found:
                return found.group(1)
    except OSError:
        pass
    return None


def attributes(
    *,
    service_name: str | None,
    service_version: str | None,
    environment: str | None,
    extra: Mapping[str, str],
) -> dict[str, str | int]:
    """Resource attributes; explicit settings beat ``OTEL_RESOURCE_ATTRIBUTES`` entries."""
    out: dict[str, str | int] = dict(extra)
    if service_name:
        out["service.name"] = service_name
    out.setdefault("service.name", "unknown_service")
    if service_version:
        out["service.version"] = service_version
    if environment:
        out["deployment.environment.name"] = environment
    out.setdefault("host.name", socket.gethostname())
    out["process.pid"] = os.getpid()
    out.setdefault("process.runtime.name", sys.implementation.name)
    out.setdefault("process.runtime.version", ".".join(map(str, sys.version_info[:3])))
    cid = container_id()
    if cid:
        out.setdefault("container.id", cid)
    return out
