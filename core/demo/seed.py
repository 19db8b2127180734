"""The demo's data: an admin API's high-volume collections at a modest size, with the indexes
a team would have before an index rollout (some queries stay unindexed on purpose).

Example:
    >>> SIZES["users"] > 0 and set(SIZES) == set(INDEXES) | {"logs", "clicks"}
    True
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

SIZES = {"users": 1500, "transactions": 4000, "payouts": 800, "logs": 3000, "clicks": 3000}
# logs and clicks keep only _id: the demo's unindexed queries read them.
INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "users": [[("email", 1)], [("status", 1), ("createdAt", -1)]],
    "transactions": [[("userId", 1), ("createdAt", -1)]],
    "payouts": [[("status", 1)]],
}
STATUSES = ("active", "suspended", "pending")
LEVELS = ("info", "info", "info", "warn", "error")
CAMPAIGNS = tuple(f"campaign-{n}" for n in range(12))


def _users(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "_id": n,
            "email": f"user{n}@example.com",
            "status": rng.choice(STATUSES),
            "country": rng.choice(("DE", "FR", "NG", "BR", "IN", "US")),
            "createdAt": now - timedelta(minutes=n),
        }
        for n in range(SIZES["users"])
    ]


def _transactions(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "userId": rng.randrange(SIZES["users"]),
            "amount": round(rng.uniform(1, 500), 2),
            "kind": rng.choice(("deposit", "withdrawal", "mining")),
            "createdAt": now - timedelta(seconds=n * 7),
        }
        for n in range(SIZES["transactions"])
    ]


def _payouts(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "userId": rng.randrange(SIZES["users"]),
            "amount": round(rng.uniform(10, 900), 2),
            "status": rng.choice(("paid", "queued", "failed")),
            "createdAt": now - timedelta(minutes=n),
        }
        for n in range(SIZES["payouts"])
    ]


def _logs(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    messages = ("payout sent", "login", "export ready", "upstream timeout", "cache warm")
    return [
        {
            "level": rng.choice(LEVELS),
            "message": rng.choice(messages),
            "at": now - timedelta(seconds=n),
        }
        for n in range(SIZES["logs"])
    ]


def _clicks(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "campaign": rng.choice(CAMPAIGNS),
            "userId": rng.randrange(SIZES["users"]),
            "at": now - timedelta(seconds=n * 3),
        }
        for n in range(SIZES["clicks"])
    ]


_MAKERS = {
    "users": _users,
    "transactions": _transactions,
    "payouts": _payouts,
    "logs": _logs,
    "clicks": _clicks,
}


def seed(database: Any, seed_value: int = 7) -> dict[str, int]:
    """Fill ``database`` (a pymongo Database) unless it already holds the demo's data; returns
    the document count per collection."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    counts = {}
    for name, make in _MAKERS.items():
        collection = database[name]
        if collection.estimated_document_count() < SIZES[name]:
            collection.drop()
            collection.insert_many(make(rng, now), ordered=False)
            for keys in INDEXES.get(name, []):
                collection.create_index(keys)
        counts[name] = collection.estimated_document_count()
    return counts
