"""What activities holds about one resident, for their data export (GET /v1/residents/{id}/data-export).

One query per table with a resident column (tests/unit/shared/test_inventory.py fails when a
table with one is missing here); each takes the resident id as $1.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.http import audit

QUERIES: dict[str, str] = {
    "residents": "SELECT * FROM residents WHERE resident_id = $1",
    "enrolment_seats": "SELECT * FROM enrolment_seats WHERE resident_id = $1 ORDER BY enrolment_id",
    "checkins": "SELECT * FROM checkins WHERE resident_id = $1 ORDER BY scanned_at",
    "attendance": "SELECT * FROM attendance WHERE resident_id = $1 ORDER BY first_in_at NULLS LAST, session_id",
    "pending_checkins": "SELECT * FROM pending_checkins WHERE resident_id = $1 ORDER BY first_seen",
    "need_votes": "SELECT * FROM need_votes WHERE resident_id = $1 ORDER BY voted_at",
}


async def export(conn: asyncpg.Connection, resident_id: str) -> dict[str, Any]:
    return await audit.export(conn, "activities", resident_id, QUERIES)
