"""Waiting on pymongo's pool state instead of sleeping (a loaded machine makes sleeps race)."""

from __future__ import annotations

from obs.instrumentation import pymongo_pool
from support.waiting import wait_for


def wait_for_checkout(timeout: float = 10.0) -> None:
    """Return once some pooled connection is checked out (as obs's pool gauges read)."""
    checked_out = wait_for(
        lambda: any(pool.used >= 1 for pool in pymongo_pool._snapshot()), timeout, 0.005
    )
    if not checked_out:
        raise TimeoutError("no connection was checked out")
