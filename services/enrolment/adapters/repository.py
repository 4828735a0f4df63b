"""SQL for the enrolment service's own tables, and its reads of the catalogue read model
(shared/catalogue), whose session rows also carry enrolment's counts, sequence and version.

Every change to a session's enrolments holds the session row's lock (SELECT ... FOR UPDATE),
so enrolments, cancellations and promotions of one session are serialised and the counts on the
session row stay exact. The HTTP hot paths take the lock inside their single write statement
(`place_enrolment`, `cancel_if_unchanged`: one round trip, atomic without BEGIN/COMMIT) after an
unlocked read on which the domain model decided; the statement writes only if what the decision
depends on is unchanged. The consumers and the fallback path lock first (`lock_session`,
`lock_for_cancellation`) in a transaction. Enrolment rows are never locked directly: locking them
as well would open lock-order deadlocks between a cancellation and a promotion of the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.enrolment.domain.model import SessionState
from shared.events import codec
from shared.events.envelope import Envelope

_NEVER = datetime.min.replace(tzinfo=UTC)  # placeholder sessions have no start

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


async def close_session(conn: asyncpg.Connection, session_id: str, reason: str) -> None:
    """Enrolment's side of a cancelled session (the read model marked it cancelled): why, and no
    seats or waitlist left (its enrolments were cancelled in the same transaction)."""
    await conn.execute(
        """UPDATE sessions SET cancel_reason = $2, confirmed_count = 0, waitlist_count = 0, updated_at = now()
           WHERE session_id = $1""",
        session_id, reason,
    )  # fmt: skip


async def session_summary(conn: asyncpg.Connection, session_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                  elderly_priority_until, cancelled, cancel_reason, confirmed_count AS confirmed,
                  waitlist_count AS waitlisted, scheduled
           FROM sessions WHERE session_id = $1""",
        session_id,
    )


async def upcoming_sessions(
    conn: asyncpg.Connection, *, after: datetime, community_id: str | None, text: str | None, limit: int
) -> list[asyncpg.Record]:
    """Sessions open to enrolment from `after` on, soonest first, with their course's and venue's
    names and the seats taken: what a resident browses. Cancelled sessions or courses and
    placeholders (not scheduled yet) are left out; `text` matches a title in either language."""
    return await conn.fetch(
        """SELECT s.session_id, s.course_id, s.venue_id, s.community_id, s.starts_at, s.ends_at, s.capacity,
                  s.elderly_priority_until, s.confirmed_count AS confirmed, s.waitlist_count AS waitlisted,
                  c.title_zh, c.title_en, c.theme, c.audiences, v.name_zh AS venue_zh, v.name_en AS venue_en
           FROM sessions s JOIN courses c ON c.course_id = s.course_id
                LEFT JOIN venues v ON v.venue_id = s.venue_id
           WHERE s.scheduled AND NOT s.cancelled AND NOT c.cancelled AND s.starts_at > $1
             AND ($2::text IS NULL OR s.community_id = $2)
             AND ($3::text IS NULL OR strpos(lower(c.title_zh), $3) > 0 OR strpos(lower(c.title_en), $3) > 0)
           ORDER BY s.starts_at, s.session_id LIMIT $4""",
        after, community_id, text.lower() if text else None, limit,
    )  # fmt: skip


# --- enrolments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolContext:
    session: LockedSession | None
    resident_known: bool
    audience_group: str | None
    already_enrolled: bool


