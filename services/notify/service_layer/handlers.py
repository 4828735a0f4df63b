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

from services.notify import metrics
from services.notify.adapters import repository
from services.notify.adapters.clock import Clock
from services.notify.adapters.repository import NewNotification
from services.notify.domain import model
from services.notify.domain.model import Contact
from shared.bus.decoding import Incoming
from shared.catalogue import projection as catalogue
from shared.catalogue import repository as catalogue_repository
from shared.catalogue.model import CourseRef
from shared.db.uow import UnitOfWork
from shared.events.catalogue import (
    CourseCancelled,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    ResidentContactChanged,
    ResidentRegistered,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
)
from shared.http.errors import Conflict, NotFound

REMINDER_KINDS = tuple(model.REMINDERS)
SESSION_NOTICES = ("session_changed", *REMINDER_KINDS)


@dataclass(frozen=True)
class Deps:
    """What notify's event handlers find in `uow.deps` (set by bootstrap as `runtime.deps`)."""

    clock: Clock
    contact_wait: timedelta  # how long a message waits for a resident's contact before it fails
    wake_delivery: Callable[[], None]  # the delivery worker sends what is due without waiting for its poll


def _new(
    deps: Deps, now: datetime, triggered_at: datetime, resident_id: str, kind: str, subject: str, **extra
) -> NewNotification:
    due_at = extra.pop("due_at", None) or now
    return NewNotification(
        idempotency_key=model.idempotency_key(resident_id, kind, subject),
        resident_id=resident_id,
        kind=kind,
        due_at=due_at,
        # Wait for a contact from the moment the message is due (a reminder is due later).
        contact_deadline=max(due_at, now) + deps.contact_wait,
        triggered_at=triggered_at if due_at <= now else due_at,
        **extra,
    )


async def _add(uow: UnitOfWork, items: list[NewNotification]) -> None:
    if await repository.add_notifications(uow.conn, items):
        for item in items:
            metrics.CREATED.labels(item.kind).inc()
        uow.after_commit(uow.deps.wake_delivery)


async def _add_for_each(
    uow: UnitOfWork, now: datetime, triggered_at: datetime, residents: list[str], kind: str, subject: str, **extra
) -> None:
    """The same notice, one per resident (each with its own idempotency key)."""
    await _add(uow, [_new(uow.deps, now, triggered_at, rid, kind, subject, **extra) for rid in residents])


def _times(uow: UnitOfWork, meta: Incoming | None) -> tuple[datetime, datetime]:
    now = uow.deps.clock.now()
    triggered = meta.time if meta is not None and meta.time is not None else now
    return now, min(triggered, now)


# --- activities.catalogue: the shared read model first (shared/catalogue), then the notices ---------


async def on_course_cancelled(uow: UnitOfWork, event: CourseCancelled, meta: Incoming | None) -> None:
    now, triggered = _times(uow, meta)
    await catalogue.on_course_cancelled(uow, event, meta)
    # One message per resident for the whole course, replacing per-session ones not yet sent.
    await repository.cancel_pending(
        uow.conn, now, "course_cancelled", kinds=(*SESSION_NOTICES, "session_cancelled"), course_id=event.course_id
    )
    residents = sorted({r["resident_id"] for r in await repository.enrolled(uow.conn, course_id=event.course_id)})
    params = {"course_id": event.course_id, "reason": event.reason}
    await _add_for_each(uow, now, triggered, residents, "course_cancelled", event.course_id, params=params)


async def on_session_scheduled(uow: UnitOfWork, event: SessionScheduled, meta: Incoming | None) -> None:
    """SessionScheduled and SessionChanged: reminders follow the session; a change is told."""
    now, triggered = _times(uow, meta)
    before = await catalogue_repository.get_session(uow.conn, event.session_id)
    await catalogue.on_session_scheduled(uow, event, meta)
    if before is not None and before.cancelled:
        return
    moved = before is None or (before.starts_at, before.ends_at, before.venue_id) != (
        event.starts_at,
        event.ends_at,
        event.venue_id,
    )
    enrolled = await repository.enrolled(uow.conn, session_id=event.session_id)
    items: list[NewNotification] = []
    if isinstance(event, SessionChanged) and moved:
        subject = model.change_subject(event.session_id, event.starts_at, event.ends_at, event.venue_id)
        key = None
        for r in enrolled:
            item = _new(
                uow.deps, now, triggered, r["resident_id"], "session_changed", subject,
                session_id=event.session_id, enrolment_id=r["enrolment_id"], session_starts_at=event.starts_at,
                params={"course_id": event.course_id, "venue_id": event.venue_id},
            )  # fmt: skip
            items.append(item)
            key = item.idempotency_key
        # An earlier change notice not sent yet is superseded by this one.
        await repository.cancel_pending(
            uow.conn, now, "superseded", kinds=("session_changed",), session_id=event.session_id, keep_key=key
        )
    # Reminders follow the session's time: drop those for another time, add the missing ones
    # (this also covers enrolments that arrived before their session).
    await repository.cancel_pending(
        uow.conn, now, "rescheduled", kinds=REMINDER_KINDS, session_id=event.session_id,
        unless_starts_at=event.starts_at,
    )  # fmt: skip
    for r in enrolled:
        if r["status"] == "confirmed":
            items += _reminders(uow.deps, now, r["resident_id"], r["enrolment_id"], event.session_id,
                                event.course_id, event.starts_at)  # fmt: skip
    await _add(uow, items)


