"""The Python ``bullmq`` Worker: every processed job measured with :class:`obs.job`.

obs does not depend on ``bullmq``; this patches ``bullmq.Worker`` only when it is
importable. The worker's processor is wrapped after the worker's own ``__init__`` ran, so
BullMQ's check of the processor's signature (does it take an abort signal?) still sees the
user's function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from obs.instrumentation.jobs import job

FEATURE = "jobs"
_original_init: Callable[..., None] | None = None


def _attempt(bull_job: Any) -> int:
    made = getattr(bull_job, "attemptsMade", 0)
    return (made if isinstance(made, int) else 0) + 1


def _enqueued_at(bull_job: Any) -> float | None:
    timestamp = getattr(bull_job, "timestamp", None)  # epoch milliseconds
    return timestamp / 1000.0 if isinstance(timestamp, int | float) and timestamp > 0 else None


def wrap_processor(queue: str, processor: Callable[..., Any]) -> Callable[..., Any]:
    """A processor that runs ``processor`` inside an :class:`obs.job` for its job."""

    @functools.wraps(processor)
    async def process(bull_job: Any, token: Any, *rest: Any) -> Any:
        run = job(
            queue, system="bullmq", enqueued_at=_enqueued_at(bull_job), attempt=_attempt(bull_job)
        )
        async with run:
            return await processor(bull_job, token, *rest)

    process.__obs_wrapped__ = True  # type: ignore[attr-defined]
    return process


def install() -> bool:
    """Patch ``bullmq.Worker`` once; False when bullmq is not installed."""
    global _original_init
    try:
        import bullmq
    except ImportError:
        return False
    if _original_init is not None:
        return True
    original = bullmq.Worker.__init__
    _original_init = original

    @functools.wraps(original)
    def __init__(self: Any, name: str, processor: Any = None, *args: Any, **kwargs: Any) -> None:
        original(self, name, processor, *args, **kwargs)
        current = getattr(self, "processor", None)
        if callable(current) and not getattr(current, "__obs_wrapped__", False):
            self.processor = wrap_processor(name, current)

    bullmq.Worker.__init__ = __init__
    return True


def uninstall() -> None:
    """Put ``bullmq.Worker.__init__`` back (workers already made stay measured while obs runs)."""
    global _original_init
    if _original_init is None:
        return
    import bullmq

    bullmq.Worker.__init__ = _original_init
    _original_init = None
