"""SQL for the activities service's own tables. Hot-path statements take whole batches (unnest)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.activities.adapters.cache_sync import announce
from services.activities.domain.model import Attendance, Course, Session, Venue, attendance_id
from shared.events.catalogue import KioskCheckin

# --- courses --------------------------------------------------------------------------------

_COURSE_COLUMNS = "course_id, title_zh, title_en, theme, audiences, provider_id, provider_kind, brand, community_id"


def _course_args(course: Course) -> list:
    return [
        course.course_id,
        course.title_zh,
        course.title_en,
        course.theme,
        [str(a) for a in course.audiences],
        course.provider_id,
        course.provider_kind and str(course.provider_kind),
        course.brand,
        course.community_id,
    ]


async def add_course(conn: asyncpg.Connection, course: Course) -> bool:
    """Insert a course; False when its id exists already."""
    inserted = await conn.fetchval(
        f"""INSERT INTO courses({_COURSE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (course_id) DO NOTHING RETURNING true""",
        *_course_args(course),
    )
    await announce(conn, "course", [course.course_id])
    return bool(inserted)


async def update_course(conn: asyncpg.Connection, course: Course) -> None:
    await conn.execute(
        """UPDATE courses SET title_zh=$2, title_en=$3, theme=$4, audiences=$5, provider_id=$6, provider_kind=$7,
                  brand=$8, community_id=$9, updated_at=now() WHERE course_id=$1""",
        *_course_args(course),
    )
    await announce(conn, "course", [course.course_id])


async def get_course(conn: asyncpg.Connection, course_id: str, *, for_update: bool = False) -> Course | None:
    row = await conn.fetchrow(
        f"SELECT {_COURSE_COLUMNS}, cancelled FROM courses WHERE course_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        course_id,
    )
    return Course(**dict(row)) if row else None


async def cancel_course(conn: asyncpg.Connection, course_id: str) -> None:
    await conn.execute("UPDATE courses SET cancelled = true, updated_at = now() WHERE course_id = $1", course_id)
    await announce(conn, "course", [course_id])


async def open_courses_by_theme(conn: asyncpg.Connection, community_id: str | None) -> dict[str, list[str]]:
    """Courses not cancelled, for one community (or street-wide courses, which serve every community)."""
    rows = await conn.fetch(
        """SELECT theme, course_id FROM courses
           WHERE NOT cancelled AND ($1::text IS NULL OR community_id IS NULL OR community_id = $1)""",
        community_id,
    )
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r["theme"], []).append(r["course_id"])
    return found


# --- venues, kiosks, providers --------------------------------------------------------------


async def get_venue(conn: asyncpg.Connection, venue_id: str, *, for_update: bool = False) -> Venue | None:
    row = await conn.fetchrow(
        "SELECT venue_id, community_id, name_zh, name_en, venue_type, capacity, kiosk_ids FROM venues WHERE venue_id=$1"
        + (" FOR UPDATE" if for_update else ""),
        venue_id,
    )
    return Venue(**dict(row)) if row else None


async def list_venues(conn: asyncpg.Connection, community_id: str | None) -> list[Venue]:
    rows = await conn.fetch(
        """SELECT venue_id, community_id, name_zh, name_en, venue_type, capacity, kiosk_ids FROM venues
           WHERE $1::text IS NULL OR community_id = $1 ORDER BY venue_id""",
        community_id,
    )
    return [Venue(**dict(r)) for r in rows]


async def kiosks_elsewhere(conn: asyncpg.Connection, venue_id: str, kiosk_ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT kiosk_id, venue_id FROM kiosks WHERE kiosk_id = ANY($1::text[]) AND venue_id <> $2",
        list(kiosk_ids),
        venue_id,
    )
    return {r["kiosk_id"]: r["venue_id"] for r in rows}


async def save_venue(conn: asyncpg.Connection, venue: Venue, *, create: bool) -> bool:
    """Insert (create) or update a venue and its kiosks; False when creating an id that exists."""
    args = (
        venue.venue_id,
        venue.community_id,
        venue.name_zh,
        venue.name_en,
        str(venue.venue_type),
        venue.capacity,
        venue.kiosk_ids,
    )
    if create:
        ok = await conn.fetchval(
            """INSERT INTO venues(venue_id, community_id, name_zh, name_en, venue_type, capacity, kiosk_ids)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (venue_id) DO NOTHING RETURNING true""",
            *args,
        )
        if not ok:
            return False
    else:
        await conn.execute(
            """UPDATE venues SET community_id=$2, name_zh=$3, name_en=$4, venue_type=$5, capacity=$6, kiosk_ids=$7,
                      updated_at=now() WHERE venue_id=$1""",
            *args,
        )
    await conn.execute(
        "DELETE FROM kiosks WHERE venue_id = $1 AND NOT (kiosk_id = ANY($2::text[]))", venue.venue_id, venue.kiosk_ids
    )
    await conn.execute(
        "INSERT INTO kiosks(kiosk_id, venue_id) SELECT unnest($1::text[]), $2 ON CONFLICT (kiosk_id) DO NOTHING",
        venue.kiosk_ids,
        venue.venue_id,
    )
    await announce(conn, "venue", [venue.venue_id])
    return True


async def add_provider(conn: asyncpg.Connection, provider_id: str, kind: str, name_zh: str, name_en: str) -> bool:
    return bool(
        await conn.fetchval(
            """INSERT INTO providers(provider_id, kind, name_zh, name_en) VALUES ($1, $2, $3, $4)
               ON CONFLICT (provider_id) DO NOTHING RETURNING true""",
            provider_id,
            kind,
            name_zh,
            name_en,
        )
    )


async def get_provider(conn: asyncpg.Connection, provider_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT provider_id, kind, name_zh, name_en FROM providers WHERE provider_id=$1", provider_id
    )


# --- sessions -------------------------------------------------------------------------------

_SESSION_COLUMNS = (
    "session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity, elderly_priority_until, cancelled"
)


async def get_session(conn: asyncpg.Connection, session_id: str, *, for_update: bool = False) -> Session | None:
    row = await conn.fetchrow(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id=$1" + (" FOR UPDATE" if for_update else ""),
        session_id,
    )
    return Session(**dict(row)) if row else None


async def sessions_of_course(conn: asyncpg.Connection, course_id: str) -> list[Session]:
    rows = await conn.fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE course_id=$1 ORDER BY starts_at", course_id)
    return [Session(**dict(r)) for r in rows]


async def save_session(conn: asyncpg.Connection, s: Session, *, create: bool) -> bool:
    args = (s.session_id, s.course_id, s.venue_id, s.community_id, s.starts_at, s.ends_at, s.capacity)
    await announce(conn, "session", [s.session_id])
    if create:
        created = await conn.fetchval(
            """INSERT INTO sessions(session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                                    elderly_priority_until)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (session_id) DO NOTHING RETURNING true""",
            *args,
            s.elderly_priority_until,
        )
        if created:
            await conn.execute("INSERT INTO walk_in_counts(session_id) VALUES ($1) ON CONFLICT DO NOTHING", args[0])
        return bool(created)
    await conn.execute(
        """UPDATE sessions SET venue_id=$3, community_id=$4, starts_at=$5, ends_at=$6, capacity=$7,
                  elderly_priority_until=$8, cancelled=$9, updated_at=now() WHERE session_id=$1 AND course_id=$2""",
        *args,
        s.elderly_priority_until,
        s.cancelled,
    )
    return True


async def confirmed_seats(conn: asyncpg.Connection, session_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM enrolment_seats WHERE session_id=$1 AND state='confirmed'", session_id
    )


# --- residents and seats (from enrolment) ---------------------------------------------------


async def upsert_residents(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str, bool]]) -> None:
    await conn.execute(
        """INSERT INTO residents(resident_id, community_id, audience_group, volunteer)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[])
           ON CONFLICT (resident_id) DO UPDATE SET community_id=excluded.community_id,
               audience_group=excluded.audience_group, volunteer=excluded.volunteer, updated_at=now()""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    await announce(conn, "resident", [r[0] for r in rows])


async def upsert_seats(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str, str]]) -> None:
    """(enrolment_id, session_id, resident_id, state); a cancelled enrolment stays cancelled."""
    await conn.execute(
        """INSERT INTO enrolment_seats(enrolment_id, session_id, resident_id, state)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           ON CONFLICT (enrolment_id) DO UPDATE SET state = CASE WHEN enrolment_seats.state = 'cancelled'
               THEN 'cancelled' ELSE excluded.state END""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    await announce(conn, "seats", sorted({r[1] for r in rows}))


async def enrolled_residents(conn: asyncpg.Connection, session_ids: Sequence[str]) -> dict[str, set[str]]:
    rows = await conn.fetch(
        "SELECT session_id, resident_id FROM enrolment_seats WHERE session_id = ANY($1::text[]) AND state='confirmed'",
        list(session_ids),
    )
    found: dict[str, set[str]] = {s: set() for s in session_ids}
    for r in rows:
        found[r["session_id"]].add(r["resident_id"])
    return found


# --- walk-in seats --------------------------------------------------------------------------


async def lock_walk_ins(conn: asyncpg.Connection, session_ids: Sequence[str]) -> dict[str, tuple[int, set[str]]]:
    """Per session: walk-in seats taken and the residents with a confirmed seat, read under the
    session's counter row lock (held until the caller's commit). Locked in session order, so two
    instances' batches wait for each other instead of deadlocking."""
    if not session_ids:
        return {}
    ids = sorted(set(session_ids))
    sql = """SELECT w.session_id, w.taken,
                    coalesce((SELECT array_agg(e.resident_id) FROM enrolment_seats e
                              WHERE e.session_id = w.session_id AND e.state = 'confirmed'), '{}') AS enrolled
             FROM walk_in_counts w WHERE w.session_id = ANY($1::text[]) ORDER BY w.session_id FOR UPDATE OF w"""
    rows = await conn.fetch(sql, ids)
    if len(rows) < len(ids):
        # Sessions scheduled before the counter existed (or by an older instance mid-upgrade).
        missing = sorted(set(ids) - {r["session_id"] for r in rows})
        await conn.execute(
            """INSERT INTO walk_in_counts(session_id, taken)
               SELECT s, (SELECT count(*) FROM attendance a WHERE a.session_id = s AND a.walk_in)
               FROM unnest($1::text[]) AS s ON CONFLICT DO NOTHING""",
            missing,
        )
        rows = await conn.fetch(sql, ids)
    return {r["session_id"]: (r["taken"], set(r["enrolled"])) for r in rows}


