"""Read every source once per interval into the store, from a background thread.

Sources are read in parallel, each with a timeout shorter than the interval, so one slow
or dead endpoint neither delays the others nor piles rounds up; its error is kept in the
store's source status (and shown on the page) until it answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from obs import catalog
from obs.preview.mapping import SampleNames
from obs.preview.scrape import Scrape, ScrapeError, read
from obs.preview.store import Store

log = logging.getLogger("obs.preview")


class Scraper:
    """Scrapes ``sources`` into ``store`` every ``interval`` seconds until stopped."""

    def __init__(self, store: Store, sources: Sequence[str], interval: float) -> None:
        if interval <= 0:
            raise ValueError("the scrape interval must be positive")
        self.store = store
        self.sources = tuple(sources)
        self.interval = interval
        # a short interval must not make a slow (loaded) source look dead
        self.timeout = min(3.0, max(1.0, interval))
        self.names = SampleNames(catalog.CATALOG.values())
        self.completed = 0  # rounds fully read (every source answered or failed)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, len(self.sources)), "obs-preview-scrape")
        self._thread = threading.Thread(target=self._loop, name="obs-preview-scraper", daemon=True)

    def start(self) -> Scraper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + self.interval + 1)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def scrape_once(self) -> None:
        """One round: every source read and recorded (or its error noted)."""
        now = time.time()
        index = self.store.begin_round(now)
        futures = {s: self._pool.submit(read, s, self.names, self.timeout) for s in self.sources}
        for source, future in futures.items():
            try:
                scrape: Scrape = future.result()
            except ScrapeError as exc:
                self.store.failed(source, str(exc))
                log.debug("%s", exc)
                continue
            self.store.add(index, source, scrape, now)
        self.completed += 1

    def _loop(self) -> None:
        next_round = time.monotonic()
        while not self._stop.is_set():
            try:
                self.scrape_once()
            except Exception:  # the preview keeps drawing whatever a round did
                log.exception("obs preview: a scrape round failed")
            next_round += self.interval
            self._stop.wait(max(0.0, next_round - time.monotonic()))
