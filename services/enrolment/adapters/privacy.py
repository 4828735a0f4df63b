"""What enrolment holds about one resident, for their data export (GET /v1/residents/{id}/data-export).

One query per table with a resident column (tests/unit/shared/test_inventory.py fails when a
table with one is missing here); each takes the resident id as $1.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.http import audit

QUERIES: dict[str, str] = {
    "residents": "SELECT * FROM residents WHERE resident_id = $1",
    "enrolments": "SELECT * FROM enrolments WHERE resident_id = $1 ORDER BY created_at, enrolment_id",
    "passport_attendance": "SELECT * FROM passport_attendance WHERE resident_id = $1 ORDER BY scanned_at",
    "passport_honours": "SELECT * FROM passport_honours WHERE recipient_id = $1 OR $1 = ANY(resident_ids)"
    " ORDER BY awarded_at NULLS LAST, honour_id",
    "issued_credentials": "SELECT * FROM issued_credentials WHERE resident_id = $1 ORDER BY issued_at, honour_id",
}


async def export(conn: asyncpg.Connection, resident_id: str) -> dict[str, Any]:
    return await audit.export(conn, "enrolment", resident_id, QUERIES)
