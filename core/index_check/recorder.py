"""A pymongo command listener that records the query commands an application sends.

It does not depend on ``obs.init()``: the pytest plugin registers it on its own. Only the
first command of each shape is kept (with its values, in memory only), plus a count per
shape and the server it went to, so memory stays bounded by the number of shapes however
long the test suite; each command still costs its shape (a walk of the command and a small
JSON dump), which is test-time work, never production.

Example:
    recorder = Recorder()
    pymongo.monitoring.register(recorder)   # before the application creates its clients
    ...
    for recorded in recorder.take_new(): ...
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from pymongo import monitoring

from obs.index_check.check import Recorded
from obs.index_check.model import Sample
from obs.mongo_queries.shape import shape_of


class Recorder(monitoring.CommandListener):
    """Records query commands by shape (see the module docstring)."""

    def __init__(self) -> None:
        self.source = "pytest"  # the test running now; set by the plugin
        self.paused = False  # while the plugin explains, its own commands are not recorded
        self._lock = threading.Lock()
        self._shapes: dict[str, Recorded] = {}
        self._servers: dict[str, Any] = {}
        self._unexamined: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.paused:
            return
        try:
            shape = shape_of(event.database_name, event.command)
        except Exception:  # a command the shaper cannot read must never break the app
            return
        if shape is None:
            return
        with self._lock:
            recorded = self._shapes.get(shape.fingerprint)
            if recorded is None:
                sample = Sample(event.database_name, copy.deepcopy(event.command), self.source)
                recorded = self._shapes[shape.fingerprint] = Recorded(shape, sample)
                self._servers[shape.fingerprint] = event.connection_id
                self._unexamined.append(shape.fingerprint)
            recorded.add(Sample(event.database_name, {}, self.source))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take_new(self) -> list[tuple[Recorded, Any]]:
        """Shapes first seen since the last call, each with the server address
        (``(host, port)``) its first command went to."""
        with self._lock:
            taken = [(self._shapes[f], self._servers[f]) for f in self._unexamined]
            self._unexamined = []
        return taken

    def recorded(self) -> list[Recorded]:
        """Every shape recorded so far, in order of first appearance."""
        with self._lock:
            return list(self._shapes.values())
