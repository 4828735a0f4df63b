"""SQL for the notify service's own tables, and its reads of the catalogue read model
(`courses`, `venues`, `sessions`: shared/catalogue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.notify.domain.model import PENDING_STATUSES, Audience, Contact, Drop, Seat

_PENDING = list(PENDING_STATUSES)


# --- contacts and languages learnt from events ------------------------------------------------


async def upsert_contact(conn: asyncpg.Connection, contact: Contact) -> None:
    await conn.execute(
        """INSERT INTO contacts(resident_id, phone, email, language, preferred_channel, consent, opted_out,
                                quiet_hours_start, quiet_hours_end)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (resident_id) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email,
               language = EXCLUDED.language, preferred_channel = EXCLUDED.preferred_channel,
               consent = EXCLUDED.consent, opted_out = EXCLUDED.opted_out,
               quiet_hours_start = EXCLUDED.quiet_hours_start, quiet_hours_end = EXCLUDED.quiet_hours_end,
               updated_at = now()""",
        contact.resident_id, contact.phone, contact.email, contact.language, contact.preferred_channel,
        contact.consent, list(contact.opted_out_categories), contact.quiet_hours_start, contact.quiet_hours_end,
    )  # fmt: skip


async def contacts_of(conn: asyncpg.Connection, resident_ids: list[str]) -> dict[str, Contact]:
    rows = await conn.fetch(
        """SELECT resident_id, phone, email, language, preferred_channel, consent, opted_out,
                  quiet_hours_start, quiet_hours_end FROM contacts WHERE resident_id = ANY($1::text[])""",
        resident_ids,
    )
    return {
        r["resident_id"]: Contact(
            resident_id=r["resident_id"],
            phone=r["phone"],
            email=r["email"],
            language=r["language"],
            preferred_channel=r["preferred_channel"],
            consent=r["consent"],
            opted_out_categories=tuple(r["opted_out"]),
            quiet_hours_start=r["quiet_hours_start"],
            quiet_hours_end=r["quiet_hours_end"],
        )
        for r in rows
    }


async def upsert_resident(
    conn: asyncpg.Connection, resident_id: str, language: str, community_id: str, audience_group: str
) -> None:
    await conn.execute(
        """INSERT INTO residents(resident_id, language, community_id, audience_group) VALUES ($1, $2, $3, $4)
           ON CONFLICT (resident_id) DO UPDATE SET language = EXCLUDED.language, community_id = EXCLUDED.community_id,
               audience_group = EXCLUDED.audience_group, updated_at = now()""",
        resident_id, language, community_id, audience_group,
    )  # fmt: skip


async def languages_of(conn: asyncpg.Connection, resident_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT resident_id, language FROM residents WHERE resident_id = ANY($1::text[])", resident_ids
    )
    return {r["resident_id"]: r["language"] for r in rows}


# --- our view of enrolments -----------------------------------------------------------------------


async def upsert_enrolment(conn: asyncpg.Connection, seat: Seat) -> None:
    await conn.execute(
        """INSERT INTO enrolments(enrolment_id, session_id, course_id, resident_id, status, fact_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (enrolment_id) DO UPDATE SET status = EXCLUDED.status,
               fact_at = COALESCE(EXCLUDED.fact_at, enrolments.fact_at), updated_at = now()""",
        seat.enrolment_id, seat.session_id, seat.course_id, seat.resident_id, seat.status, seat.at,
    )  # fmt: skip


def _seat(r: asyncpg.Record) -> Seat:
    return Seat(r["enrolment_id"], r["resident_id"], r["session_id"], r["course_id"], r["status"], r["fact_at"])


async def get_seat(conn: asyncpg.Connection, enrolment_id: str) -> Seat | None:
    """The enrolment, locked: two events of one enrolment are applied one after the other."""
    row = await conn.fetchrow(
        """SELECT enrolment_id, session_id, course_id, resident_id, status, fact_at FROM enrolments
           WHERE enrolment_id = $1 FOR UPDATE""",
        enrolment_id,
    )
    return _seat(row) if row else None


async def seats(conn: asyncpg.Connection, *, session_id: str | None = None, course_id: str | None = None,
                statuses: tuple[str, ...] = ("confirmed", "waitlisted")) -> list[Seat]:  # fmt: skip
    rows = await conn.fetch(
        """SELECT enrolment_id, session_id, course_id, resident_id, status, fact_at FROM enrolments
           WHERE ($1::text IS NULL OR session_id = $1) AND ($2::text IS NULL OR course_id = $2)
             AND status = ANY($3::text[]) ORDER BY enrolment_id""",
        session_id,
        course_id,
        list(statuses),
    )
    return [_seat(r) for r in rows]


async def schedule_of(conn: asyncpg.Connection, session_id: str) -> int:
    return await conn.fetchval("SELECT schedule FROM session_schedules WHERE session_id = $1", session_id) or 0


async def set_schedule(conn: asyncpg.Connection, session_id: str, schedule: int) -> None:
    await conn.execute(
        """INSERT INTO session_schedules(session_id, schedule) VALUES ($1, $2)
           ON CONFLICT (session_id) DO UPDATE SET schedule = EXCLUDED.schedule, updated_at = now()""",
        session_id,
        schedule,
    )


async def remember_cancel_reason(conn: asyncpg.Connection, session_id: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO session_cancellations(session_id, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        session_id,
        reason,
    )


async def cancel_reason(conn: asyncpg.Connection, session_id: str, course_id: str) -> str:
    """Why the session (or its course) was cancelled, as its cancellation said."""
    return (
        await conn.fetchval(
            """SELECT COALESCE((SELECT reason FROM session_cancellations WHERE session_id = $1),
                               (SELECT cancel_reason FROM courses WHERE course_id = $2 AND cancelled), '')""",
            session_id,
            course_id,
        )
        or ""
    )


# --- honours -------------------------------------------------------------------------------------


async def revoke_honour(conn: asyncpg.Connection, honour_id: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO honour_revocations(honour_id, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING", honour_id, reason
    )


async def honour_revoked(conn: asyncpg.Connection, honour_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM honour_revocations WHERE honour_id = $1", honour_id))


_HONOUR = "(params->>'honour_id' = {0} OR idempotency_key = resident_id || ':honour_awarded:' || {0})"


async def told_of_honour(conn: asyncpg.Connection, honour_id: str) -> list[str]:
    """Residents whose award notice was sent or is in flight (rows before issue 13 lack the
    honour_id param: their key names it)."""
    rows = await conn.fetch(
        f"""SELECT resident_id FROM notifications
            WHERE kind = 'honour_awarded' AND status IN ('sending', 'sent') AND {_HONOUR.format("$1")}
            ORDER BY resident_id""",
        honour_id,
    )
    return [r["resident_id"] for r in rows]


async def award_params(conn: asyncpg.Connection, honour_id: str) -> dict[str, Any]:
    """The honour's kind and period as its award notice holds them ({} if none was queued)."""
    params = await conn.fetchval(
        f"""SELECT params FROM notifications WHERE kind = 'honour_awarded' AND {_HONOUR.format("$1")}
            ORDER BY created_at LIMIT 1""",
        honour_id,
    )
    return {k: v for k, v in (params or {}).items() if k in ("honour_kind", "period")}


# --- notifications --------------------------------------------------------------------------------


@dataclass
class NewNotification:
    idempotency_key: str
    resident_id: str
    kind: str
    due_at: datetime
    contact_deadline: datetime
    triggered_at: datetime
    session_id: str | None = None
    enrolment_id: str | None = None
    session_starts_at: datetime | None = None
    params: dict[str, Any] | None = None
    catalogue_deadline: datetime | None = None


async def add_notifications(conn: asyncpg.Connection, items: list[NewNotification]) -> int:
    """Insert the notifications not queued before (by idempotency key); returns how many are new."""
    if not items:
        return 0
    rows = await conn.fetch(
        """INSERT INTO notifications(notification_id, idempotency_key, resident_id, kind, due_at, contact_deadline,
                                     triggered_at, session_id, enrolment_id, session_starts_at, params,
                                     catalogue_deadline)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                                $7::timestamptz[], $8::text[], $9::text[], $10::timestamptz[], $11::jsonb[],
                                $12::timestamptz[])
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING notification_id""",
        [uuid.uuid4() for _ in items],
        [i.idempotency_key for i in items],
        [i.resident_id for i in items],
        [i.kind for i in items],
        [i.due_at for i in items],
        [i.contact_deadline for i in items],
        [i.triggered_at for i in items],
        [i.session_id for i in items],
        [i.enrolment_id for i in items],
        [i.session_starts_at for i in items],
        [i.params or {} for i in items],
        [i.catalogue_deadline for i in items],
    )
    return len(rows)


async def drop_pending(conn: asyncpg.Connection, now: datetime, drop: Drop, keep_keys: list[str]) -> int:
    """Cancel notifications not yet handed to a channel (a message in flight is left to finish)."""
    result = await conn.execute(
        f"""UPDATE notifications SET status = 'cancelled', status_reason = $2, cancelled_at = $1, updated_at = $1
            WHERE status IN ('queued', 'deferred') AND kind = ANY($3::text[])
              AND ($4::text IS NULL OR enrolment_id = $4)
              AND ($5::text IS NULL OR session_id = $5)
              AND ($6::text IS NULL OR session_id IN (SELECT session_id FROM sessions WHERE course_id = $6)
                   OR enrolment_id IN (SELECT enrolment_id FROM enrolments WHERE course_id = $6))
              AND ($7::text IS NULL OR {_HONOUR.format("$7")})
              AND ($8::timestamptz IS NULL OR session_starts_at IS DISTINCT FROM $8)
              AND NOT (idempotency_key = ANY($9::text[]))""",
        now, drop.reason, list(drop.kinds), drop.enrolment_id, drop.session_id, drop.course_id, drop.honour_id,
        drop.unless_starts_at, keep_keys,
    )  # fmt: skip
    return int(result.split()[-1])


async def wake_awaiting_contact(conn: asyncpg.Connection, resident_id: str, now: datetime) -> None:
    await conn.execute(
        """UPDATE notifications SET due_at = LEAST(due_at, $2), updated_at = $2
           WHERE resident_id = $1 AND status = 'queued' AND status_reason = 'awaiting_contact'""",
        resident_id,
        now,
    )


async def wake_awaiting_catalogue(conn: asyncpg.Connection, now: datetime) -> int:
    """A catalogue event arrived: messages that waited for a name are due now (they wait again
    if it was not theirs; there are few, and only while the catalogue lags)."""
    result = await conn.execute(
        """UPDATE notifications SET due_at = $1, updated_at = $1
           WHERE status = 'queued' AND status_reason = 'awaiting_catalogue' AND due_at > $1""",
        now,
    )
    return int(result.split()[-1])


CLAIM_COLUMNS = """notification_id, idempotency_key, resident_id, kind, session_id, params, session_starts_at,
    status, channel, language, rendered_subject, rendered_body, attempts, due_at, contact_deadline,
    catalogue_deadline, triggered_at, created_at, first_attempt_at"""


async def claim_due(
    conn: asyncpg.Connection, now: datetime, limit: int, residents: list[str] | None = None
) -> list[asyncpg.Record]:
    """Due rows, locked for this transaction; rows other workers hold are skipped. A row left in
    `sending` by a crashed worker is due again once its lease (due_at) has run out."""
    return await conn.fetch(
        f"""SELECT {CLAIM_COLUMNS} FROM notifications
            WHERE status IN ('queued', 'deferred', 'sending') AND due_at <= $1
              AND ($3::text[] IS NULL OR resident_id = ANY($3::text[]))
            ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
        residents,
    )


@dataclass(frozen=True)
class Attempt:
    """A claimed row about to be handed to a channel (`mark_sending`)."""

    notification_id: uuid.UUID
    claim_token: uuid.UUID
    channel: str
    address_hint: str
    language: str
    subject: str
    body: str


async def mark_sending(
    conn: asyncpg.Connection, attempts: list[Attempt], *, now: datetime, lease_until: datetime
) -> None:
    """Record the attempts of a claimed batch in one statement. Recorded (and committed) before the
    channel is called: a crash after sending leaves a row in `sending` that is retried with the same
    key and the same stored text."""
    if not attempts:
        return
    await conn.execute(
        """UPDATE notifications n SET status = 'sending', status_reason = NULL, attempts = n.attempts + 1,
               claim_token = a.claim_token, channel = a.channel, address_hint = a.address_hint,
               language = a.language, rendered_subject = a.subject, rendered_body = a.body, last_attempt_at = $1,
               first_attempt_at = COALESCE(n.first_attempt_at, $1), due_at = $2, updated_at = $1
           FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
                AS a(notification_id, claim_token, channel, address_hint, language, subject, body)
           WHERE n.notification_id = a.notification_id""",
        now, lease_until,
        [a.notification_id for a in attempts], [a.claim_token for a in attempts], [a.channel for a in attempts],
        [a.address_hint for a in attempts], [a.language for a in attempts], [a.subject for a in attempts],
        [a.body for a in attempts],
    )  # fmt: skip


FINISHED_COLUMNS = "notification_id, resident_id, kind, channel, idempotency_key, attempts, triggered_at"


@dataclass(frozen=True)
class Sent:
    """A channel accepted the message of a claim (`finish_sent`)."""

    notification_id: uuid.UUID
    claim_token: uuid.UUID
    provider_id: str | None
    sent_at: datetime


async def finish_sent(conn: asyncpg.Connection, sent: list[Sent], *, now: datetime) -> list[asyncpg.Record]:
    """Move the sent messages of a batch to `sent` in one statement; a row another worker claimed
    since (its claim token changed) is left to that worker and not returned."""
    if not sent:
        return []
    return await conn.fetch(
        f"""UPDATE notifications n SET status = 'sent', status_reason = NULL,
               provider_id = COALESCE(s.provider_id, n.provider_id), sent_at = s.sent_at, claim_token = NULL,
               updated_at = $1
           FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[])
                AS s(notification_id, claim_token, provider_id, sent_at)
           WHERE n.notification_id = s.notification_id AND n.claim_token = s.claim_token
           RETURNING {", ".join("n." + c.strip() for c in FINISHED_COLUMNS.split(","))}""",
        now, [s.notification_id for s in sent], [s.claim_token for s in sent], [s.provider_id for s in sent],
        [s.sent_at for s in sent],
    )  # fmt: skip


async def reschedule(
    conn: asyncpg.Connection, notification_id: uuid.UUID, *, now: datetime, status: str, due_at: datetime,
    reason: str, error: str | None = None, claim_token: uuid.UUID | None = None,
) -> bool:  # fmt: skip
    result = await conn.execute(
        """UPDATE notifications SET status = $3, due_at = $4, status_reason = $5, last_error = COALESCE($6, last_error),
               deferred_at = CASE WHEN $3 = 'deferred' THEN COALESCE(deferred_at, $2) ELSE deferred_at END,
               updated_at = $2
           WHERE notification_id = $1 AND ($7::uuid IS NULL OR claim_token = $7)""",
        notification_id, now, status, due_at, reason, error, claim_token,
    )  # fmt: skip
    return result.endswith(" 1")


async def finish(
    conn: asyncpg.Connection, notification_id: uuid.UUID, *, now: datetime, status: str, reason: str | None,
    error: str | None = None, provider_id: str | None = None, claim_token: uuid.UUID | None = None,
) -> asyncpg.Record | None:  # fmt: skip
    """Move a notification to a terminal status; None when another worker owns it now."""
    return await conn.fetchrow(
        """UPDATE notifications SET status = $3, status_reason = $4, last_error = COALESCE($5, last_error),
               provider_id = COALESCE($6, provider_id),
               sent_at = CASE WHEN $3 = 'sent' THEN $2 ELSE sent_at END,
               failed_at = CASE WHEN $3 = 'failed' THEN $2 ELSE failed_at END,
               claim_token = NULL, updated_at = $2
           WHERE notification_id = $1 AND ($7::uuid IS NULL OR claim_token = $7)
           RETURNING """ + FINISHED_COLUMNS,
        notification_id, now, status, reason, error, provider_id, claim_token,
    )  # fmt: skip


async def add_dead_letter(
    conn: asyncpg.Connection, notification_id: uuid.UUID, *, reason: str, detail: str | None, attempts: int,
    now: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO dead_letters(notification_id, reason, detail, attempts, dead_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (notification_id) DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail,
               attempts = EXCLUDED.attempts, dead_at = EXCLUDED.dead_at, replayed_at = NULL, replayed_by = NULL""",
        notification_id, reason, detail, attempts, now,
    )  # fmt: skip


