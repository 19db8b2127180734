"""The demo service's traffic, through an ``obs.init()``-instrumented process: the admin API's
queries (indexed, unindexed, offset-paginated), KPI lookups cached in Redis for 30 s, and
BullMQ export and notification queues with workers, some jobs failing and retrying; the
exports' storage is down for the first 15 s of every 2 minutes (from the start), a failure
burst that makes the job-success SLO burn its error budget. Every request goes through
``obs.guard("admin-api", client=<its API key>)``, and for 10 s of every 2 minutes (from the
5th second) one API key floods the API, tripping the guard's per-client rate limit.

Rates are modest (a few dozen operations a second) so that the demo leaves the machine
usable; the numbers still move on every dashboard.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from obs.demo.seed import CAMPAIGNS, SIZES

KPI_TTL_SECONDS = 30  # KPI lookups are cached for 30 s
QUEUES = ("exports", "notifications")
OUTAGE_EVERY, OUTAGE_SECONDS = 120.0, 15.0  # the exports' storage fails in bursts
BURST_AT, BURST_SECONDS = 5.0, 10.0  # one API key floods the API, every OUTAGE_EVERY
GUARD = "admin-api"


class MongoTraffic:
    """The admin API's queries, one at a time, in a loop per thread."""

    def __init__(self, database: Any, cache: Any, rng: random.Random) -> None:
        self._db = database
        self._cache = cache
        self._rng = rng
        self._requests: list[tuple[int, Callable[[], object]]] = [
            (5, self.user_by_email),  # indexed
            (4, self.recent_transactions),  # indexed, sorted by the index
            (2, self.admin_listing),  # offset pagination: large skips
            (1, self.error_logs),  # unindexed: collection scan, unanchored regex
            (1, self.campaign_clicks),  # unindexed count
            (1, self.payout_totals),  # aggregation
            (6, self.kpi_revenue),  # Redis-cached KPI
            (3, self.leaderboard),  # Redis hash, sometimes empty
        ]
        self._weights = [w for w, _ in self._requests]

    def one(self) -> None:
        """Run one request picked at random, weighted as above."""
        _, request = self._rng.choices(self._requests, weights=self._weights)[0]
        request()

    def user_by_email(self) -> object:
        return self._db.users.find_one(
            {"email": f"user{self._rng.randrange(SIZES['users'])}@example.com"}
        )

    def recent_transactions(self) -> object:
        user = self._rng.randrange(SIZES["users"])
        return list(self._db.transactions.find({"userId": user}).sort("createdAt", -1).limit(20))

    def admin_listing(self) -> object:
        page = self._rng.randrange(30)
        cursor = self._db.users.find({"status": "active"}).sort("createdAt", -1)
        return list(cursor.skip(page * 50).limit(50))

    def error_logs(self) -> object:
        query = {"level": "error", "message": {"$regex": "timeout"}}
        return list(self._db.logs.find(query).limit(50))

    def campaign_clicks(self) -> object:
        return self._db.clicks.count_documents({"campaign": self._rng.choice(CAMPAIGNS)})

    def payout_totals(self) -> object:
        pipeline = [
            {"$match": {"status": "paid"}},
            {"$group": {"_id": "$userId", "total": {"$sum": "$amount"}}},
            {"$sort": {"total": -1}},
            {"$limit": 10},
        ]
        return list(self._db.payouts.aggregate(pipeline))

    def kpi_revenue(self) -> object:
        kind = self._rng.choice(("deposit", "withdrawal", "mining"))
        key = f"kpi:revenue:{kind}"
        cached = self._cache.get(key)
        if cached is not None:
            return json.loads(cached)
        pipeline = [{"$match": {"kind": kind}}, {"$group": {"_id": None, "s": {"$sum": "$amount"}}}]
        total = next(iter(self._db.transactions.aggregate(pipeline)), {"s": 0})["s"]
        self._cache.set(key, json.dumps(total), ex=KPI_TTL_SECONDS)
        return total

    def leaderboard(self) -> object:
        week = self._rng.choice(("lb:weekly", "lb:weekly", "lb:weekly", "lb:last-week"))
        board = self._cache.hgetall(week)
        if not board and week == "lb:weekly":
            self._cache.hset(week, mapping={f"user{n}": n for n in range(10)})
            self._cache.expire(week, 120)
        return board


