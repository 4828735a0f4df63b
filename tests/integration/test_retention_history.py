"""Notify's message history pruning (services/notify/adapters/retention.py) on the real database:
only settled messages older than the retention and created before the safe-before time go, with
their dead-letter rows; messages still waiting for delivery stay whatever their age."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.notify.adapters.retention import NOTIFICATION_HISTORY
from tests.support import env, unique

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)


async def _insert(db: asyncpg.Connection, status: str, *, updated_at: datetime, created_at: datetime) -> uuid.UUID:
    notification_id = uuid.uuid4()
    await db.execute(
        """INSERT INTO notifications(notification_id, idempotency_key, resident_id, kind, status, due_at,
                                     contact_deadline, triggered_at, created_at, updated_at)
           VALUES ($1, $2, $3, 'reminder', $4, $5, $5, $5, $5, $6)""",
        notification_id, unique("retention-test"), unique("r"), status, created_at, updated_at,
    )  # fmt: skip
    return notification_id


async def test_only_settled_old_messages_below_the_safe_time_are_pruned_with_their_dead_letters():
    db = await asyncpg.connect(env()["NOTIFY_DATABASE_URL"])
    try:
        sent = await _insert(db, "sent", updated_at=OLD, created_at=OLD)
        failed = await _insert(db, "failed", updated_at=OLD, created_at=OLD)
        await db.execute(
            "INSERT INTO dead_letters(notification_id, reason, attempts, dead_at) VALUES ($1, 'channel_error', 8, $2)",
            failed,
            OLD,
        )
        waiting = await _insert(db, "queued", updated_at=OLD, created_at=OLD)
        young = await _insert(db, "sent", updated_at=NOW, created_at=OLD)
        after_safe = await _insert(db, "cancelled", updated_at=OLD, created_at=NOW - timedelta(days=2))
        ours = [sent, failed, waiting, young, after_safe]
        cutoff, safe = NOW - timedelta(days=365), NOW - timedelta(days=3)

        # One row per batch: the statement honours the batch size, and repeated batches finish.
        deleted = 0
        while True:
            n = int((await db.execute(NOTIFICATION_HISTORY.statement, cutoff, safe, 1)).rsplit(" ", 1)[-1])
            deleted += n
            if n == 0:
                break
            assert n == 1
        left = {r["notification_id"] for r in await db.fetch(
            "SELECT notification_id FROM notifications WHERE notification_id = ANY($1::uuid[])", ours)}  # fmt: skip
        assert left == {waiting, young, after_safe}
        assert await db.fetchval("SELECT count(*) FROM dead_letters WHERE notification_id = $1", failed) == 0
        assert deleted >= 2  # ours, and any settled history of earlier runs that old
    finally:
        await db.execute("DELETE FROM notifications WHERE idempotency_key LIKE 'retention-test%'")
        await db.close()
