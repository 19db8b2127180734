"""Waiting on pymongo's pool state instead of sleeping (a loaded machine makes sleeps race)."""

from __future__ import annotations

from obs.instrumentation import pymongo as listener
from support.waiting import wait_for


def wait_for_checkout(timeout: float = 10.0) -> None:
    """Return once some pooled connection is checked out (as obs's pool listener counts)."""
    checked_out = wait_for(
        lambda: any(pool.used >= 1 for pool in listener.POOLS._snapshot()), timeout, 0.005
    )
    if not checked_out:
        raise TimeoutError("no connection was checked out")
