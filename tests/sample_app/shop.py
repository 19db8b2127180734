"""A small admin API's data access over its collections (users, transactions,
payouts, logs, clicks). Some reads are indexed, some are not: the gate must tell which."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING


def ensure_indexes(db: Any) -> None:
    """The indexes the application creates at start-up."""
    db.users.create_index([("email", ASCENDING)], unique=True)
    db.users.create_index([("status", ASCENDING), ("createdAt", DESCENDING)])
    db.transactions.create_index([("userId", ASCENDING), ("createdAt", DESCENDING)])
    db.payouts.create_index([("status", ASCENDING)])
    db.logs.create_index([("createdAt", DESCENDING)])
    db.clicks.create_index([("campaignId", ASCENDING), ("ts", DESCENDING)])


def user_by_email(db: Any, email: str) -> Any:
    return db.users.find_one({"email": email})


def recent_transactions(db: Any, user_id: int) -> list[Any]:
    return list(db.transactions.find({"userId": user_id}).sort("createdAt", -1).limit(20))


def errors_in_logs(db: Any, level: str) -> list[Any]:
    """Unindexed: logs are indexed by time only."""
    return list(db.logs.find({"level": level}).limit(50))


def largest_pending_payouts(db: Any) -> list[Any]:
    """Indexed filter, but the amount order needs an in-memory sort."""
    return list(db.payouts.find({"status": "pending"}).sort("amount", -1).limit(10))


def clicks_with_users(db: Any, campaign: int) -> list[Any]:
    """Indexed match; the join on users.externalId has no index."""
    pipeline = [
        {"$match": {"campaignId": campaign}},
        {
            "$lookup": {
                "from": "users",
                "localField": "userRef",
                "foreignField": "externalId",
                "as": "user",
            }
        },
    ]
    return list(db.clicks.aggregate(pipeline))