async def add_walk_ins(conn: asyncpg.Connection, taken: dict[str, int]) -> None:
    """Add the walk-in seats a batch took (its counter rows are locked by `lock_walk_ins`)."""
    deltas = [(s, n) for s, n in taken.items() if n]
    if not deltas:
        return
    await conn.execute(
        """UPDATE walk_in_counts w SET taken = w.taken + d.n
           FROM unnest($1::text[], $2::int[]) AS d(session_id, n) WHERE w.session_id = d.session_id""",
        [d[0] for d in deltas],
        [d[1] for d in deltas],
    )


async def walk_ins(conn: asyncpg.Connection, session_id: str) -> int:
    return await conn.fetchval("SELECT coalesce(max(taken), 0) FROM walk_in_counts WHERE session_id = $1", session_id)


# --- check-ins and attendance ---------------------------------------------------------------


async def claim_checkins(conn: asyncpg.Connection, scans: Sequence) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Store new check-ins with their outcome. Returns (claimed, revived): claimed are the ids to
    apply now — not seen before, or seen but still parked (a kiosk retry of a scan parked while its
    resident or session was unknown is that scan arriving again, judged now: were it dropped as a
    duplicate, a later scan would take its place as the first one); revived are the latter.
    Kiosk retries of a settled scan are in neither, nor is another scan reusing a parked one's id
    (it must not take the parked scan's place: see `scans_of`). `scans`: ((check-in, first seen,
    parked), (outcome, reason, session_id))."""
    if not scans:
        return set(), set()
    rows = await conn.fetch(
        """INSERT INTO checkins(checkin_id, kiosk_id, venue_id, resident_id, session_id, scanned_at, direction,
                                outcome, reason)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                                $7::text[], $8::text[], $9::text[])
           ON CONFLICT (checkin_id) DO UPDATE
               SET outcome = excluded.outcome, reason = excluded.reason,
                   session_id = coalesce(excluded.session_id, checkins.session_id)
               WHERE checkins.outcome = 'pending'
                 AND (checkins.kiosk_id, checkins.venue_id, checkins.resident_id, checkins.scanned_at,
                      checkins.direction)
                     = (excluded.kiosk_id, excluded.venue_id, excluded.resident_id, excluded.scanned_at,
                        excluded.direction)
           RETURNING checkin_id, xmax <> 0 AS revived""",
        [w[0].checkin_id for w, _ in scans],
        [w[0].kiosk_id for w, _ in scans],
        [w[0].venue_id for w, _ in scans],
        [w[0].resident_id for w, _ in scans],
        [o[2] or w[0].session_id for w, o in scans],
        [w[0].scanned_at for w, _ in scans],
        [w[0].direction for w, _ in scans],
        [o[0] for _, o in scans],
        [o[1] for _, o in scans],
    )
    return {r["checkin_id"] for r in rows}, {r["checkin_id"] for r in rows if r["revived"]}


async def scans_of(conn: asyncpg.Connection, checkin_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, KioskCheckin]:
    """The scans the ledger holds under these ids, to tell a kiosk retry from another scan reusing
    an id (asked only for the ids `claim_checkins` did not claim: rare)."""
    rows = await conn.fetch(
        """SELECT checkin_id, kiosk_id, venue_id, resident_id, session_id, scanned_at, direction
           FROM checkins WHERE checkin_id = ANY($1::uuid[])""",
        list(checkin_ids),
    )
    return {r["checkin_id"]: KioskCheckin.model_construct(**dict(r)) for r in rows}


async def set_outcomes(
    conn: asyncpg.Connection,
    outcomes: Sequence[tuple[uuid.UUID, str, str, str | None]],
    residents: Sequence[str] | None = None,
) -> None:
    """(checkin_id, outcome, reason, session_id); `residents`, per row, the resident the scan names
    now: a parked scan of a card whose owner was registered since is stored under the resident id."""
    if not outcomes:
        return
    await conn.execute(
        """UPDATE checkins c
           SET outcome = o.outcome, reason = o.reason, session_id = coalesce(o.session_id, c.session_id),
               resident_id = coalesce(o.resident_id, c.resident_id)
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
               AS o(checkin_id, outcome, reason, session_id, resident_id)
           WHERE c.checkin_id = o.checkin_id""",
        [o[0] for o in outcomes],
        [o[1] for o in outcomes],
        [o[2] for o in outcomes],
        [o[3] for o in outcomes],
        list(residents) if residents is not None else [None] * len(outcomes),
    )


async def existing_attendance(
    conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict]:
    """The attendance rows of these (resident, session) pairs, locked (in id order: an instance that
    lost the partition mid-batch and the one that got it wait for each other, the second folding
    into what the first committed, instead of one overwriting the other). Looked up by their
    deterministic id: a join on the pairs was planned as a hash join over the WHOLE table (a seq
    scan growing with every attendance ever recorded: 0.36 s per batch at 600k rows)."""
    if not pairs:
        return {}
    # Even by id the planner prefers a seq scan once a batch asks for a few % of the table (10k of
    # 600k rows: 0.14 s vs 0.08 s by index). The setting lasts until the batch's commit, and the
    # batch's other statements are key lookups as well.
    await conn.execute("SET LOCAL enable_seqscan = off")
    rows = await conn.fetch(
        """SELECT attendance_id, resident_id, session_id, checkin_id, walk_in, first_in_at, last_out_at, minutes
           FROM attendance WHERE attendance_id = ANY($1::uuid[])
           ORDER BY attendance_id FOR UPDATE""",
        [attendance_id(r, s) for r, s in pairs],
    )
    return {(r["resident_id"], r["session_id"]): dict(r) for r in rows}


async def insert_attendance(conn: asyncpg.Connection, rows: Sequence[Attendance]) -> set[uuid.UUID]:
    if not rows:
        return set()
    inserted = await conn.fetch(
        """INSERT INTO attendance(attendance_id, resident_id, session_id, course_id, venue_id, checkin_id, first_in_at,
                                  last_out_at, minutes, walk_in)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                                $7::timestamptz[], $8::timestamptz[], $9::int[], $10::bool[])
           ON CONFLICT DO NOTHING RETURNING attendance_id""",
        [a.attendance_id for a in rows],
        [a.resident_id for a in rows],
        [a.session.session_id for a in rows],
        [a.session.course_id for a in rows],
        [a.session.venue_id for a in rows],
        [a.checkin_id for a in rows],
        [a.first_in for a in rows],
        [a.last_out for a in rows],
        [a.minutes for a in rows],
        [a.walk_in for a in rows],
    )
    return {r["attendance_id"] for r in inserted}


async def update_attendance(conn: asyncpg.Connection, rows: Sequence[Attendance]) -> None:
    if not rows:
        return
    await conn.execute(
        """UPDATE attendance a SET first_in_at = u.first_in, last_out_at = u.last_out, minutes = u.minutes,
                  updated_at = now()
           FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::int[])
                AS u(id, first_in, last_out, minutes)
           WHERE a.attendance_id = u.id""",
        [a.attendance_id for a in rows],
        [a.first_in for a in rows],
        [a.last_out for a in rows],
        [a.minutes for a in rows],
    )


async def park(conn: asyncpg.Connection, rows: Sequence[tuple[uuid.UUID, bytes, str, str, str]]) -> None:
    """(checkin_id, payload json, reason, resident_id, venue_id); first_seen stays the first arrival."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO pending_checkins(checkin_id, payload, reason, resident_id, venue_id)
           SELECT id, p::jsonb, r, res, v FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
               AS t(id, p, r, res, v)
           ON CONFLICT (checkin_id) DO UPDATE
               SET reason = excluded.reason, payload = excluded.payload, resident_id = excluded.resident_id""",
        [r[0] for r in rows],
        [r[1].decode() for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    )


async def still_parked(conn: asyncpg.Connection, checkin_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `checkin_ids` still parked, locked until the caller's commit."""
    rows = await conn.fetch(
        "SELECT checkin_id FROM pending_checkins WHERE checkin_id = ANY($1::uuid[]) FOR UPDATE", list(checkin_ids)
    )
    return {r["checkin_id"] for r in rows}


