"""SQL of the catalogue read model (tables `courses`, `venues`, `sessions`).

Table names are unqualified: scoring's rebuild runs the same statements on a connection whose
search_path is its shadow schema.

Events of the catalogue may arrive in any order across keys and be redelivered, so every write is
an upsert and cancellations win: a cancellation that arrives first leaves a placeholder row which
the late creation or schedule fills in without reviving it.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.catalogue.model import CourseRef, SessionRef
from shared.events.catalogue import CourseCreated, SessionScheduled, VenueClosed, VenueRegistered, VenueReopened

# --- courses ------------------------------------------------------------------------------------

_COURSE_COLUMNS = """course_id, title_zh, title_en, theme, audiences, cancelled, cancel_reason, provider_id,
    provider_kind, community_id"""


async def upsert_course(conn: asyncpg.Connection, course: CourseCreated) -> None:
    """Store a created or updated course; its cancellation, if any, stays."""
    await conn.execute(
        """INSERT INTO courses(course_id, title_zh, title_en, theme, audiences, provider_id, provider_kind,
                               community_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (course_id) DO UPDATE SET title_zh = EXCLUDED.title_zh, title_en = EXCLUDED.title_en,
               theme = EXCLUDED.theme, audiences = EXCLUDED.audiences, provider_id = EXCLUDED.provider_id,
               provider_kind = EXCLUDED.provider_kind, community_id = EXCLUDED.community_id, updated_at = now()""",
        course.course_id, course.title_zh, course.title_en, course.theme, [str(a) for a in course.audiences],
        course.provider_id, str(course.provider_kind) if course.provider_kind else None, course.community_id,
    )  # fmt: skip


async def cancel_course(conn: asyncpg.Connection, course_id: str, reason: str) -> None:
    """Cancel a course (a placeholder if it is not known yet) and every session of it known so far
    (sessions learnt later are cancelled as they arrive, see `upsert_session`)."""
    await conn.execute(
        """INSERT INTO courses(course_id, title_zh, title_en, theme, cancelled, cancel_reason)
           VALUES ($1, '', '', '', true, $2)
           ON CONFLICT (course_id) DO UPDATE SET cancelled = true, cancel_reason = EXCLUDED.cancel_reason,
               updated_at = now()""",
        course_id, reason,
    )  # fmt: skip
    # Locked in id order, as every statement that locks several sessions does (no deadlocks).
    await conn.execute(
        """UPDATE sessions SET cancelled = true, updated_at = now()
           WHERE session_id IN (SELECT session_id FROM sessions WHERE course_id = $1 AND NOT cancelled
                                ORDER BY session_id FOR UPDATE)""",
        course_id,
    )


async def get_course(conn: asyncpg.Connection, course_id: str) -> CourseRef | None:
    row = await conn.fetchrow(f"SELECT {_COURSE_COLUMNS} FROM courses WHERE course_id = $1", course_id)
    return CourseRef(**dict(row)) if row else None


async def course_cancelled(conn: asyncpg.Connection, course_id: str) -> bool:
    return bool(await conn.fetchval("SELECT cancelled FROM courses WHERE course_id = $1", course_id))


# --- venues -------------------------------------------------------------------------------------


async def upsert_venue(conn: asyncpg.Connection, venue: VenueRegistered) -> None:
    await conn.execute(
        """INSERT INTO venues(venue_id, name_zh, name_en, community_id, venue_type, capacity)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (venue_id) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
               community_id = EXCLUDED.community_id, venue_type = EXCLUDED.venue_type,
               capacity = EXCLUDED.capacity, updated_at = now()""",
        venue.venue_id, venue.name_zh, venue.name_en, venue.community_id, str(venue.venue_type), venue.capacity,
    )  # fmt: skip


async def close_venue(conn: asyncpg.Connection, event: VenueClosed) -> None:
    await conn.execute(
        "UPDATE venues SET closed_on = $2, reopened_on = NULL, updated_at = now() WHERE venue_id = $1",
        event.venue_id, event.closed_on,
    )  # fmt: skip


async def reopen_venue(conn: asyncpg.Connection, event: VenueReopened) -> None:
    await conn.execute(
        "UPDATE venues SET reopened_on = $2, updated_at = now() WHERE venue_id = $1", event.venue_id, event.reopened_on
    )


# --- sessions -----------------------------------------------------------------------------------

_SESSION_COLUMNS = """session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
    elderly_priority_until, scheduled, cancelled"""
_COURSE_IS_CANCELLED = "EXISTS (SELECT 1 FROM courses WHERE course_id = $2 AND cancelled)"


async def upsert_session(conn: asyncpg.Connection, session: SessionScheduled) -> None:
    """Store a scheduled or changed session. A cancelled session stays cancelled (a late change
    must not revive it); a session of a cancelled course is cancelled from the start."""
    await conn.execute(
        f"""INSERT INTO sessions(session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                                 elderly_priority_until, scheduled, cancelled)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, {_COURSE_IS_CANCELLED})
            ON CONFLICT (session_id) DO UPDATE SET course_id = EXCLUDED.course_id, venue_id = EXCLUDED.venue_id,
                community_id = EXCLUDED.community_id, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
                capacity = EXCLUDED.capacity, elderly_priority_until = EXCLUDED.elderly_priority_until,
                scheduled = true, updated_at = now()""",
        session.session_id, session.course_id, session.venue_id, session.community_id, session.starts_at,
        session.ends_at, session.capacity, session.elderly_priority_until,
    )  # fmt: skip


async def cancel_session(conn: asyncpg.Connection, session_id: str, course_id: str, starts_at: datetime | None) -> None:
    """Cancel a session; a placeholder (with the start the cancellation carries) if it is not known."""
    await conn.execute(
        """INSERT INTO sessions(session_id, course_id, starts_at, scheduled, cancelled) VALUES ($1, $2, $3, false, true)
           ON CONFLICT (session_id) DO UPDATE SET cancelled = true,
               starts_at = COALESCE(sessions.starts_at, EXCLUDED.starts_at), updated_at = now()""",
        session_id, course_id, starts_at,
    )  # fmt: skip


async def remember_session_start(
    conn: asyncpg.Connection, session_id: str, course_id: str, starts_at: datetime
) -> None:
    """An event of another topic (an enrolment) may arrive before its session: keep the start it
    carries in a placeholder until the schedule arrives; a session known already is left alone."""
    await conn.execute(
        f"""INSERT INTO sessions(session_id, course_id, starts_at, scheduled, cancelled)
            VALUES ($1, $2, $3, false, {_COURSE_IS_CANCELLED}) ON CONFLICT DO NOTHING""",
        session_id, course_id, starts_at,
    )  # fmt: skip


async def get_session(conn: asyncpg.Connection, session_id: str) -> SessionRef | None:
    row = await conn.fetchrow(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = $1", session_id)
    return SessionRef(**dict(row)) if row else None
