"""Waiting on pymongo's pool state instead of sleeping (a loaded machine makes sleeps race)."""

from __future__ import annotations

import time

from obs.instrumentation import pymongo as listener


def wait_for_checkout(timeout: float = 10.0) -> None:
    """Return once some pooled connection is checked out (as obs's pool listener counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pool.used >= 1 for pool in listener.POOLS._snapshot()):
            return
        time.sleep(0.005)
    raise TimeoutError("no connection was checked out")
