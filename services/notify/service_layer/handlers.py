"""Use cases of the notify service.

Consuming an event only records what it implies (the catalogue read model, our view of
enrolments and the notification rows), in the consumer's transaction with the inbox; the delivery
worker sends, woken once the transaction has committed. Event handlers are plain functions
`handler(uow, event, meta)` listed in entrypoints/consumers.py; the clock and the contact wait
come from `uow.deps` (`Deps`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notify import metrics
from services.notify.adapters import privacy, repository
from services.notify.adapters.clock import Clock
from services.notify.adapters.repository import NewNotification
from services.notify.domain import model
from services.notify.domain.model import Contact
from shared.bus.decoding import Incoming
from shared.bus.tombstones import ContactRemoved
from shared.catalogue import projection as catalogue
from shared.catalogue import repository as catalogue_repository
from shared.catalogue.model import CourseRef
from shared.db import erasure
from shared.db.uow import UnitOfWork
from shared.events.catalogue import (
    AudienceGroup,
    CourseCancelled,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    HonourRevoked,
    ResidentContactChanged,
    ResidentErased,
    ResidentRegistered,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
    SignInCodeIssued,
)
from shared.http.errors import Conflict, Invalid, NotFound
from shared.reference import Reference


@dataclass(frozen=True)
class Deps:
    """What notify's event handlers find in `uow.deps` (set by bootstrap as `runtime.deps`)."""

    clock: Clock
    contact_wait: timedelta  # how long a message waits for a resident's contact before it fails
    wake_delivery: Callable[[], None]  # the delivery worker sends what is due without waiting for its poll
    catalogue_wait: timedelta = timedelta(0)  # how long a message waits for the names it shows


def _times(uow: UnitOfWork, meta: Incoming | None) -> tuple[datetime, datetime]:
    now = uow.deps.clock.now()
    triggered = meta.time if meta is not None and meta.time is not None else now
    return now, min(triggered, now)


async def _apply(
    uow: UnitOfWork, plan: model.Plan, meta: Incoming | None, *, session_id: str | None = None,
    session_starts_at: datetime | None = None, params: dict | None = None,
) -> None:  # fmt: skip
    """Apply a plan of the domain: its notices are queued first (by key), then the pending notices
    it drops are cancelled, never one it queued itself."""
    deps: Deps = uow.deps
    now, triggered = _times(uow, meta)
    items = []
    for q in plan.queue:
        due_at = q.due_at or now
        items.append(
            NewNotification(
                idempotency_key=q.key,
                resident_id=q.resident_id,
                kind=q.kind,
                due_at=due_at,
                # Waits for a contact and for names count from when the message is due (a reminder is due later).
                contact_deadline=max(due_at, now) + deps.contact_wait,
                catalogue_deadline=max(due_at, now) + deps.catalogue_wait,
                triggered_at=triggered if due_at <= now else due_at,
                session_id=session_id,
                enrolment_id=q.enrolment_id,
                session_starts_at=session_starts_at,
                params={**(params or {}), **q.params},
            )
        )
    if items and await repository.add_notifications(uow.conn, items):
        for item in items:
            metrics.CREATED.labels(item.kind).inc()
        uow.after_commit(deps.wake_delivery)
    keep = sorted(plan.keys)
    for drop in plan.drop:
        await repository.drop_pending(uow.conn, now, drop, keep)


async def _session(uow: UnitOfWork, session_id: str, course_id: str) -> model.SessionState | None:
    ref = await catalogue_repository.get_session(uow.conn, session_id)
    course_cancelled = await catalogue_repository.course_cancelled(uow.conn, course_id)
    if ref is None:
        return model.SessionState(course_cancelled=course_cancelled) if course_cancelled else None
    return model.SessionState(
        starts_at=ref.starts_at, ends_at=ref.ends_at, venue_id=ref.venue_id, scheduled=ref.scheduled,
        cancelled=ref.cancelled, course_cancelled=course_cancelled,
        schedule=await repository.schedule_of(uow.conn, session_id),
    )  # fmt: skip


