"""What notify holds about one resident, for their data export (GET /v1/residents/{id}/data-export).

One query per table with a resident column (tests/unit/shared/test_inventory.py fails when a
table with one is missing here); each takes the resident id as $1.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import erasure
from shared.http import audit

QUERIES: dict[str, str] = {
    "contacts": "SELECT * FROM contacts WHERE resident_id = $1",
    "residents": "SELECT * FROM residents WHERE resident_id = $1",
    "enrolments": "SELECT * FROM enrolments WHERE resident_id = $1 ORDER BY enrolment_id",
    "notifications": "SELECT n.* FROM notifications n WHERE n.resident_id = $1 ORDER BY n.created_at",
    "dead_letters": "SELECT d.* FROM dead_letters d JOIN notifications n USING (notification_id)"
    " WHERE n.resident_id = $1 ORDER BY d.dead_at",
}


async def export(conn: asyncpg.Connection, resident_id: str) -> dict[str, Any]:
    return await audit.export(conn, "notify", resident_id, QUERIES)


# Erasure ($1 the resident; notify keeps no aggregate; shared/db/erasure.py). Messages
# go with their dead letters; a queued reminder to an erased resident is never sent.
ERASURE: list[str] = [
    "DELETE FROM dead_letters WHERE notification_id IN"
    " (SELECT notification_id FROM notifications WHERE resident_id = $1)",
    "DELETE FROM notifications WHERE resident_id = $1",
    "DELETE FROM enrolments WHERE resident_id = $1",
    "DELETE FROM contacts WHERE resident_id = $1",
    "DELETE FROM residents WHERE resident_id = $1",
]


async def erase(conn: asyncpg.Connection, resident_id: str, request_id: uuid.UUID) -> int | None:
    return await erasure.erase(conn, resident_id, request_id, ERASURE)
