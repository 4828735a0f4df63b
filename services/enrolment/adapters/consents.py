"""The street's privacy notice (a file of its reference folder) and the consent decisions table."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
import yaml

from services.enrolment.domain.consent import Decision, Notice, check_notice
from shared.reference import resolve


def load_notice(reference_dir: str) -> Notice:
    """privacy_notice.yaml of the reference folder; a malformed one stops the start."""
    data = yaml.safe_load((resolve(reference_dir) / "privacy_notice.yaml").read_text(encoding="utf-8")) or {}
    published = data["published"]
    return check_notice(
        Notice(
            version=str(data["version"]),
            published=published if isinstance(published, date) else date.fromisoformat(str(published)),
            purposes={str(p): {str(k): str(v) for k, v in texts.items()} for p, texts in data["purposes"].items()},
        )
    )


async def record(
    conn: asyncpg.Connection, resident_id: str, purpose: str, granted: bool, notice_version: str, recorded_by: str
) -> None:
    # clock_timestamp(), not the transaction's start (the column's default): decisions are recorded
    # under the resident's row lock, so a transaction that began earlier may record later.
    await conn.execute(
        "INSERT INTO consent_decisions(resident_id, consent_purpose, granted, notice_version, recorded_by, decided_at)"
        " VALUES ($1, $2, $3, $4, $5, clock_timestamp())",
        resident_id, purpose, granted, notice_version, recorded_by,
    )  # fmt: skip


async def decisions(conn: asyncpg.Connection, resident_id: str) -> list[Decision]:
    rows = await conn.fetch(
        "SELECT consent_purpose, granted, notice_version, decided_at, recorded_by FROM consent_decisions"
        " WHERE resident_id = $1 ORDER BY decision_id",
        resident_id,
    )
    return [Decision(r["consent_purpose"], r["granted"], r["notice_version"], r["decided_at"], r["recorded_by"])
            for r in rows]  # fmt: skip


async def recent(conn: asyncpg.Connection, resident_id: str, purpose: str) -> tuple[datetime, list[datetime]]:
    """The database's time now, and when the decisions on `purpose` of the last hour were recorded."""
    now = await conn.fetchval("SELECT clock_timestamp()")
    times = await conn.fetch(
        "SELECT decided_at FROM consent_decisions WHERE resident_id = $1 AND consent_purpose = $2"
        " AND decided_at > $3::timestamptz - interval '1 hour' ORDER BY decision_id",
        resident_id, purpose, now,
    )  # fmt: skip
    return now, [r["decided_at"] for r in times]


async def agrees_to(conn: asyncpg.Connection, resident_id: str, purpose: str) -> bool:
    """Whether the resident's latest decision on `purpose` grants it (no decision: not agreed)."""
    granted = await conn.fetchval(
        "SELECT granted FROM consent_decisions WHERE resident_id = $1 AND consent_purpose = $2"
        " ORDER BY decision_id DESC LIMIT 1",
        resident_id, purpose,
    )  # fmt: skip
    return bool(granted)