async def read_for_enrolment(conn: asyncpg.Connection, session_id: str, resident_id: str) -> EnrolContext:
    """One round trip, no lock: the session and what the rules need about the resident.

    Nothing is decided on this read alone: `place_enrolment` writes only if the session's rule
    inputs are still the same under its lock. The already-enrolled flag can be stale under
    concurrent double submissions of the same resident; the partial unique index
    `enrolments_live_once` is the guard for that case."""
    row = await conn.fetchrow(
        f"""SELECT {_SESSION_COLUMNS},
                   (SELECT r.audience_group FROM residents r WHERE r.resident_id = $2) AS audience_group,
                   EXISTS (SELECT 1 FROM enrolments e WHERE e.session_id = s.session_id
                           AND e.resident_id = $2 AND e.status <> 'cancelled') AS already
            FROM sessions s LEFT JOIN courses c ON c.course_id = s.course_id
            WHERE s.session_id = $1""",
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


async def place_enrolment(
    conn: asyncpg.Connection,
    enrolment_id: str,
    session: SessionState,
    resident_id: str,
    if_confirmed: Envelope,
    if_waitlisted: Envelope,
) -> asyncpg.Record | None:
    """Enrol in one statement (one round trip, atomic on its own, no BEGIN/COMMIT): lock the
    session row, take a seat while `confirmed_count < capacity` (`model.has_free_seat`) or the
    next waitlist position (`model.next_waitlist_position`), take the next arrival number, store
    the enrolment, the counts and the matching event (the waitlisted event gets the position
    found under the lock). Seat and position are decided here, not passed in, because only the
    locked row's counts are current; a decision on the unlocked read would need a retry whenever
    another enrolment of the session came first.

    `session` is the state the rules were checked on; if what they depend on besides the counts
    (schedule, start, elderly window, cancellation) changed meanwhile, nothing is written and
    None is returned: the caller reads and decides again. A double enrolment raises
    UniqueViolationError (enrolments_live_once).

    `l` is a SELECT ... FOR UPDATE: after waiting for the lock it returns the newest version of
    the row, and the UPDATE writes values computed from it, so concurrent enrolments serialise."""
    event_id, topic, key, headers_c, body_c = codec.outbox_row(if_confirmed)
    waitlisted = codec.outbox_template(if_waitlisted, fields=["position"])
    return await conn.fetchrow(
        """WITH l AS (SELECT session_id, next_seq + 1 AS seq, confirmed_count < capacity AS seat,
                             confirmed_count, waitlist_count
                      FROM sessions
                      WHERE session_id = $2 AND scheduled AND NOT cancelled AND course_id = $4
                        AND starts_at = $5 AND elderly_priority_until IS NOT DISTINCT FROM $6
                      FOR UPDATE),
                u AS (UPDATE sessions s SET next_seq = l.seq,
                          confirmed_count = l.confirmed_count + l.seat::int,
                          waitlist_count = l.waitlist_count + (NOT l.seat)::int
                      FROM l WHERE s.session_id = l.session_id),
                e AS (INSERT INTO enrolments(enrolment_id, session_id, resident_id, status, seq, was_confirmed)
                      SELECT $1, l.session_id, $3, CASE WHEN l.seat THEN 'confirmed' ELSE 'waitlisted' END,
                             l.seq, l.seat
                      FROM l RETURNING seq, status, created_at),
                o AS (INSERT INTO outbox(event_id, topic, key, headers, payload)
                      SELECT $7, $8, $9, CASE WHEN l.seat THEN $10::text::jsonb ELSE $11::text::jsonb END,
                             CASE WHEN l.seat THEN $12::bytea
                                  ELSE convert_to(replace($13::text, $14, to_jsonb(l.waitlist_count + 1)::text),
                                                  'UTF8') END
                      FROM l)
           SELECT e.seq, e.status, e.created_at,
                  CASE WHEN l.seat THEN NULL ELSE l.waitlist_count + 1 END AS position
           FROM e, l""",
        enrolment_id, session.session_id, resident_id, session.course_id, session.starts_at,
        session.elderly_priority_until, event_id, topic, key, headers_c, waitlisted.headers, body_c,
        waitlisted.payload, waitlisted.blanks["position"],
    )  # fmt: skip


@dataclass(frozen=True)
class CancelRead:
    session: LockedSession
    resident_id: str
    status: str
    version: int


async def read_for_cancellation(conn: asyncpg.Connection, enrolment_id: str) -> CancelRead | None:
    """One round trip, no lock: the enrolment, its session and the session's version."""
    row = await conn.fetchrow(
        f"""SELECT {_SESSION_COLUMNS}, s.version, e.resident_id AS owner, e.status AS enrolment_status
            FROM enrolments e JOIN sessions s ON s.session_id = e.session_id
            LEFT JOIN courses c ON c.course_id = s.course_id
            WHERE e.enrolment_id = $1""",
        enrolment_id,
    )
    if row is None:
        return None
    return CancelRead(_locked(row), row["owner"], row["enrolment_status"], row["version"])


async def cancel_if_unchanged(
    conn: asyncpg.Connection,
    enrolment_id: str,
    read: CancelRead,
    outcome: Outcome,
    reason: str,
    cancelled: Envelope,
    promoted: Envelope,
) -> asyncpg.Record | None:
    """The cancellation as one statement (atomic on its own, no BEGIN/COMMIT): lock the session
    and, only if its version is still the one read (nothing changed since, so `outcome` decided
    on that read holds), cancel the enrolment, promote `outcome.seats` waitlisted residents in
    `model.waitlist_order` (by seq), store the counts and the events. None when the session changed: the caller
    takes the locked path instead.

    `promoted` is a template EnrolmentPromoted: each promoted row gets a copy with its own
    enrolment, resident and event id. Outbox rows are inserted in the order of publication
    (the cancellation, then the promotions in arrival order)."""
    c_id, c_topic, c_key, c_headers, c_body = codec.outbox_row(cancelled)
    p = codec.outbox_template(promoted, fields=["enrolment_id", "resident_id"], event_id=True)  # key: the session
    return await conn.fetchrow(
        """WITH l AS (SELECT session_id FROM sessions WHERE session_id = $2 AND version = $3 FOR UPDATE),
                x AS (UPDATE enrolments e SET status = 'cancelled', cancelled_at = $16, cancel_reason = $4
                      FROM l WHERE e.enrolment_id = $1 AND e.status = $5
                      RETURNING e.enrolment_id),
                w AS (SELECT e.enrolment_id FROM enrolments e, x
                      WHERE e.session_id = $2 AND e.status = 'waitlisted' AND e.enrolment_id <> $1
                      ORDER BY e.seq LIMIT $6),
                p AS (UPDATE enrolments e SET status = 'confirmed', was_confirmed = true, promoted_at = $16
                      FROM w WHERE e.enrolment_id = w.enrolment_id
                      RETURNING e.enrolment_id, e.resident_id, e.seq, gen_random_uuid() AS event_id),
                c AS (UPDATE sessions s SET confirmed_count = $7 + (SELECT count(*) FROM p),
                          waitlist_count = $8 - (SELECT count(*) FROM p), updated_at = now()
                      FROM x WHERE s.session_id = $2),
                o AS (INSERT INTO outbox(event_id, topic, key, headers, payload)
                      SELECT event_id, topic, key, headers, payload FROM (
                          SELECT 0::bigint AS ord, $9::uuid AS event_id, $10::text AS topic, $11::bytea AS key,
                                 $12::text::jsonb AS headers, $13::bytea AS payload
                          FROM x
                          UNION ALL
                          SELECT p.seq, p.event_id, $14, $11,
                                 replace($15::text, $18, to_jsonb(p.event_id::text)::text)::jsonb,
                                 convert_to(replace(replace($17::text, $19, to_jsonb(p.enrolment_id)::text),
                                                    $20, to_jsonb(p.resident_id)::text), 'UTF8')
                          FROM p) rows ORDER BY ord)
           SELECT (SELECT count(*) FROM x) AS cancelled,
                  (SELECT coalesce(array_agg(p.enrolment_id ORDER BY p.seq), '{}') FROM p) AS promoted_ids,
                  (SELECT coalesce(array_agg(p.resident_id ORDER BY p.seq), '{}') FROM p) AS promoted_residents
           FROM l""",
        enrolment_id, read.session.state.session_id, read.version, reason, read.status,
        outcome.seats, outcome.confirmed, outcome.waitlisted,
        c_id, c_topic, c_key, c_headers, c_body,
        p.topic, p.headers, cancelled.data.at, p.payload,
        p.blanks["ce_id"], p.blanks["enrolment_id"], p.blanks["resident_id"],
    )  # fmt: skip


@dataclass(frozen=True)
class CancelContext:
    session: LockedSession
    resident_id: str


async def lock_for_cancellation(conn: asyncpg.Connection, enrolment_id: str) -> CancelContext | None:
    """One round trip: find the enrolment's session and lock it. The enrolment's status is not
    read here: after waiting for the lock this statement's snapshot of it may be stale (only the
    locked session row is re-read), so `cancel_and_promote` reads it in its own statement."""
    row = await conn.fetchrow(
        f"""SELECT {_SESSION_COLUMNS}, e.resident_id AS owner
            FROM enrolments e JOIN sessions s ON s.session_id = e.session_id
            LEFT JOIN courses c ON c.course_id = s.course_id
            WHERE e.enrolment_id = $1 FOR UPDATE OF s""",
        enrolment_id,
    )
    return CancelContext(session=_locked(row), resident_id=row["owner"]) if row else None


@dataclass(frozen=True)
class Outcome:
    """What the session looks like after cancelling an enrolment that was in a given status."""

    seats: int  # waitlisted residents to promote now
    confirmed: int  # counts before the promotion
    waitlisted: int


async def cancel_and_promote(
    conn: asyncpg.Connection, enrolment_id: str, reason: str, if_confirmed: Outcome, if_waitlisted: Outcome
) -> asyncpg.Record:
    """Cancel a live enrolment, promote the head of the waitlist (`model.waitlist_order`: by seq)
    and store the session's counts, in one statement; must run under the session's lock. The
    domain model decided the outcome for either status the enrolment may be in; the statement
    picks by the status it finds.

    Returns one row: `old_status` (null when the enrolment was cancelled already: nothing changed),
    `resident_id`, `cancelled_at`, and the promoted enrolments in arrival order (`promoted_ids`,
    `promoted_residents`)."""
    return await conn.fetchrow(
        """WITH old AS (SELECT enrolment_id, status FROM enrolments WHERE enrolment_id = $1 AND status <> 'cancelled'),
                x AS (UPDATE enrolments e SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2
                      FROM old WHERE e.enrolment_id = old.enrolment_id
                      RETURNING old.status AS old_status, e.session_id, e.resident_id, e.cancelled_at),
                k AS (SELECT x.session_id,
                             CASE x.old_status WHEN 'confirmed' THEN $3::int ELSE $6::int END AS seats,
                             CASE x.old_status WHEN 'confirmed' THEN $4::int ELSE $7::int END AS confirmed,
                             CASE x.old_status WHEN 'confirmed' THEN $5::int ELSE $8::int END AS waitlisted
                      FROM x),
                -- The cancelled row is excluded: this snapshot still sees it waitlisted.
                w AS (SELECT e.enrolment_id FROM enrolments e, k
                      WHERE e.session_id = k.session_id AND e.status = 'waitlisted' AND e.enrolment_id <> $1
                      ORDER BY e.seq LIMIT (SELECT seats FROM k)),
                p AS (UPDATE enrolments e SET status = 'confirmed', was_confirmed = true, promoted_at = now()
                      FROM w WHERE e.enrolment_id = w.enrolment_id
                      RETURNING e.enrolment_id, e.resident_id, e.seq),
                c AS (UPDATE sessions s SET confirmed_count = k.confirmed + (SELECT count(*) FROM p),
                          waitlist_count = k.waitlisted - (SELECT count(*) FROM p), updated_at = now()
                      FROM k WHERE s.session_id = k.session_id)
           SELECT x.old_status, x.resident_id, x.cancelled_at,
                  (SELECT coalesce(array_agg(p.enrolment_id ORDER BY p.seq), '{}') FROM p) AS promoted_ids,
                  (SELECT coalesce(array_agg(p.resident_id ORDER BY p.seq), '{}') FROM p) AS promoted_residents
           FROM (SELECT 1) one LEFT JOIN x ON true""",
        enrolment_id, reason,
        if_confirmed.seats, if_confirmed.confirmed, if_confirmed.waitlisted,
        if_waitlisted.seats, if_waitlisted.confirmed, if_waitlisted.waitlisted,
    )  # fmt: skip


async def promote_and_count(
    conn: asyncpg.Connection, session_id: str, seats: int, confirmed: int, waitlisted: int
) -> list[asyncpg.Record]:
    """Promote the first `seats` waitlisted residents in `model.waitlist_order` (by seq) and store
    the session's counts (`confirmed`/`waitlisted` as they are before the promotion), in one
    statement."""
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


# A waitlisted enrolment's position is `model.waitlist_position`, counted here.
_ENROLMENT_VIEW = """SELECT e.enrolment_id, e.session_id, s.course_id, e.resident_id, e.status, e.seq, e.created_at,
       e.promoted_at, e.cancelled_at, e.cancel_reason, s.starts_at,
       CASE WHEN e.status = 'waitlisted' THEN
           (SELECT count(*) FROM enrolments w WHERE w.session_id = e.session_id AND w.status = 'waitlisted'
            AND w.seq <= e.seq) END AS position
    FROM enrolments e JOIN sessions s ON s.session_id = e.session_id"""


# --- residents ----------------------------------------------------------------------------------

RESIDENT_COLUMNS = (
    "resident_id", "community_id", "audience_group", "family_id", "employer_id", "volunteer", "phone", "email",
    "language", "preferred_channel", "consent", "opted_out_categories", "quiet_hours_start", "quiet_hours_end",
    "card_number",
)  # fmt: skip


async def cards_taken(conn: asyncpg.Connection, resident_ids: list[str], cards: list[str]) -> set[str]:
    """Which of `cards` and `resident_ids` a registered resident already holds, as a card or as an
    id: a kiosk must map a scan to one resident, so a card is unique among cards and ids alike."""
    rows = await conn.fetch(
        """SELECT card_number AS v FROM residents WHERE card_number = ANY($1::text[]) OR card_number = ANY($2::text[])
           UNION SELECT resident_id FROM residents WHERE resident_id = ANY($1::text[])""",
        cards,
        resident_ids,
    )
    return {r["v"] for r in rows}


async def resident_by_card(conn: asyncpg.Connection, card_number: str) -> str | None:
    return await conn.fetchval("SELECT resident_id FROM residents WHERE card_number = $1", card_number)


class CardTaken(Exception):
    """Another resident's registration took the card between the check and the insert."""


async def insert_resident(conn: asyncpg.Connection, resident: dict[str, Any]) -> bool:
    """False when the id is registered already; CardTaken when the card is (the unique index)."""
    try:
        return await _insert_resident(conn, resident)
    except asyncpg.UniqueViolationError as e:
        if e.constraint_name == "residents_card_number":
            raise CardTaken(resident.get("card_number")) from None
        raise


async def _insert_resident(conn: asyncpg.Connection, resident: dict[str, Any]) -> bool:
    values = [resident.get(c) for c in RESIDENT_COLUMNS]
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