# --- activities.catalogue: the shared read model first (shared/catalogue), then the notices ---------


async def on_catalogue_names(uow: UnitOfWork, event, meta: Incoming | None) -> None:
    """CourseCreated/Updated, VenueRegistered: messages waiting for a name may go now."""
    await catalogue.HANDLERS[type(event)](uow, event, meta)
    if await repository.wake_awaiting_catalogue(uow.conn, uow.deps.clock.now()):
        uow.after_commit(uow.deps.wake_delivery)


async def on_course_cancelled(uow: UnitOfWork, event: CourseCancelled, meta: Incoming | None) -> None:
    await catalogue.on_course_cancelled(uow, event, meta)
    seats = await repository.seats(uow.conn, course_id=event.course_id)
    plan = model.plan_course_cancelled(event.course_id, seats)
    await _apply(uow, plan, meta, params={"course_id": event.course_id, "reason": event.reason})


async def on_session_scheduled(uow: UnitOfWork, event: SessionScheduled, meta: Incoming | None) -> None:
    """SessionScheduled and SessionChanged: reminders follow the session; a move is told."""
    now = uow.deps.clock.now()
    before = await _session(uow, event.session_id, event.course_id)
    await catalogue.on_session_scheduled(uow, event, meta)
    after = model.SessionState(starts_at=event.starts_at, ends_at=event.ends_at, venue_id=event.venue_id)
    seats = await repository.seats(uow.conn, session_id=event.session_id)
    plan = model.plan_schedule(event.session_id, seats, before, after, isinstance(event, SessionChanged), now)
    if plan.schedule is not None and plan.schedule != (before.schedule if before else 0):
        await repository.set_schedule(uow.conn, event.session_id, plan.schedule)
    await _apply(
        uow, plan, meta, session_id=event.session_id, session_starts_at=event.starts_at,
        params={"course_id": event.course_id, "venue_id": event.venue_id},
    )  # fmt: skip
    if await repository.wake_awaiting_catalogue(uow.conn, now):
        uow.after_commit(uow.deps.wake_delivery)


async def on_session_cancelled(uow: UnitOfWork, event: SessionCancelled, meta: Incoming | None) -> None:
    before = await _session(uow, event.session_id, event.course_id)
    await catalogue.on_session_cancelled(uow, event, meta)
    course_cancelled = await catalogue_repository.course_cancelled(uow.conn, event.course_id)
    seats = await repository.seats(uow.conn, session_id=event.session_id)
    await repository.remember_cancel_reason(uow.conn, event.session_id, event.reason)
    plan = model.plan_session_cancelled(event.session_id, seats, before, course_cancelled)
    starts_at = (before.starts_at if before else None) or event.starts_at
    await _apply(
        uow, plan, meta, session_id=event.session_id, session_starts_at=starts_at,
        params={"course_id": event.course_id, "reason": event.reason},
    )  # fmt: skip


# --- enrolment.residents / enrolment.contacts -------------------------------------------------------


async def on_resident(uow: UnitOfWork, event: ResidentRegistered, meta: Incoming | None) -> None:
    await repository.upsert_resident(
        uow.conn, event.resident_id, event.language, event.community_id, str(event.audience_group)
    )


