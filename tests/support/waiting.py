"""Polling for a condition instead of sleeping a fixed time (a loaded machine makes sleeps
race)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy or ``timeout`` passes; its last result.

    Example:
        >>> wait_for(lambda: 3)
        3
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)