def run_mongo_traffic(
    traffic: MongoTraffic,
    stop: threading.Event,
    pause: float,
    client: str,
    when: Callable[[], bool] = lambda: True,
) -> None:
    """Loop until ``stop`` as API key ``client``, guarded, while ``when()`` (else idle); one
    failed or refused request does not end the demo's traffic."""
    import obs

    while not stop.is_set():
        if not when():
            stop.wait(1.0)
            continue
        try:
            with obs.guard(GUARD, client=client):
                traffic.one()
        except Exception:
            if stop.is_set():
                return
        stop.wait(pause)


def in_burst(seconds_since_start: float) -> bool:
    """Whether one API key floods the API ``seconds_since_start`` into the demo.

    Example:
        >>> in_burst(2.0), in_burst(8.0), in_burst(128.0)
        (False, True, True)
    """
    return 0 <= (seconds_since_start - BURST_AT) % OUTAGE_EVERY < BURST_SECONDS


async def _produce(redis_url: str, stop: threading.Event, rng: random.Random) -> None:
    from bullmq import Queue

    queues = {name: Queue(name, {"connection": redis_url}) for name in QUEUES}
    keep = {"removeOnComplete": 1000, "removeOnFail": 1000}
    tick = 0
    try:
        while not stop.is_set():
            # Exports come in bursts (a nightly report, say) that one worker drains in a few
            # seconds: the backlog and the oldest job's age rise and fall.
            if tick % 120 == 0:
                for _ in range(40):
                    await queues["exports"].add(
                        "csv",
                        {"rows": rng.randrange(100, 5000)},
                        {"attempts": 3, "backoff": {"type": "fixed", "delay": 1000}, **keep},
                    )
            options: dict[str, Any] = {"attempts": 2, **keep}
            if rng.random() < 0.2:
                options["delay"] = rng.randrange(2000, 15000)
            if rng.random() < 0.2:
                options["priority"] = rng.randrange(1, 5)
            await queues["notifications"].add("push", {"user": rng.randrange(1000)}, options)
            tick += 1
            await asyncio.sleep(0.25)
    finally:
        for queue in queues.values():
            await queue.close()


def in_outage(seconds_since_start: float) -> bool:
    """Whether the exports' storage is down ``seconds_since_start`` into the demo.

    Example:
        >>> in_outage(3.0), in_outage(20.0), in_outage(125.0)
        (True, False, True)
    """
    return seconds_since_start % OUTAGE_EVERY < OUTAGE_SECONDS


async def _consume(redis_url: str, stop: threading.Event, rng: random.Random) -> None:
    from bullmq import Worker

    started = time.monotonic()

    async def export(job: Any, token: str) -> str:
        await asyncio.sleep(rng.uniform(0.2, 0.6))
        if in_outage(time.monotonic() - started) or rng.random() < 0.1:
            raise RuntimeError("export storage unavailable")
        return "ok"

    async def notify(job: Any, token: str) -> str:
        await asyncio.sleep(rng.uniform(0.01, 0.05))
        if rng.random() < 0.05:
            raise RuntimeError("push gateway refused")
        return "sent"

    workers = [
        Worker("exports", export, {"connection": redis_url, "concurrency": 1}),
        Worker("notifications", notify, {"connection": redis_url, "concurrency": 4}),
    ]
    try:
        while not stop.is_set():
            await asyncio.sleep(0.2)
    finally:
        for worker in workers:
            await worker.close()


def run_queues(redis_url: str, stop: threading.Event, seed_value: int = 11) -> None:
    """Producers and workers of the demo's BullMQ queues, until ``stop``."""
    rng = random.Random(seed_value)

    async def main() -> None:
        await asyncio.gather(_produce(redis_url, stop, rng), _consume(redis_url, stop, rng))

    asyncio.run(main())
