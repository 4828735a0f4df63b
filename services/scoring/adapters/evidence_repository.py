"""Evidence files in PostgreSQL: metadata in `evidence_files`, bytes in `evidence_contents`
(migration 0009; docs/decisions/0013-evidence-files.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

# Everything but the bytes: what lists, links and events are made of.
_META = """e.evidence_id, e.indicator_id, e.community_id, e.rectification_task_id, e.assessment_id, e.filename,
           e.content_type, e.size, e.sha256, e.note, e.uploaded_by, e.uploader_role, e.uploaded_at,
           e.removed_at, e.removed_by, e.removal_reason"""


async def insert(conn: asyncpg.Connection, meta: dict[str, Any], content: bytes) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""INSERT INTO evidence_files AS e (evidence_id, indicator_id, community_id, rectification_task_id,
                   assessment_id, filename, content_type, size, sha256, note, uploaded_by, uploader_role, uploaded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {_META}""",
        meta["evidence_id"], meta["indicator_id"], meta["community_id"], meta["rectification_task_id"],
        meta["assessment_id"], meta["filename"], meta["content_type"], meta["size"], meta["sha256"], meta["note"],
        meta["uploaded_by"], meta["uploader_role"], meta["uploaded_at"],
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO evidence_contents (evidence_id, content) VALUES ($1, $2)", meta["evidence_id"], content
    )
    return dict(row)


async def get(conn: asyncpg.Connection, evidence_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_META} FROM evidence_files e WHERE e.evidence_id = $1{lock}", evidence_id)
    return dict(row) if row else None


async def content(conn: asyncpg.Connection, evidence_id: uuid.UUID) -> bytes | None:
    return await conn.fetchval("SELECT content FROM evidence_contents WHERE evidence_id = $1", evidence_id)


async def list_files(
    conn: asyncpg.Connection,
    *,
    community_id: str | None,
    indicator_id: str | None,
    include_removed: bool,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {_META} FROM evidence_files e
            WHERE ($1::text IS NULL OR e.community_id = $1) AND ($2::text IS NULL OR e.indicator_id = $2)
              AND ($3 OR e.removed_at IS NULL)
            ORDER BY e.uploaded_at DESC, e.evidence_id LIMIT $4""",
        community_id, indicator_id, include_removed, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def links(conn: asyncpg.Connection, community_id: str) -> dict[str, list[dict[str, Any]]]:
    """The evidence in force of a community's (or the street's) indicators, oldest first per indicator."""
    rows = await conn.fetch(
        """SELECT evidence_id, indicator_id, filename FROM evidence_files
           WHERE community_id = $1 AND removed_at IS NULL ORDER BY indicator_id, uploaded_at, evidence_id""",
        community_id,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["indicator_id"], []).append(dict(r))
    return out


async def mark_removed(
    conn: asyncpg.Connection, evidence_id: uuid.UUID, by: str, reason: str, at: datetime
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""UPDATE evidence_files e SET removed_at = $2, removed_by = $3, removal_reason = $4
            WHERE e.evidence_id = $1 RETURNING {_META}""",
        evidence_id, at, by, reason,
    )  # fmt: skip
    return dict(row)


async def task_of(conn: asyncpg.Connection, task_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT task_id, community_id, indicator_id FROM rectification_tasks WHERE task_id = $1", task_id
    )
    return dict(row) if row else None


async def assessment_of(conn: asyncpg.Connection, assessment_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT assessment_id, community_id, indicator_id FROM assessments WHERE assessment_id = $1", assessment_id
    )
    return dict(row) if row else None
