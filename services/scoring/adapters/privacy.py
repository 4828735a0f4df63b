"""What scoring holds about one resident, for their data export (GET /v1/residents/{id}/data-export).

One query per table with a resident column (tests/unit/shared/test_inventory.py fails when a
table with one is missing here); each takes the resident id as $1. Aggregates (daily counts,
the index) hold no resident and are not part of it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from services.scoring.adapters.repository import CHECKPOINT_LOCK, CHECKPOINT_SCHEMA, PROJECTION_TABLES
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


async def erase(
    conn: asyncpg.Connection, resident_id: str, request_id: uuid.UUID, erased_cards: erasure.ErasedCards | None = None
) -> int | None:
    return await erasure.erase(conn, resident_id, request_id, ERASURE, erased_cards)


async def erase_checkpoint(conn: asyncpg.Connection, resident_id: str) -> int:
    """The checkpoint (`python -m services.scoring checkpoint`) is a copy of the projection's tables,
    the resident's rows included: the same statements there, in the live erasure's transaction."""
    return await erasure.in_checkpoint(
        conn, CHECKPOINT_SCHEMA, CHECKPOINT_LOCK, lambda c: erase_projected(c, {resident_id}), absent=0
    )


async def erase_projected(conn: asyncpg.Connection, residents: set[str]) -> int:
    """The rebuild's erasures, on its shadow tables once the replay is done: the statements of the
    projection's tables only (a connection on the shadow schema resolves the others to the live
    tables, which the live erasure already did), no receipt. Rows changed."""
    statements = [s for s in ERASURE if erasure.table_of(s) in PROJECTION_TABLES]
    rows = 0
    for resident_id in sorted(residents):
        rows += await erasure.run_statements(conn, resident_id, erasure.pseudonym(), statements)
    return rows


# Late attendance of an erased card (ADR 10, amendment): scoring remembers, with the card's keyed
# hash, where its attendance stood at the erasure, so that live and rebuild draw the same line.


async def remember_attendance_offsets(conn: asyncpg.Connection, request_id: uuid.UUID, topic: str) -> None:
    """At the erasure's commit, after the batch's offsets are stored: the last attendance offset
    applied per partition, the line past which the card's attendance is not applied."""
    await conn.execute(
        """UPDATE erased_cards SET attendance_offsets = coalesce(
               (SELECT jsonb_object_agg(partition::text, "offset") FROM consumer_offsets WHERE topic = $2), '{}')
           WHERE request_id = $1""",
        request_id,
        topic,
    )


async def erased_attendance_offsets(
    conn: asyncpg.Connection, cards: erasure.ErasedCards, resident_ids: set[str]
) -> dict[str, dict[str, int]]:
    """For the erased among `resident_ids`: partition → last attendance offset applied at erasure."""
    by_hash = {cards.hash(r): r for r in resident_ids}
    if not by_hash:
        return {}
    # as text: the rebuild's connections have no jsonb codec, the live pool's has
    rows = await conn.fetch(
        "SELECT card_hash, attendance_offsets::text AS offsets FROM erased_cards WHERE card_hash = ANY($1::bytea[])",
        list(by_hash),
    )
    return {by_hash[bytes(r["card_hash"])]: json.loads(r["offsets"]) for r in rows}
