"""SQL of the learning passport's read model (migration 0005_passport.sql) and the credits file.

Table names are unqualified: the rebuild (services/enrolment/cli.py) runs the same statements on
connections whose search_path is its shadow schema."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import yaml

from services.enrolment.domain.passport import AttendanceEntry, BatchChanges, CreditsRule, HonourEntry
from shared.db import erasure
from shared.db.offsets import OffsetTable
from shared.rebuild import CheckpointTarget
from shared.reference import resolve

PROJECTION_TABLES = ("passport_attendance", "passport_honours", "passport_offsets")
# The rebuild takes it exclusively to swap its tables in; every live batch holds it shared.
PASSPORT_LOCK = 0x9A55_0001
REBUILD_LOCK = 0x9A55_0002
# Held exclusively while a checkpoint is copied, shared by an erasure of the checkpoint's rows.
CHECKPOINT_LOCK = 0x9A55_0003
CHECKPOINT_SCHEMA = "passport_checkpoint"  # shared/rebuild.py checkpoint_schema("passport")

# --- offsets (the dispatcher's OffsetStore) ---------------------------------------------------------


async def lock_passports_shared(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", PASSPORT_LOCK)


# Offsets stored with the passports (shared/db/offsets.py): read, locked per partition, stored.
OFFSETS = OffsetTable("passport_offsets", "last_offset")
stored_offsets = OFFSETS.read
lock_offsets = OFFSETS.lock
store_offsets = OFFSETS.store

# What a checkpoint of the passports copies (shared/rebuild.py; the rebuild's Projection has the same).
CHECKPOINTED = CheckpointTarget("passport", PROJECTION_TABLES, REBUILD_LOCK, stored_offsets, CHECKPOINT_LOCK)


# --- the batch's writes (domain.passport.BatchChanges) ---------------------------------------------


async def apply_changes(conn: asyncpg.Connection, changes: BatchChanges) -> None:
    """In the order `BatchChanges` defines: recordings, adjustments, awards, revocations."""
    if changes.recorded:
        rows = list(changes.recorded.values())
        await conn.execute(
            """INSERT INTO passport_attendance(attendance_id, resident_id, session_id, course_id, venue_id,
                   community_id, theme, minutes, scanned_at, session_starts_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::int[], $9::timestamptz[], $10::timestamptz[])
               ON CONFLICT (attendance_id) DO NOTHING""",
            [r.attendance_id for r in rows], [r.resident_id for r in rows], [r.session_id for r in rows],
            [r.course_id for r in rows], [r.venue_id for r in rows], [r.community_id for r in rows],
            [r.theme for r in rows], [r.minutes for r in rows], [r.scanned_at for r in rows],
            [r.session_starts_at for r in rows],
        )  # fmt: skip
    if changes.adjusted:
        await conn.execute(
            """UPDATE passport_attendance a SET minutes = u.minutes
               FROM unnest($1::text[], $2::int[]) AS u(attendance_id, minutes)
               WHERE a.attendance_id = u.attendance_id""",
            list(changes.adjusted), list(changes.adjusted.values()),
        )  # fmt: skip
    for honour in changes.awarded.values():
        # Fills in a revocation's placeholder, keeping the revocation; an award known already stays.
        await conn.execute(
            """INSERT INTO passport_honours(honour_id, kind, period, recipient_kind, recipient_id, resident_ids,
                   community_id, reason, awarded_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (honour_id) DO UPDATE SET kind = EXCLUDED.kind, period = EXCLUDED.period,
                   recipient_kind = EXCLUDED.recipient_kind, recipient_id = EXCLUDED.recipient_id,
                   resident_ids = EXCLUDED.resident_ids, community_id = EXCLUDED.community_id,
                   reason = EXCLUDED.reason, awarded_at = EXCLUDED.awarded_at
               WHERE passport_honours.kind = ''""",
            honour.honour_id, honour.kind, honour.period, honour.recipient_kind, honour.recipient_id,
            list(honour.resident_ids), honour.community_id, honour.reason, honour.awarded_at,
        )  # fmt: skip
    for honour_id, (reason, at) in changes.revoked.items():
        await conn.execute(
            """INSERT INTO passport_honours(honour_id, kind, period, recipient_kind, recipient_id, resident_ids,
                   reason, revoked, revoke_reason, revoked_at)
               VALUES ($1, '', '', '', '', '{}', '', true, $2, $3)
               ON CONFLICT (honour_id) DO UPDATE SET revoked = true, revoke_reason = EXCLUDED.revoke_reason,
                   revoked_at = EXCLUDED.revoked_at
               WHERE NOT passport_honours.revoked""",
            honour_id, reason, at,
        )  # fmt: skip


async def erase_passports(conn: asyncpg.Connection, resident_ids: set[str]) -> None:
    """The passport part of the erasure (adapters/privacy.py ERASURE), for several residents."""
    ids = sorted(resident_ids)
    await conn.execute("DELETE FROM passport_attendance WHERE resident_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM passport_honours WHERE recipient_id = ANY($1::text[])", ids)
    for resident_id in ids:
        await conn.execute(
            "UPDATE passport_honours SET resident_ids = array_remove(resident_ids, $1) WHERE $1 = ANY(resident_ids)",
            resident_id,
        )


async def erase_checkpoint(conn: asyncpg.Connection, resident_ids: set[str]) -> None:
    """The checkpoint (`python -m services.enrolment checkpoint-passports`) is a copy of the passport
    tables: the residents go there too, in the live erasure's transaction."""
    await erasure.in_checkpoint(
        conn, CHECKPOINT_SCHEMA, CHECKPOINT_LOCK, lambda c: erase_passports(c, resident_ids), absent=None
    )


# --- reads ------------------------------------------------------------------------------------------


async def attendance_of(conn: asyncpg.Connection, resident_id: str) -> list[tuple[AttendanceEntry, dict]]:
    """The resident's attendance, oldest first, each with its course's and venue's names and the
    course's theme from the catalogue read model (empty names when the catalogue lacks them)."""
    rows = await conn.fetch(
        """SELECT a.*, c.title_zh, c.title_en, c.theme AS course_theme, v.name_zh, v.name_en
           FROM passport_attendance a
           LEFT JOIN courses c ON c.course_id = a.course_id
           LEFT JOIN venues v ON v.venue_id = a.venue_id
           WHERE a.resident_id = $1
           ORDER BY coalesce(a.session_starts_at, a.scanned_at), a.attendance_id""",
        resident_id,
    )
    out = []
    for r in rows:
        entry = AttendanceEntry(**{k: r[k] for k in AttendanceEntry.__dataclass_fields__})
        names = {k: r[k] for k in ("title_zh", "title_en", "course_theme", "name_zh", "name_en")}
        out.append((entry, names))
    return out


async def honours_of(conn: asyncpg.Connection, resident_id: str) -> list[HonourEntry]:
    rows = await conn.fetch(
        """SELECT * FROM passport_honours WHERE resident_ids @> ARRAY[$1]::text[] AND kind <> ''
           ORDER BY awarded_at NULLS LAST, honour_id""",
        resident_id,
    )
    return [
        HonourEntry(**{**{k: r[k] for k in HonourEntry.__dataclass_fields__}, "resident_ids": tuple(r["resident_ids"])})
        for r in rows
    ]


async def course_names(conn: asyncpg.Connection, course_ids: set[str]) -> dict[str, dict[str, str]]:
    rows = await conn.fetch(
        "SELECT course_id, title_zh, title_en FROM courses WHERE course_id = ANY($1::text[])", list(course_ids)
    )
    return {
        r["course_id"]: {"zh-CN": r["title_zh"] or r["title_en"], "en": r["title_en"] or r["title_zh"]} for r in rows
    }


async def resident_exists(conn: asyncpg.Connection, resident_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM residents WHERE resident_id = $1", resident_id))


# --- comparing two copies (the rebuild) ------------------------------------------------------------


async def differences(conn: asyncpg.Connection, live: str, rebuilt: str, sample: int = 10) -> dict[str, list[str]]:
    """Rows of the passport tables (offsets aside) in one schema and not the other, both ways."""
    out: dict[str, list[str]] = {}
    for table in PROJECTION_TABLES[:2]:
        rows = await conn.fetch(
            f"""(SELECT 'live only' AS side, t::text AS row FROM (SELECT * FROM {live}.{table}
                     EXCEPT SELECT * FROM {rebuilt}.{table}) t LIMIT $1)
                UNION ALL
                (SELECT 'rebuilt only', t::text FROM (SELECT * FROM {rebuilt}.{table}
                     EXCEPT SELECT * FROM {live}.{table}) t LIMIT $1)""",
            sample,
        )
        if rows:
            out[table] = [f"{r['side']}: {r['row']}" for r in rows]
    return out


async def row_counts(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {schema}.{t}") for t in PROJECTION_TABLES[:2]}


# --- the credits file -------------------------------------------------------------------------------


def credits_file(reference_dir: str, override: str | None) -> Path:
    return resolve(override) if override else resolve(reference_dir) / "credits.yaml"


def load_credits_rule(path: Path) -> CreditsRule:
    return CreditsRule.from_mapping(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
