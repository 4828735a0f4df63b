"""SQL for the enrolment service's own tables.

Every change to a session's enrolments runs after `lock_session` (SELECT ... FOR UPDATE of the
session row) in the same transaction, so enrolments, cancellations and promotions of one session
are serialised and the counts on the session row stay exact. Enrolment rows are never locked
directly: locking them as well would open lock-order deadlocks between a cancellation and a
promotion of the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.enrolment.domain.model import CourseRef, SessionState

_NEVER = datetime.min.replace(tzinfo=UTC)  # placeholder sessions have no start

# --- courses ------------------------------------------------------------------------------------


async def upsert_course(conn: asyncpg.Connection, course: CourseRef) -> None:
    # A course cancelled before it was learnt stays cancelled when its creation arrives late.
    await conn.execute(
        """INSERT INTO courses(course_id, title_zh, title_en, theme, audiences) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (course_id) DO UPDATE SET title_zh = EXCLUDED.title_zh, title_en = EXCLUDED.title_en,
               theme = EXCLUDED.theme, audiences = EXCLUDED.audiences, updated_at = now()""",
        course.course_id, course.title_zh, course.title_en, course.theme, course.audiences,
    )  # fmt: skip


async def cancel_course(conn: asyncpg.Connection, course_id: str, reason: str) -> None:
    await conn.execute(
        """INSERT INTO courses(course_id, title_zh, title_en, theme, cancelled, cancel_reason)
           VALUES ($1, '', '', '', true, $2)
           ON CONFLICT (course_id) DO UPDATE SET cancelled = true, cancel_reason = EXCLUDED.cancel_reason,
               updated_at = now()""",
        course_id, reason,
    )  # fmt: skip


async def get_course(conn: asyncpg.Connection, course_id: str) -> CourseRef | None:
    row = await conn.fetchrow(
        "SELECT course_id, title_zh, title_en, theme, audiences, cancelled FROM courses WHERE course_id = $1",
        course_id,
    )
    return CourseRef(**dict(row)) if row else None


# --- sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedSession:
    state: SessionState
    community_id: str | None
    scheduled: bool


_SESSION_COLUMNS = """s.session_id, s.course_id, s.community_id, s.starts_at, s.capacity, s.confirmed_count,
    s.waitlist_count, s.cancelled, s.scheduled, s.elderly_priority_until,
    coalesce(c.audiences, '{}') AS audiences, coalesce(c.cancelled, false) AS course_cancelled"""


def _locked(row: asyncpg.Record) -> LockedSession:
    return LockedSession(
        state=SessionState(
            session_id=row["session_id"],
            course_id=row["course_id"],
            starts_at=row["starts_at"] or _NEVER,
            capacity=row["capacity"],
            confirmed=row["confirmed_count"],
            waitlisted=row["waitlist_count"],
            cancelled=row["cancelled"],
            elderly_priority_until=row["elderly_priority_until"],
            audiences=tuple(row["audiences"]),
            course_cancelled=row["course_cancelled"],
        ),
        community_id=row["community_id"],
        scheduled=row["scheduled"],
    )


async def upsert_session(conn: asyncpg.Connection, data: dict[str, Any]) -> None:
    """Store a scheduled or changed session. A session cancelled earlier stays cancelled, and the
    counts are left alone (they belong to the enrolments)."""
    await conn.execute(
        """INSERT INTO sessions(session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                                elderly_priority_until, scheduled)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)
           ON CONFLICT (session_id) DO UPDATE SET course_id = EXCLUDED.course_id, venue_id = EXCLUDED.venue_id,
               community_id = EXCLUDED.community_id, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
               capacity = EXCLUDED.capacity, elderly_priority_until = EXCLUDED.elderly_priority_until,
               scheduled = true, updated_at = now()""",
        data["session_id"], data["course_id"], data["venue_id"], data["community_id"], data["starts_at"],
        data["ends_at"], data["capacity"], data["elderly_priority_until"],
    )  # fmt: skip


async def lock_session(conn: asyncpg.Connection, session_id: str) -> LockedSession | None:
    row = await conn.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s LEFT JOIN courses c ON c.course_id = s.course_id
            WHERE s.session_id = $1 FOR UPDATE OF s""",
        session_id,
    )
    return _locked(row) if row else None