async def unpark(conn: asyncpg.Connection, checkin_ids: Sequence[uuid.UUID]) -> None:
    if checkin_ids:
        await conn.execute("DELETE FROM pending_checkins WHERE checkin_id = ANY($1::uuid[])", list(checkin_ids))


async def parked_of(conn: asyncpg.Connection, resident_ids: Sequence[str]) -> list[asyncpg.Record]:
    """The parked check-ins of these residents, in arrival order (usually none: a scan is parked
    only while its resident or session is unknown)."""
    return await conn.fetch(
        """SELECT checkin_id, payload, first_seen FROM pending_checkins WHERE resident_id = ANY($1::text[])
           ORDER BY first_seen, checkin_id""",
        list(resident_ids),
    )


async def pending(
    conn: asyncpg.Connection, limit: int, after: tuple[datetime, uuid.UUID] | None = None
) -> list[asyncpg.Record]:
    """Parked check-ins in arrival order, a page at a time (keyset: rows left parked do not repeat)."""
    if after is None:
        return await conn.fetch(
            "SELECT checkin_id, payload, first_seen FROM pending_checkins ORDER BY first_seen, checkin_id LIMIT $1",
            limit,
        )
    return await conn.fetch(
        """SELECT checkin_id, payload, first_seen FROM pending_checkins WHERE (first_seen, checkin_id) > ($2, $3)
           ORDER BY first_seen, checkin_id LIMIT $1""",
        limit,
        after[0],
        after[1],
    )


