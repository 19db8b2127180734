"""The agent's own footprint: resident memory and CPU (psutil).

CPU is the fraction of one core used since the previous collection (the first one: since
the process started), so 0.02 is 2 % of a core.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from obs import catalog
from obs.agent.points import Collected, Point


class ProcessCollector:
    """Collects RSS and CPU of this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.process = psutil.Process()
        self.clock = clock
        self._last = (self.process.create_time(), 0.0)  # (wall time, cpu seconds)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def collect(self) -> Collected:
        now, cpu = self.clock(), self.cpu_seconds()
        then, cpu_then = self._last
        self._last = (now, cpu)
        utilization = (cpu - cpu_then) / (now - then) if now > then else 0.0
        rss = self.process.memory_info().rss
        return Collected(
            readings=(
                Point.of(catalog.AGENT_MEMORY_RSS, rss, {}),
                Point.of(catalog.AGENT_CPU_UTILIZATION, utilization, {}),
            )
        )