NOTIFICATION_COLUMNS = """notification_id, resident_id, kind, status, status_reason, channel, language,
    rendered_subject, rendered_body, attempts, last_error, idempotency_key, session_id, enrolment_id,
    triggered_at, created_at, due_at, deferred_at, last_attempt_at, sent_at, failed_at, cancelled_at"""


async def notifications_of(
    conn: asyncpg.Connection, resident_id: str, limit: int, status: str | None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {NOTIFICATION_COLUMNS} FROM notifications
            WHERE resident_id = $1 AND ($3::text IS NULL OR status = $3)
            ORDER BY created_at DESC, notification_id LIMIT $2""",
        resident_id,
        limit,
        status,
    )


async def get_notification(conn: asyncpg.Connection, notification_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE notification_id = $1", notification_id
    )


async def dead_letters(conn: asyncpg.Connection, limit: int, include_replayed: bool) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT d.notification_id, d.reason, d.detail, d.attempts, d.dead_at, d.replayed_at, d.replayed_by,
                  n.resident_id, n.kind, n.channel, n.status
           FROM dead_letters d JOIN notifications n USING (notification_id)
           WHERE $2 OR d.replayed_at IS NULL ORDER BY d.dead_at DESC LIMIT $1""",
        limit,
        include_replayed,
    )