async def pending_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM pending_checkins")


async def get_checkin(conn: asyncpg.Connection, checkin_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT c.checkin_id, c.kiosk_id, c.venue_id, c.resident_id, c.session_id, c.scanned_at, c.direction,
                  c.received_at, coalesce(c.outcome, 'pending') AS outcome, c.reason,
                  (p.checkin_id IS NOT NULL) AS parked
           FROM checkins c LEFT JOIN pending_checkins p USING (checkin_id) WHERE c.checkin_id = $1""",
        checkin_id,
    )


async def get_attendance(conn: asyncpg.Connection, resident_id: str, session_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT attendance_id, resident_id, session_id, course_id, venue_id, checkin_id, first_in_at, last_out_at,
                  minutes, walk_in, recorded_at FROM attendance WHERE attendance_id=$1""",
        attendance_id(resident_id, session_id),
    )


# --- needs ----------------------------------------------------------------------------------


async def add_vote(
    conn: asyncpg.Connection, vote_id: str, resident_id: str, community_id: str, theme: str, topic_text: str
) -> datetime | None:
    return await conn.fetchval(
        """INSERT INTO need_votes(vote_id, resident_id, community_id, theme, topic_text) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING RETURNING voted_at""",
        vote_id,
        resident_id,
        community_id,
        theme,
        topic_text,
    )


