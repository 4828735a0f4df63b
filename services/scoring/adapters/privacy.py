"""What scoring holds about one resident, for their data export (GET /v1/residents/{id}/data-export).

One query per table with a resident column (tests/unit/shared/test_inventory.py fails when a
table with one is missing here); each takes the resident id as $1. Aggregates (daily counts,
the index) hold no resident and are not part of it.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import erasure
from shared.http import audit

QUERIES: dict[str, str] = {
    "residents": "SELECT * FROM residents WHERE resident_id = $1",
    "enrolments": "SELECT * FROM enrolments WHERE resident_id = $1 ORDER BY at, enrolment_id",
    "attendance": "SELECT * FROM attendance WHERE resident_id = $1 ORDER BY day NULLS LAST, session_id",
    "attendees": "SELECT * FROM attendees WHERE resident_id = $1 ORDER BY community_id",
    "resident_minutes": "SELECT * FROM resident_minutes WHERE resident_id = $1 ORDER BY period",
    "late_attendance": "SELECT * FROM late_attendance WHERE resident_id = $1 ORDER BY counted_day, session_id",
    "honours": "SELECT * FROM honours WHERE recipient_id = $1 OR $1 = ANY(resident_ids) "
    "ORDER BY nominated_at, honour_id",
    # steps the resident took in a selection (objections) and the objections they lodged
    "honour_steps": "SELECT * FROM honour_steps WHERE acted_by = $1 ORDER BY step_id",
    "honour_objections": "SELECT * FROM honour_objections WHERE lodged_by = $1 ORDER BY lodged_at, objection_id",
    "volunteer_service": "SELECT * FROM volunteer_service WHERE volunteer_id = $1 OR recorded_by = $1 "
    "ORDER BY day, service_id",
}


async def export(conn: asyncpg.Connection, resident_id: str) -> dict[str, Any]:
    return await audit.export(conn, "scoring", resident_id, QUERIES)


# Erasure ($1 the resident, $2 the pseudonym; shared/db/erasure.py). Every row stays under the
# pseudonym: the index counts registered residents, distinct attendees and minutes per resident,
# so deleting any of them would move it. The resident's employer link goes; the family link stays
# (learning-family honours group by it; ADR 10 makes it a random group key in a later slice).
ERASURE: list[str] = [
    "UPDATE residents SET resident_id = $2, employer_id = NULL WHERE resident_id = $1",
    "UPDATE enrolments SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE attendance SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE attendees SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE resident_minutes SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE late_attendance SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE honours SET recipient_id = CASE WHEN recipient_id = $1 THEN $2 ELSE recipient_id END,"
    " resident_ids = array_replace(resident_ids, $1, $2) WHERE recipient_id = $1 OR $1 = ANY(resident_ids)",
    "UPDATE honour_steps SET acted_by = $2 WHERE acted_by = $1",
    "UPDATE honour_objections SET lodged_by = $2 WHERE lodged_by = $1",
    # service hours stay (an Excellent Volunteer's candidacy rests on them) under the pseudonym
    "UPDATE volunteer_service SET volunteer_id = CASE WHEN volunteer_id = $1 THEN $2 ELSE volunteer_id END,"
    " recorded_by = CASE WHEN recorded_by = $1 THEN $2 ELSE recorded_by END"
    " WHERE volunteer_id = $1 OR recorded_by = $1",
]


async def erase(conn: asyncpg.Connection, resident_id: str, request_id: uuid.UUID) -> int | None:
    return await erasure.erase(conn, resident_id, request_id, ERASURE)
