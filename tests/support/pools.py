"""Waiting on pymongo's pool state instead of sleeping (a loaded machine makes sleeps race)."""

from __future__ import annotations

import threading
from typing import Any

from obs.instrumentation import pymongo_pool
from support.waiting import wait_for


def wait_for_checkout(timeout: float = 10.0) -> None:
    """Return once some pooled connection is checked out (as obs's pool gauges read)."""
    checked_out = wait_for(
        lambda: any(pool.used >= 1 for pool in pymongo_pool._snapshot()), timeout, 0.005
    )
    if not checked_out:
        raise TimeoutError("no connection was checked out")


def hold_the_only_connection(collection: Any, milliseconds: int) -> threading.Thread:
    """Start a ``find_one`` on ``collection`` that the server holds for ``milliseconds``
    (a failCommand fail point) and return its thread once it holds the pool's only
    connection; join it to let go."""
    collection.database.client.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {
                "failCommands": ["find"],
                "blockConnection": True,
                "blockTimeMS": milliseconds,
            },
        }
    )
    slow = threading.Thread(target=collection.find_one)
    slow.start()
    wait_for_checkout()
    return slow