async def votes_of(conn: asyncpg.Connection, resident_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT vote_id, resident_id, community_id, theme, topic_text, voted_at FROM need_votes
           WHERE resident_id=$1 ORDER BY voted_at""",
        resident_id,
    )


async def vote_counts(conn: asyncpg.Connection, community_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT theme, count(*) AS n FROM need_votes WHERE community_id=$1 GROUP BY theme", community_id
    )
    return {r["theme"]: r["n"] for r in rows}


# --- kiosk cards (enrolment.resident-cards) ------------------------------------------------------


async def assign_card(conn: asyncpg.Connection, resident_id: str, card_digest: str) -> None:
    """The resident's card from now on (a replaced card leaves the map; a card given to another
    resident leaves the one who held it). Scans of the card parked before it was known are mapped
    when they are judged again, which its arrival asks for."""
    await conn.execute(
        "DELETE FROM resident_cards WHERE resident_id = $1 OR card_digest = $2", resident_id, card_digest
    )
    await conn.execute("INSERT INTO resident_cards(card_digest, resident_id) VALUES ($1, $2)", card_digest, resident_id)
    await announce(conn, "card", [resident_id])


async def remove_card(conn: asyncpg.Connection, resident_id: str) -> str | None:
    """The resident has no card any more (an erasure); returns its digest."""
    card = await conn.fetchval("DELETE FROM resident_cards WHERE resident_id = $1 RETURNING card_digest", resident_id)
    if card is not None:
        await announce(conn, "card", [resident_id])
    return card
