"""What enrolment holds about one resident, for their data export (GET /v1/residents/{id}/data-export).

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
    "enrolments": "SELECT * FROM enrolments WHERE resident_id = $1 ORDER BY created_at, enrolment_id",
    "passport_attendance": "SELECT * FROM passport_attendance WHERE resident_id = $1 ORDER BY scanned_at",
    "passport_honours": "SELECT * FROM passport_honours WHERE recipient_id = $1 OR $1 = ANY(resident_ids)"
    " ORDER BY awarded_at NULLS LAST, honour_id",
    "issued_credentials": "SELECT * FROM issued_credentials WHERE resident_id = $1 ORDER BY issued_at, honour_id",
    "consent_decisions": "SELECT * FROM consent_decisions WHERE resident_id = $1 ORDER BY decision_id",
    # a live sign-in code of the resident's phone: hashes and times only
    "sign_in_codes": "SELECT * FROM sign_in_codes WHERE $1 = ANY(resident_ids) ORDER BY created_at",
}


async def export(conn: asyncpg.Connection, resident_id: str) -> dict[str, Any]:
    return await audit.export(conn, "enrolment", resident_id, QUERIES)


# Erasure ($1 the resident, $2 the pseudonym; shared/db/erasure.py). The registry row becomes a
# tombstone under the pseudonym (community and group only: no contact, family, employer), which
# the resident's enrolments keep pointing to, so seat counts and waitlists stay right; the
# passport and the issued credentials go, the credentials' status bits set first (revoked).
ERASURE: list[str] = [
    "INSERT INTO residents(resident_id, community_id, audience_group)"
    " SELECT $2, community_id, audience_group FROM residents WHERE resident_id = $1",
    "UPDATE enrolments SET resident_id = $2 WHERE resident_id = $1",
    "DELETE FROM residents WHERE resident_id = $1",
    "DELETE FROM passport_attendance WHERE resident_id = $1",
    "DELETE FROM passport_honours WHERE recipient_id = $1",
    "UPDATE passport_honours SET resident_ids = array_remove(resident_ids, $1) WHERE $1 = ANY(resident_ids)",
    # a credential the resident still holds stops verifying: its bit is set before its row goes
    "INSERT INTO withdrawn_credential_bits(status_list, status_index)"
    " SELECT status_list, status_index FROM issued_credentials WHERE resident_id = $1 ON CONFLICT DO NOTHING",
    "DELETE FROM issued_credentials WHERE resident_id = $1",
    "DELETE FROM sign_in_codes WHERE $1 = ANY(resident_ids)",
    # what was agreed to, under which notice, stays as the record that processing was lawful
    "UPDATE consent_decisions SET resident_id = $2 WHERE resident_id = $1",
]


async def erase(
    conn: asyncpg.Connection, resident_id: str, request_id: uuid.UUID, erased_cards: erasure.ErasedCards | None = None
) -> int | None:
    return await erasure.erase(conn, resident_id, request_id, ERASURE, erased_cards)