async def replay(
    conn: asyncpg.Connection, notification_id: uuid.UUID, *, now: datetime, contact_deadline: datetime, by: str
) -> str:
    """Put a dead-lettered notification back in the queue: 'replayed', 'unknown' or 'not_failed'."""
    row = await conn.fetchrow(
        """SELECT d.replayed_at, n.status FROM dead_letters d JOIN notifications n USING (notification_id)
           WHERE d.notification_id = $1 FOR UPDATE""",
        notification_id,
    )
    if row is None:
        return "unknown"
    if row["status"] != "failed" or row["replayed_at"] is not None:
        return "not_failed"
    await conn.execute(
        """UPDATE notifications SET status = 'queued', status_reason = 'replayed', attempts = 0, due_at = $2,
               contact_deadline = $3, failed_at = NULL, updated_at = $2 WHERE notification_id = $1""",
        notification_id,
        now,
        contact_deadline,
    )
    await conn.execute(
        "UPDATE dead_letters SET replayed_at = $2, replayed_by = $3 WHERE notification_id = $1",
        notification_id,
        now,
        by,
    )
    return "replayed"


async def queue_depth(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM notifications WHERE status = ANY($1::text[]) GROUP BY status", _PENDING
    )
    return {r["status"]: r["n"] for r in rows}


