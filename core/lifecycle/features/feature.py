"""What every part of ``obs.init()`` is (:class:`Feature`), and what the parts share while
they start (:class:`Context`)."""

from __future__ import annotations

import abc
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from obs.export.deadline import Deadline
from obs.runtime.failures import Failures
from obs.runtime.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

    from obs.runtime.instruments import Instruments
    from obs.runtime.leaf_spans import LeafTracer

logger = logging.getLogger("obs")


class Context:
    """What ``obs.init()`` knows while its features start: the settings, and what the
    features started so far offer the later ones."""

    def __init__(self, settings: Settings, failures: Failures, strict: bool) -> None:
        self.settings = settings
        self.failures = failures
        self.strict = strict
        self.tracer_provider: Any = None  # set by traces
        self.tracer: LeafTracer | None = None
        self.meter_provider: Any = None  # set by metrics
        self.instruments: Instruments | None = None
        self._resource: Resource | None = None

    def resource(self) -> Resource:
        """The OpenTelemetry resource, made once for every signal. Attributes that cannot
        be read cost a warning and an empty resource (or raise when strict)."""
        if self._resource is None:
            from obs.lifecycle import providers

            try:
                self._resource = providers.make_resource(self.settings)
            except Exception as exc:
                if self.strict:
                    raise
                logger.warning("obs: could not build resource attributes: %s", exc)
                self._resource = providers.Resource.create({})
        return self._resource


def nothing_to_record(context: Context) -> str | None:
    """The reason a feature that records spans or metrics stays off without both."""
    if context.tracer is None and context.instruments is None:
        return "traces and metrics are both off: nothing to record"
    return None


class Feature(abc.ABC):
    """One part of ``obs.init()``, on or off as a whole: a row of ``obs.status()``.

    An object lives from one ``obs.init()`` to its ``obs.shutdown()``. Its settings (fields
    of :class:`~obs.runtime.settings.Settings` naming it in ``features``) are turned off
    with it when their value is bad.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def off(self, settings: Settings) -> str | None:
        """Why ``settings`` turn this feature off (shown in ``obs.status()``), or None."""

    def missing(self, context: Context) -> str | None:
        """Why the features started before leave this one nothing to do, or None."""
        return None

    @abc.abstractmethod
    def start(self, context: Context) -> str:
        """Start; returns what ``obs.status()`` says about it. Raises when it cannot start,
        having undone what it did so far."""

    def flush(self, deadline: Deadline) -> bool:
        """Send what it holds by ``deadline``; True when nothing was lost."""
        return True

    @abc.abstractmethod
    def stop(self, deadline: Deadline) -> bool:
        """Undo :meth:`start` by ``deadline``; True when nothing was lost."""
