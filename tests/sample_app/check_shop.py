"""The sample application's own tests: plain pytest, nothing about index checks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import shop
from pymongo import MongoClient


@pytest.fixture
def db() -> Iterator[Any]:
    """A fresh database with the application's indexes and a little data; dropped after
    the test (the gate must explain before this teardown)."""
    client: Any = MongoClient(os.environ["SAMPLE_APP_MONGO_URI"])
    database = client[f"shop_{uuid.uuid4().hex[:8]}"]
    shop.ensure_indexes(database)
    database.users.insert_many(
        [
            {
                "_id": i,
                "email": f"u{i}@example.com",
                "status": "active",
                "createdAt": i,
                "externalId": f"x{i}",
            }
            for i in range(20)
        ]
    )
    database.transactions.insert_many(
        [{"userId": i % 5, "amount": i, "createdAt": i} for i in range(20)]
    )
    database.payouts.insert_many(
        [{"status": "pending" if i % 2 else "paid", "amount": i} for i in range(20)]
    )
    database.logs.insert_many(
        [{"level": "error" if i % 4 == 0 else "info", "createdAt": i} for i in range(20)]
    )
    database.clicks.insert_many(
        [{"campaignId": i % 3, "userRef": f"x{i}", "ts": i} for i in range(20)]
    )
    yield database
    client.drop_database(database.name)
    client.close()


def test_user_by_email(db: Any) -> None:
    assert shop.user_by_email(db, "u3@example.com")["_id"] == 3


def test_recent_transactions(db: Any) -> None:
    assert [t["createdAt"] for t in shop.recent_transactions(db, 1)] == [16, 11, 6, 1]


def test_errors_in_logs(db: Any) -> None:
    assert len(shop.errors_in_logs(db, "error")) == 5


def test_largest_pending_payouts(db: Any) -> None:
    assert shop.largest_pending_payouts(db)[0]["amount"] == 19


def test_clicks_with_users(db: Any) -> None:
    rows = shop.clicks_with_users(db, 0)
    assert len(rows) == 7
    assert all(len(row["user"]) == 1 for row in rows)
