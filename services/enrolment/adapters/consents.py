"""The street's privacy notice (a file of its reference folder) and the consent decisions table."""

from __future__ import annotations

from datetime import date

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
    await conn.execute(
        "INSERT INTO consent_decisions(resident_id, consent_purpose, granted, notice_version, recorded_by)"
        " VALUES ($1, $2, $3, $4, $5)",
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


async def agrees_to(conn: asyncpg.Connection, resident_id: str, purpose: str) -> bool:
    """Whether the resident's latest decision on `purpose` grants it (no decision: not agreed)."""
    granted = await conn.fetchval(
        "SELECT granted FROM consent_decisions WHERE resident_id = $1 AND consent_purpose = $2"
        " ORDER BY decision_id DESC LIMIT 1",
        resident_id, purpose,
    )  # fmt: skip
    return bool(granted)