async def lock_sessions_of_course(conn: asyncpg.Connection, course_id: str) -> list[LockedSession]:
    # Ordered by id so that two transactions locking several sessions cannot deadlock.
    rows = await conn.fetch(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s LEFT JOIN courses c ON c.course_id = s.course_id
            WHERE s.course_id = $1 ORDER BY s.session_id FOR UPDATE OF s""",
        course_id,
    )
    return [_locked(r) for r in rows]


async def mark_session_cancelled(
    conn: asyncpg.Connection, session_id: str, course_id: str, starts_at: datetime | None, reason: str
) -> None:
    # Placeholder when the cancellation overtook the schedule: a late SessionScheduled then
    # finds the session cancelled and cannot reopen it.
    await conn.execute(
        """INSERT INTO sessions(session_id, course_id, starts_at, scheduled, cancelled, cancel_reason)
           VALUES ($1, $2, $3, false, true, $4)
           ON CONFLICT (session_id) DO UPDATE SET cancelled = true, cancel_reason = EXCLUDED.cancel_reason,
               confirmed_count = 0, waitlist_count = 0, updated_at = now()""",
        session_id, course_id, starts_at, reason,
    )  # fmt: skip


async def session_summary(conn: asyncpg.Connection, session_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                  elderly_priority_until, cancelled, cancel_reason, confirmed_count AS confirmed,
                  waitlist_count AS waitlisted, scheduled
           FROM sessions WHERE session_id = $1""",
        session_id,
    )


# --- enrolments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolContext:
    session: LockedSession | None
    resident_known: bool
    audience_group: str | None
    already_enrolled: bool


async def lock_for_enrolment(conn: asyncpg.Connection, session_id: str, resident_id: str) -> EnrolContext:
    """One round trip: lock the session and read what the rules need about the resident.

    The already-enrolled flag can be stale under concurrent double submissions of the same
    resident; the partial unique index `enrolments_live_once` is the guard for that case."""
    row = await conn.fetchrow(
        f"""SELECT {_SESSION_COLUMNS},
                   (SELECT r.audience_group FROM residents r WHERE r.resident_id = $2) AS audience_group,
                   EXISTS (SELECT 1 FROM enrolments e WHERE e.session_id = s.session_id
                           AND e.resident_id = $2 AND e.status <> 'cancelled') AS already
            FROM sessions s LEFT JOIN courses c ON c.course_id = s.course_id
            WHERE s.session_id = $1 FOR UPDATE OF s""",
        session_id,
        resident_id,
    )
    if row is None:
        return EnrolContext(session=None, resident_known=False, audience_group=None, already_enrolled=False)
    return EnrolContext(
        session=_locked(row),
        resident_known=row["audience_group"] is not None,
        audience_group=row["audience_group"],
        already_enrolled=bool(row["already"]),
    )


async def insert_enrolment(
    conn: asyncpg.Connection, enrolment_id: str, session_id: str, resident_id: str, confirmed: bool
) -> asyncpg.Record:
    """Take the next arrival number of the session, bump its counts and store the enrolment."""
    return await conn.fetchrow(
        """WITH s AS (
               UPDATE sessions SET next_seq = next_seq + 1,
                   confirmed_count = confirmed_count + $4::int, waitlist_count = waitlist_count + 1 - $4::int
               WHERE session_id = $2 RETURNING next_seq)
           INSERT INTO enrolments(enrolment_id, session_id, resident_id, status, seq, was_confirmed)
           SELECT $1, $2, $3, CASE WHEN $4::int = 1 THEN 'confirmed' ELSE 'waitlisted' END, s.next_seq, $4::int = 1
           FROM s RETURNING seq, created_at""",
        enrolment_id, session_id, resident_id, int(confirmed),
    )  # fmt: skip