async def on_contact_changed(uow: UnitOfWork, event: ResidentContactChanged, meta: Incoming | None) -> None:
    now = uow.deps.clock.now()
    quiet_start = event.quiet_hours_start
    quiet_end = event.quiet_hours_end
    if quiet_start is not None and quiet_end is not None:
        try:
            model.parse_hhmm(quiet_start), model.parse_hhmm(quiet_end)
        except model.RuleViolated:
            quiet_start = quiet_end = None  # a bad window must not lose the contact: use the default
    else:
        quiet_start = quiet_end = None
    await repository.upsert_contact(
        uow.conn,
        Contact(
            resident_id=event.resident_id,
            phone=event.phone or None,
            email=event.email or None,
            language=event.language,
            preferred_channel=event.preferred_channel,
            consent=event.consent,
            opted_out_categories=tuple(event.opted_out_categories),
            quiet_hours_start=quiet_start,
            quiet_hours_end=quiet_end,
        ),
    )
    await repository.wake_awaiting_contact(uow.conn, event.resident_id, now)
    uow.after_commit(uow.deps.wake_delivery)  # messages that waited for this contact are due now


# --- enrolment.enrolments ---------------------------------------------------------------------------

_SEAT_STATUS = {
    "enrolment_confirmed": "confirmed",
    "enrolment_waitlisted": "waitlisted",
    "enrolment_promoted": "confirmed",
    "enrolment_cancelled": "cancelled",
}


async def _enrolment(uow: UnitOfWork, event, meta: Incoming | None, kind: str, params: dict | None = None) -> None:
    if event.resident_id.startswith(erasure.PREFIX):
        return  # an erased resident's waiting enrolment, cancelled by the erasure: nobody to tell
    now = uow.deps.clock.now()
    seat = model.Seat(
        event.enrolment_id, event.resident_id, event.session_id, event.course_id, _SEAT_STATUS[kind], event.at
    )
    known = await repository.get_seat(uow.conn, event.enrolment_id)
    session = await _session(uow, event.session_id, event.course_id)
    starts_at = (session.starts_at if session else None) or event.session_starts_at
    if (session is None or session.starts_at is None) and starts_at is not None:
        await catalogue_repository.remember_session_start(uow.conn, event.session_id, event.course_id, starts_at)
        session = await _session(uow, event.session_id, event.course_id)
    plan = model.plan_enrolment(kind, seat, known, session or model.SessionState(), now)
    if plan.seat is not None:
        await repository.upsert_enrolment(uow.conn, plan.seat)
    if any(q.kind in ("session_cancelled", "course_cancelled") for q in plan.queue):
        # told as the cancellation it came after: with that cancellation's reason
        params = {**(params or {}), "reason": await repository.cancel_reason(uow.conn, event.session_id,
                                                                              event.course_id)}  # fmt: skip
    await _apply(
        uow, plan, meta, session_id=event.session_id, session_starts_at=starts_at,
        params={"course_id": event.course_id, **(params or {})},
    )  # fmt: skip


async def on_enrolment_confirmed(uow: UnitOfWork, event: EnrolmentConfirmed, meta: Incoming | None) -> None:
    await _enrolment(uow, event, meta, "enrolment_confirmed")


async def on_enrolment_waitlisted(uow: UnitOfWork, event: EnrolmentWaitlisted, meta: Incoming | None) -> None:
    await _enrolment(uow, event, meta, "enrolment_waitlisted", {"position": event.position})


async def on_enrolment_promoted(uow: UnitOfWork, event: EnrolmentPromoted, meta: Incoming | None) -> None:
    await _enrolment(uow, event, meta, "enrolment_promoted")


async def on_enrolment_cancelled(uow: UnitOfWork, event: EnrolmentCancelled, meta: Incoming | None) -> None:
    await _enrolment(uow, event, meta, "enrolment_cancelled", {"reason": event.reason})


# --- scoring.honours --------------------------------------------------------------------------------


async def on_honour_awarded(uow: UnitOfWork, event: HonourAwarded, meta: Incoming | None) -> None:
    residents = list(event.resident_ids)
    if not residents and event.recipient_kind == "resident":
        residents = [event.recipient_id]
    revoked = await repository.honour_revoked(uow.conn, event.honour_id)
    plan = model.plan_honour_awarded(event.honour_id, residents, revoked)
    params = {"honour_id": event.honour_id, "honour_kind": event.kind, "period": event.period}
    await _apply(uow, plan, meta, params=params)


