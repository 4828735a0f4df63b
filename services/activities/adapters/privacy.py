"""What activities holds about one resident, for their data export (GET /v1/residents/{id}/data-export).

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
    "residents": "SELECT * FROM residents WHERE resident_id = $1",
    "resident_cards": "SELECT * FROM resident_cards WHERE resident_id = $1",
    "enrolment_seats": "SELECT * FROM enrolment_seats WHERE resident_id = $1 ORDER BY enrolment_id",
    "checkins": "SELECT * FROM checkins WHERE resident_id = $1 ORDER BY scanned_at",
    "attendance": "SELECT * FROM attendance WHERE resident_id = $1 ORDER BY first_in_at NULLS LAST, session_id",
    "pending_checkins": "SELECT * FROM pending_checkins WHERE resident_id = $1 ORDER BY first_seen",
    "need_votes": "SELECT * FROM need_votes WHERE resident_id = $1 ORDER BY voted_at",
    "survey_responses": "SELECT * FROM survey_responses WHERE resident_id = $1 ORDER BY answered_at, survey_id",
    "session_ratings": "SELECT * FROM session_ratings WHERE resident_id = $1 ORDER BY rated_at, session_id",
    "resident_consents": "SELECT * FROM resident_consents WHERE resident_id = $1",
}


async def export(conn: asyncpg.Connection, resident_id: str) -> dict[str, Any]:
    return await audit.export(conn, "activities", resident_id, QUERIES)


# Erasure ($1 the resident, $2 the pseudonym; shared/db/erasure.py). The registry copy and parked
# scans go (an erased card is an unknown card at a kiosk); scans, attendance, seats, votes, survey
# answers (without free text) and ratings (without their comment) stay under the pseudonym, since
# walk-in counts, seat counts, need tallies and survey results are computed from them.
ERASURE: list[str] = [
    "DELETE FROM residents WHERE resident_id = $1",
    "DELETE FROM resident_cards WHERE resident_id = $1",  # taken out first, its card remembered as erased
    "DELETE FROM resident_consents WHERE resident_id = $1",  # enrolment keeps the record of consent
    "DELETE FROM pending_checkins WHERE resident_id = $1",
    "UPDATE enrolment_seats SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE checkins SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE attendance SET resident_id = $2 WHERE resident_id = $1",
    "UPDATE need_votes SET resident_id = $2 WHERE resident_id = $1",
    # what the resident wrote (free-text answers, comments) goes; their choices, scales and scores
    # stay under the pseudonym, so a survey's results and response rates and the satisfaction
    # indicator do not move
    """UPDATE survey_responses r SET resident_id = $2, answers = r.answers - ARRAY(
           SELECT q->>'id' FROM surveys s, jsonb_array_elements(s.questions) q
           WHERE s.survey_id = r.survey_id AND q->>'kind' = 'text')
       WHERE r.resident_id = $1""",
    "UPDATE session_ratings SET resident_id = $2, comment = '' WHERE resident_id = $1",
]


async def erase(
    conn: asyncpg.Connection, resident_id: str, request_id: uuid.UUID, erased_cards: erasure.ErasedCards | None = None
) -> int | None:
    return await erasure.erase(conn, resident_id, request_id, ERASURE, erased_cards)
