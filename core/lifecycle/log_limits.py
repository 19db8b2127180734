"""Rate limits for the OpenTelemetry SDK's own warnings.

With the collector down, the SDK warns once per dropped span ("Queue full, dropping span")
and once per failed export: thousands of identical lines a minute in the service's logs,
each costing a log record on the request thread. obs lets the first of each message
through, then at most one a minute, saying how many were suppressed. Drops themselves are
still counted by the SDK.

Example:
    >>> limit = RepeatLimit(interval=60.0)
    >>> record = logging.LogRecord("x", logging.WARNING, __file__, 1, "Queue full", (), None)
    >>> limit.filter(record), limit.filter(record)
    (True, False)
"""

from __future__ import annotations

import logging
import threading
import time

from obs.internals import InternalsChanged, otel_sdk, warn_once

# Loggers whose repeated warnings flood a service when the collector is unreachable (and
# the batch span processor's, whose module is private: obs.internals.otel_sdk).
NOISY_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
)


class RepeatLimit(logging.Filter):
    """Passes a message template the first time, then once per ``interval`` seconds."""

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self._interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        now = time.monotonic()
        with self._lock:
            last = self._last.get(template)
            if last is not None and now - last < self._interval:
                self._suppressed[template] = self._suppressed.get(template, 0) + 1
                return False
            self._last[template] = now
            suppressed = self._suppressed.pop(template, 0)
        if suppressed:
            record.msg = f"{record.msg} (and {suppressed} more like it, not logged)"
        return True


_installed = False


def install() -> None:
    """Attach the limit to the SDK's noisy loggers (once per process)."""
    global _installed
    if _installed:
        return
    limit = RepeatLimit()
    noisy = list(NOISY_LOGGERS)
    try:
        noisy.append(otel_sdk.batch_processor_logger())
    except InternalsChanged as exc:
        warn_once(exc, "its 'Queue full' warnings are not rate-limited")
    for name in noisy:
        logging.getLogger(name).addFilter(limit)
    _installed = True