async def enrolment_owner(conn: asyncpg.Connection, enrolment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT session_id, resident_id FROM enrolments WHERE enrolment_id = $1", enrolment_id)


async def cancel_enrolment(conn: asyncpg.Connection, enrolment_id: str, reason: str) -> asyncpg.Record | None:
    """Cancel a live enrolment; returns its status before, or None when it was cancelled already.
    Must run under the session's lock (the read of the old status is then current)."""
    return await conn.fetchrow(
        """WITH old AS (SELECT enrolment_id, status FROM enrolments WHERE enrolment_id = $1)
           UPDATE enrolments e SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2
           FROM old WHERE e.enrolment_id = old.enrolment_id AND old.status <> 'cancelled'
           RETURNING old.status AS old_status, e.was_confirmed, e.resident_id, e.cancelled_at""",
        enrolment_id,
        reason,
    )


async def promote_and_count(
    conn: asyncpg.Connection, session_id: str, seats: int, confirmed: int, waitlisted: int
) -> list[asyncpg.Record]:
    """Promote the first `seats` waitlisted residents in arrival order and store the session's
    counts (`confirmed`/`waitlisted` as they are before the promotion), in one statement."""
    return await conn.fetch(
        """WITH w AS (SELECT enrolment_id FROM enrolments WHERE session_id = $1 AND status = 'waitlisted'
                      ORDER BY seq LIMIT $2),
                p AS (UPDATE enrolments e SET status = 'confirmed', was_confirmed = true, promoted_at = now()
                      FROM w WHERE e.enrolment_id = w.enrolment_id
                      RETURNING e.enrolment_id, e.resident_id, e.seq, e.promoted_at),
                c AS (UPDATE sessions SET confirmed_count = $3 + (SELECT count(*) FROM p),
                          waitlist_count = $4 - (SELECT count(*) FROM p), updated_at = now()
                      WHERE session_id = $1)
           SELECT * FROM p ORDER BY seq""",
        session_id, seats, confirmed, waitlisted,
    )  # fmt: skip


async def cancel_all_of_session(conn: asyncpg.Connection, session_id: str, reason: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """UPDATE enrolments SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2
           WHERE session_id = $1 AND status <> 'cancelled'
           RETURNING enrolment_id, resident_id, was_confirmed, cancelled_at, seq""",
        session_id,
        reason,
    )


async def get_enrolment(conn: asyncpg.Connection, enrolment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_ENROLMENT_VIEW} WHERE e.enrolment_id = $1", enrolment_id)


async def enrolments_of_resident(conn: asyncpg.Connection, resident_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"{_ENROLMENT_VIEW} WHERE e.resident_id = $1 ORDER BY e.created_at LIMIT $2", resident_id, limit
    )


_ENROLMENT_VIEW = """SELECT e.enrolment_id, e.session_id, s.course_id, e.resident_id, e.status, e.seq, e.created_at,
       e.promoted_at, e.cancelled_at, e.cancel_reason, s.starts_at,
       CASE WHEN e.status = 'waitlisted' THEN
           (SELECT count(*) FROM enrolments w WHERE w.session_id = e.session_id AND w.status = 'waitlisted'
            AND w.seq <= e.seq) END AS position
    FROM enrolments e JOIN sessions s ON s.session_id = e.session_id"""


# --- residents ----------------------------------------------------------------------------------

RESIDENT_COLUMNS = (
    "resident_id", "community_id", "audience_group", "family_id", "employer_id", "volunteer", "phone", "email",
    "language", "preferred_channel", "consent", "opted_out_categories",
)  # fmt: skip


async def insert_resident(conn: asyncpg.Connection, resident: dict[str, Any]) -> bool:
    values = [resident[c] for c in RESIDENT_COLUMNS]
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    inserted = await conn.fetchval(
        f"""INSERT INTO residents({", ".join(RESIDENT_COLUMNS)}) VALUES ({placeholders})
            ON CONFLICT (resident_id) DO NOTHING RETURNING true""",
        *values,
    )
    return bool(inserted)


async def get_resident(conn: asyncpg.Connection, resident_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {', '.join(RESIDENT_COLUMNS)} FROM residents WHERE resident_id = $1{' FOR UPDATE' if lock else ''}",
        resident_id,
    )
    return dict(row) if row else None


async def update_resident(conn: asyncpg.Connection, resident_id: str, changes: dict[str, Any]) -> None:
    # Column names come from RESIDENT_COLUMNS only, never from the request.
    columns = [c for c in RESIDENT_COLUMNS if c in changes and c != "resident_id"]
    if not columns:
        return
    assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    await conn.execute(
        f"UPDATE residents SET {assignments}, updated_at = now() WHERE resident_id = $1",
        resident_id,
        *[changes[c] for c in columns],
    )