async def on_session_cancelled(uow: UnitOfWork, event: SessionCancelled, meta: Incoming | None) -> None:
    now, triggered = _times(uow, meta)
    before = await catalogue_repository.get_session(uow.conn, event.session_id)
    await catalogue.on_session_cancelled(uow, event, meta)
    await repository.cancel_pending(
        uow.conn, now, "session_cancelled", kinds=SESSION_NOTICES, session_id=event.session_id
    )
    if (before is not None and before.cancelled) or await catalogue_repository.course_cancelled(
        uow.conn, event.course_id
    ):
        return  # residents were told (or are about to be told) already
    starts_at = (before.starts_at if before else None) or event.starts_at
    await _add(
        uow,
        [
            _new(
                uow.deps,
                now,
                triggered,
                r["resident_id"],
                "session_cancelled",
                event.session_id,
                session_id=event.session_id,
                enrolment_id=r["enrolment_id"],
                session_starts_at=starts_at,
                params={"course_id": event.course_id, "reason": event.reason},
            )
            for r in await repository.enrolled(uow.conn, session_id=event.session_id)
        ],
    )


def _reminders(
    deps: Deps, now: datetime, resident_id: str, enrolment_id: str, session_id: str, course_id: str,
    starts_at: datetime,
) -> list[NewNotification]:  # fmt: skip
    subject = model.reminder_subject(session_id, starts_at)
    return [
        _new(
            deps,
            now,
            due_at,
            resident_id,
            kind,
            subject,
            due_at=due_at,
            session_id=session_id,
            enrolment_id=enrolment_id,
            session_starts_at=starts_at,
            params={"course_id": course_id},
        )
        for kind, due_at in model.reminder_times(starts_at, now).items()
    ]


# --- enrolment.residents / enrolment.contacts -------------------------------------------------------


async def on_resident(uow: UnitOfWork, event: ResidentRegistered, meta: Incoming | None) -> None:
    await repository.upsert_resident_language(uow.conn, event.resident_id, event.language)


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


async def _enrolment(
    uow: UnitOfWork, event, meta: Incoming | None, status: str, kind: str, params: dict | None = None
) -> None:
    now, triggered = _times(uow, meta)
    await repository.upsert_enrolment(
        uow.conn, event.enrolment_id, event.session_id, event.course_id, event.resident_id, status
    )
    session = await catalogue_repository.get_session(uow.conn, event.session_id)
    starts_at = (session.starts_at if session else None) or event.session_starts_at
    if session is None and starts_at is not None:
        await catalogue_repository.remember_session_start(uow.conn, event.session_id, event.course_id, starts_at)
    items = [
        _new(
            uow.deps,
            now,
            triggered,
            event.resident_id,
            kind,
            event.enrolment_id,
            session_id=event.session_id,
            enrolment_id=event.enrolment_id,
            session_starts_at=starts_at,
            params={"course_id": event.course_id, **(params or {})},
        )
    ]
    if status == "confirmed" and starts_at is not None and not (session and session.cancelled):
        items += _reminders(
            uow.deps, now, event.resident_id, event.enrolment_id, event.session_id, event.course_id, starts_at
        )
    await _add(uow, items)


async def on_enrolment_confirmed(uow: UnitOfWork, event: EnrolmentConfirmed, meta: Incoming | None) -> None:
    await _enrolment(uow, event, meta, "confirmed", "enrolment_confirmed")


async def on_enrolment_waitlisted(uow: UnitOfWork, event: EnrolmentWaitlisted, meta: Incoming | None) -> None:
    await _enrolment(uow, event, meta, "waitlisted", "enrolment_waitlisted", {"position": event.position})


async def on_enrolment_promoted(uow: UnitOfWork, event: EnrolmentPromoted, meta: Incoming | None) -> None:
    await _enrolment(uow, event, meta, "confirmed", "enrolment_promoted")


async def on_enrolment_cancelled(uow: UnitOfWork, event: EnrolmentCancelled, meta: Incoming | None) -> None:
    now, triggered = _times(uow, meta)
    await repository.upsert_enrolment(
        uow.conn, event.enrolment_id, event.session_id, event.course_id, event.resident_id, "cancelled"
    )
    await repository.cancel_pending(
        uow.conn, now, "enrolment_cancelled", kinds=SESSION_NOTICES, enrolment_id=event.enrolment_id
    )
    session = await catalogue_repository.get_session(uow.conn, event.session_id)
    if (session and session.cancelled) or await catalogue_repository.course_cancelled(uow.conn, event.course_id):
        return  # the session/course cancellation notice says it already
    await _add(
        uow,
        [
            _new(
                uow.deps,
                now,
                triggered,
                event.resident_id,
                "enrolment_cancelled",
                event.enrolment_id,
                session_id=event.session_id,
                enrolment_id=event.enrolment_id,
                session_starts_at=(session.starts_at if session else None) or event.session_starts_at,
                params={"course_id": event.course_id, "reason": event.reason},
            )
        ],
    )


# --- scoring.honours --------------------------------------------------------------------------------


async def on_honour_awarded(uow: UnitOfWork, event: HonourAwarded, meta: Incoming | None) -> None:
    now, triggered = _times(uow, meta)
    residents = list(dict.fromkeys(event.resident_ids))
    if not residents and event.recipient_kind == "resident":
        residents = [event.recipient_id]
    params = {"honour_kind": event.kind, "period": event.period}
    await _add_for_each(uow, now, triggered, residents, "honour_awarded", event.honour_id, params=params)


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