async def titles_of(conn: asyncpg.Connection, course_ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = await conn.fetch(
        # A course known only from its cancellation has no titles yet: the notice names it by its id.
        """SELECT course_id, title_zh, title_en FROM courses
           WHERE course_id = ANY($1::text[]) AND (title_zh, title_en) <> ('', '')""",
        course_ids,
    )
    return {r["course_id"]: (r["title_zh"], r["title_en"]) for r in rows}


async def session_starts(conn: asyncpg.Connection, session_ids: list[str]) -> dict[str, datetime]:
    rows = await conn.fetch(
        "SELECT session_id, starts_at FROM sessions WHERE session_id = ANY($1::text[]) AND starts_at IS NOT NULL",
        session_ids,
    )
    return {r["session_id"]: r["starts_at"] for r in rows}


async def session_venues(conn: asyncpg.Connection, session_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT session_id, venue_id FROM sessions WHERE session_id = ANY($1::text[]) AND venue_id IS NOT NULL",
        session_ids,
    )
    return {r["session_id"]: r["venue_id"] for r in rows}


async def venue_names(conn: asyncpg.Connection, venue_ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = await conn.fetch("SELECT venue_id, name_zh, name_en FROM venues WHERE venue_id = ANY($1::text[])", venue_ids)
    return {r["venue_id"]: (r["name_zh"], r["name_en"]) for r in rows}


# --- broadcasts -----------------------------------------------------------------------------

_AUDIENCE = """FROM residents r
     WHERE (cardinality($1::text[]) = 0 OR r.community_id = ANY($1))
       AND (cardinality($2::text[]) = 0 OR r.audience_group = ANY($2))
       AND (cardinality($3::text[]) = 0 OR EXISTS (
             SELECT 1 FROM enrolments e JOIN courses c ON c.course_id = e.course_id
              WHERE e.resident_id = r.resident_id AND c.theme = ANY($3)))"""


async def create_broadcast(
    conn: asyncpg.Connection,
    *,
    broadcast_id: uuid.UUID,
    category: str,
    kind: str,
    message_zh: str,
    message_en: str,
    audience: Audience,
    created_by: str,
    now: datetime,
    rate_per_s: float,
) -> asyncpg.Record:
    """Record the broadcast and queue one message per targeted resident with a contact, each due
    `model.broadcast_offset_s` after `now`, in resident order; a second call with the same id
    changes nothing and returns the first one's row."""
    if (existing := await conn.fetchrow("SELECT * FROM broadcasts WHERE broadcast_id = $1", broadcast_id)) is not None:
        return existing
    filters = (list(audience.community_ids), list(audience.audience_groups), list(audience.themes))
    counts = await conn.fetchrow(
        f"""SELECT count(*) AS targeted,
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM contacts k WHERE k.resident_id = r.resident_id))
                       AS without_contact
            {_AUDIENCE}""",
        *filters,
    )
    row = await conn.fetchrow(
        """INSERT INTO broadcasts (broadcast_id, category, kind, message_zh, message_en, audience, created_by,
                                   created_at, targeted, without_contact)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *""",
        broadcast_id, category, kind, message_zh, message_en,
        {"community_ids": filters[0], "audience_groups": filters[1], "themes": filters[2],
         "everyone": audience.everyone},
        created_by, now, counts["targeted"], counts["without_contact"],
    )  # fmt: skip
    await conn.execute(
        f"""INSERT INTO notifications (notification_id, idempotency_key, resident_id, kind, due_at, contact_deadline,
                                       triggered_at, params)
            SELECT gen_random_uuid(), t.resident_id || ':' || $4 || ':' || $5, t.resident_id, $4,
                   $6::timestamptz + make_interval(secs => t.position / $7::float8), $6, $6,
                   jsonb_build_object('broadcast_id', $5,
                                      'message', CASE WHEN coalesce(k.language, t.language) = 'en' THEN $9 ELSE $8 END)
              FROM (SELECT r.resident_id, r.language, row_number() OVER (ORDER BY r.resident_id) - 1 AS position
                      {_AUDIENCE}) t
              JOIN contacts k ON k.resident_id = t.resident_id
            ON CONFLICT (idempotency_key) DO NOTHING""",
        *filters, kind, str(broadcast_id), now, rate_per_s, message_zh, message_en,
    )  # fmt: skip
    return row


async def get_broadcast(conn: asyncpg.Connection, broadcast_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM broadcasts WHERE broadcast_id = $1", broadcast_id)


async def list_broadcasts(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM broadcasts ORDER BY created_at DESC LIMIT $1", limit)


async def broadcast_outcomes(conn: asyncpg.Connection, broadcast_id: uuid.UUID) -> list[asyncpg.Record]:
    """Its messages by status and reason, with the latest send (the report's progress)."""
    return await conn.fetch(
        """SELECT status, coalesce(status_reason, '') AS reason, count(*) AS messages, max(sent_at) AS last_sent_at
             FROM notifications
            WHERE kind IN ('announcement', 'promotion') AND params->>'broadcast_id' = $1
            GROUP BY 1, 2 ORDER BY 1, 2""",
        str(broadcast_id),
    )