async def on_honour_revoked(uow: UnitOfWork, event: HonourRevoked, meta: Incoming | None) -> None:
    await repository.revoke_honour(uow.conn, event.honour_id, event.reason)
    told = await repository.told_of_honour(uow.conn, event.honour_id)
    # The revocation notice names the honour as the award did.
    award = await repository.award_params(uow.conn, event.honour_id)
    plan = model.plan_honour_revoked(event.honour_id, told)
    await _apply(uow, plan, meta, params={**award, "honour_id": event.honour_id, "reason": event.reason})


# --- enrolment.sign-in-codes -----------------------------------------------------------------------


async def on_sign_in_code(uow: UnitOfWork, event: SignInCodeIssued, meta: Incoming | None) -> None:
    """Queue the code's SMS at once; a code read after it expired (notify was down) is dropped."""
    deps: Deps = uow.deps
    now, triggered = _times(uow, meta)
    if event.expires_at <= now:
        return
    minutes = max(1, -(-int((event.expires_at - triggered).total_seconds()) // 60))
    item = NewNotification(
        idempotency_key=model.idempotency_key(event.resident_id, "sign_in_code", str(event.request_id)),
        resident_id=event.resident_id,
        kind="sign_in_code",
        due_at=now,
        # no use waiting for a contact longer than the code lives
        contact_deadline=event.expires_at,
        catalogue_deadline=now,
        triggered_at=triggered,
        params={"code": event.code, "expires_at": event.expires_at.isoformat(), "minutes": minutes},
    )
    if await repository.add_notifications(uow.conn, [item]):
        metrics.CREATED.labels(item.kind).inc()
        uow.after_commit(deps.wake_delivery)


# --- queries and operator commands -----------------------------------------------------------------


async def get_course(uow_factory: Callable[[], UnitOfWork], course_id: str) -> CourseRef:
    async with uow_factory() as uow:
        course = await catalogue_repository.get_course(uow.conn, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}", field="course_id")
    return course


async def list_notifications(uow_factory: Callable[[], UnitOfWork], resident_id: str, limit: int, status: str | None):
    async with uow_factory() as uow:
        return await repository.notifications_of(uow.conn, resident_id, limit, status)


async def get_notification(uow_factory: Callable[[], UnitOfWork], notification_id: uuid.UUID):
    async with uow_factory() as uow:
        row = await repository.get_notification(uow.conn, notification_id)
    if row is None:
        raise NotFound(f"no notification {notification_id}", field="notification_id")
    return row


async def list_dead_letters(uow_factory: Callable[[], UnitOfWork], limit: int, include_replayed: bool):
    async with uow_factory() as uow:
        return await repository.dead_letters(uow.conn, limit, include_replayed)


async def replay_dead_letter(
    uow_factory: Callable[[], UnitOfWork], notification_id: uuid.UUID, *, now: datetime, contact_wait_s: float, by: str
) -> None:
    async with uow_factory() as uow:
        outcome = await repository.replay(
            uow.conn, notification_id, now=now, contact_deadline=now + timedelta(seconds=contact_wait_s), by=by
        )
        if outcome == "unknown":
            raise NotFound(f"no dead letter for notification {notification_id}", field="notification_id")
        if outcome == "not_failed":
            raise Conflict(f"notification {notification_id} was replayed already and is not failed now")
        await uow.commit()


SOURCE = "learnstreet/notify"  # as delivery's


async def on_resident_erased(uow: UnitOfWork, event: ResidentErased, meta: Incoming) -> None:
    """resident.erased: this service's rows about the resident go or take a pseudonym
    (adapters/privacy.py ERASURE); a receipt records the request as done here, and
    `erasure_completed` tells enrolment (privacy.erasures, in this transaction)."""
    if await privacy.erase(uow.conn, event.resident_id, event.request_id) is not None:
        uow.publish(
            await erasure.completion(
                uow.conn, "notify", event.request_id, source=SOURCE, correlation_id=meta.correlation_id
            )
        )


async def on_contact_removed(uow: UnitOfWork, event: ContactRemoved, meta: Incoming) -> None:
    """A tombstone on enrolment.contacts: the resident has no contact data any more (erased), so
    nothing can be sent to them; messages already queued fail for want of a contact."""
    await uow.conn.execute("DELETE FROM contacts WHERE resident_id = $1", event.resident_id)


async def create_broadcast(
    uow_factory: Callable[[], UnitOfWork],
    *,
    broadcast_id: uuid.UUID,
    category: str,
    message_zh: str,
    message_en: str,
    audience: model.Audience,
    created_by: str,
    now: datetime,
    rate_per_s: float,
    reference: Reference,
):
    """Queue an operator's broadcast: one message per targeted resident, delivered like any other
    (consent, opt-out categories, quiet hours, retries), spread out at `rate_per_s`."""
    if category not in model.BROADCAST_KINDS:
        raise Invalid(f"unknown category {category!r}; one of {', '.join(model.BROADCAST_KINDS)}", field="category")
    try:
        audience.check(set(reference.communities), {g.value for g in AudienceGroup}, set(reference.themes))
        model.check_broadcast_texts(message_zh, message_en, f"【{reference.street.name_zh}】")
    except model.RuleViolated as error:
        raise Invalid(error.reason, field=error.field) from None
    async with uow_factory() as uow:
        row = await repository.create_broadcast(
            uow.conn, broadcast_id=broadcast_id, category=category, kind=model.BROADCAST_KINDS[category],
            message_zh=message_zh, message_en=message_en, audience=audience, created_by=created_by, now=now,
            rate_per_s=rate_per_s,
        )  # fmt: skip
        if row["category"] != category or row["message_zh"] != message_zh or row["message_en"] != message_en:
            raise Conflict(f"broadcast {broadcast_id} exists with other contents", field="broadcast_id")
        await uow.commit()
    return row


async def broadcast_report(uow_factory: Callable[[], UnitOfWork], broadcast_id: uuid.UUID) -> dict[str, Any]:
    """targeted, without contact, suppressed (by reason), sent, failed, pending: what happened to it."""
    async with uow_factory() as uow:
        row = await repository.get_broadcast(uow.conn, broadcast_id)
        if row is None:
            raise NotFound(f"no broadcast {broadcast_id}", field="broadcast_id")
        outcomes = await repository.broadcast_outcomes(uow.conn, broadcast_id)
    counts = {"queued": 0, "sent": 0, "failed": 0, "suppressed": 0, "cancelled": 0}
    suppressed: dict[str, int] = {}
    for o in outcomes:
        status = o["status"] if o["status"] not in model.PENDING_STATUSES else "queued"
        counts[status] = counts.get(status, 0) + o["messages"]
        if o["status"] == "suppressed":
            suppressed[o["reason"]] = suppressed.get(o["reason"], 0) + o["messages"]
    if row["without_contact"]:
        suppressed["no_contact"] = suppressed.get("no_contact", 0) + row["without_contact"]
    last_sent = max((o["last_sent_at"] for o in outcomes if o["last_sent_at"] is not None), default=None)
    return {
        **{k: row[k] for k in ("broadcast_id", "category", "kind", "message_zh", "message_en", "audience",
                               "created_by", "created_at", "targeted", "without_contact")},
        "pending": counts["queued"], "sent": counts["sent"], "failed": counts["failed"],
        "suppressed": counts["suppressed"] + row["without_contact"],
        "suppressed_by_reason": suppressed,
        "last_sent_at": last_sent,
    }  # fmt: skip


async def list_broadcasts(uow_factory: Callable[[], UnitOfWork], limit: int):
    async with uow_factory() as uow:
        return await repository.list_broadcasts(uow.conn, limit)
