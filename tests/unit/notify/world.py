"""An in-memory notify for property tests: the rules of services/notify/domain/model.py applied
to dicts the way service_layer/handlers.py applies them to PostgreSQL (the catalogue read model,
notify's seats and notification rows), plus a delivery step that sends what is pending and due."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from services.notify.domain import model
from services.notify.domain.model import Plan, Seat, SessionState
from shared.events.catalogue import (
    CourseCancelled,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    HonourRevoked,
    ResidentContactChanged,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
)

KIND_OF = {
    EnrolmentConfirmed: "enrolment_confirmed",
    EnrolmentWaitlisted: "enrolment_waitlisted",
    EnrolmentPromoted: "enrolment_promoted",
    EnrolmentCancelled: "enrolment_cancelled",
}
STATUS_OF = {
    "enrolment_confirmed": "confirmed",
    "enrolment_waitlisted": "waitlisted",
    "enrolment_promoted": "confirmed",
    "enrolment_cancelled": "cancelled",
}


@dataclass
class Row:
    key: str
    resident_id: str
    kind: str
    status: str = "queued"
    enrolment_id: str | None = None
    session_id: str | None = None
    honour_id: str | None = None
    starts_at: datetime | None = None
    due_at: datetime | None = None
    reason: str | None = None


@dataclass
class CatalogueSession:
    course_id: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    venue_id: str | None = None
    scheduled: bool = False
    cancelled: bool = False


@dataclass
class World:
    now: datetime
    sessions: dict[str, CatalogueSession] = field(default_factory=dict)
    cancelled_courses: set[str] = field(default_factory=set)
    schedules: dict[str, int] = field(default_factory=dict)
    seats: dict[str, Seat] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    contacts: set[str] = field(default_factory=set)
    rows: dict[str, Row] = field(default_factory=dict)
    sent: list[Row] = field(default_factory=list)

    # --- reads, as handlers.py makes them ---------------------------------------------------------

    def session(self, session_id: str, course_id: str) -> SessionState | None:
        ref = self.sessions.get(session_id)
        course_cancelled = course_id in self.cancelled_courses
        if ref is None:
            return SessionState(course_cancelled=True) if course_cancelled else None
        return SessionState(
            starts_at=ref.starts_at, ends_at=ref.ends_at, venue_id=ref.venue_id, scheduled=ref.scheduled,
            cancelled=ref.cancelled, course_cancelled=course_cancelled, schedule=self.schedules.get(session_id, 0),
        )  # fmt: skip

    def active(self, *, session_id: str | None = None, course_id: str | None = None) -> list[Seat]:
        return sorted(
            (s for s in self.seats.values() if s.status in ("confirmed", "waitlisted")
             and session_id in (None, s.session_id) and course_id in (None, s.course_id)),
            key=lambda s: s.enrolment_id,
        )  # fmt: skip

    # --- applying a plan ---------------------------------------------------------------------------

    def apply_plan(self, plan: Plan, session_id: str | None = None, starts_at: datetime | None = None,
                   honour_id: str | None = None) -> None:  # fmt: skip
        for q in plan.queue:
            if q.key not in self.rows:
                self.rows[q.key] = Row(q.key, q.resident_id, q.kind, enrolment_id=q.enrolment_id,
                                       session_id=session_id, honour_id=honour_id, starts_at=starts_at,
                                       due_at=q.due_at)  # fmt: skip
        for d in plan.drop:
            for row in self.rows.values():
                if row.status != "queued" or row.kind not in d.kinds or row.key in plan.keys:
                    continue
                if d.enrolment_id is not None and row.enrolment_id != d.enrolment_id:
                    continue
                if d.session_id is not None and row.session_id != d.session_id:
                    continue
                if d.course_id is not None and not self._of_course(row, d.course_id):
                    continue
                if d.honour_id is not None and row.honour_id != d.honour_id:
                    continue
                if d.unless_starts_at is not None and row.starts_at == d.unless_starts_at:
                    continue
                row.status, row.reason = "cancelled", d.reason

    def _of_course(self, row: Row, course_id: str) -> bool:
        session = self.sessions.get(row.session_id or "")
        seat = self.seats.get(row.enrolment_id or "")
        return (session is not None and session.course_id == course_id) or (
            seat is not None and seat.course_id == course_id
        )

    # --- events -------------------------------------------------------------------------------------

    def apply(self, event) -> None:
        if isinstance(event, SessionScheduled):  # and SessionChanged
            before = self.session(event.session_id, event.course_id)
            known = self.sessions.get(event.session_id)
            self.sessions[event.session_id] = CatalogueSession(
                event.course_id, event.starts_at, event.ends_at, event.venue_id, True,
                (known is not None and known.cancelled) or event.course_id in self.cancelled_courses,
            )  # fmt: skip
            after = SessionState(starts_at=event.starts_at, ends_at=event.ends_at, venue_id=event.venue_id)
            seats = self.active(session_id=event.session_id)
            plan = model.plan_schedule(event.session_id, seats, before, after, isinstance(event, SessionChanged),
                                       self.now)  # fmt: skip
            if plan.schedule is not None:
                self.schedules[event.session_id] = plan.schedule
            self.apply_plan(plan, event.session_id, event.starts_at)
        elif isinstance(event, SessionCancelled):
            before = self.session(event.session_id, event.course_id)
            ref = self.sessions.setdefault(event.session_id, CatalogueSession(event.course_id, event.starts_at))
            ref.cancelled = True
            seats = self.active(session_id=event.session_id)
            plan = model.plan_session_cancelled(
                event.session_id, seats, before, event.course_id in self.cancelled_courses
            )
            self.apply_plan(plan, event.session_id, ref.starts_at)
        elif isinstance(event, CourseCancelled):
            self.cancelled_courses.add(event.course_id)
            for ref in self.sessions.values():
                if ref.course_id == event.course_id:
                    ref.cancelled = True
            self.apply_plan(model.plan_course_cancelled(event.course_id, self.active(course_id=event.course_id)))
        elif type(event) in KIND_OF:
            kind = KIND_OF[type(event)]
            seat = Seat(event.enrolment_id, event.resident_id, event.session_id, event.course_id, STATUS_OF[kind],
                        event.at)  # fmt: skip
            session = self.session(event.session_id, event.course_id)
            starts_at = (session.starts_at if session else None) or event.session_starts_at
            if (session is None or session.starts_at is None) and starts_at is not None:
                self.sessions.setdefault(
                    event.session_id,
                    CatalogueSession(event.course_id, starts_at, cancelled=event.course_id in self.cancelled_courses),
                )
                session = self.session(event.session_id, event.course_id)
            plan = model.plan_enrolment(kind, seat, self.seats.get(seat.enrolment_id), session or SessionState(),
                                        self.now)  # fmt: skip
            if plan.seat is not None:
                self.seats[seat.enrolment_id] = plan.seat
            self.apply_plan(plan, event.session_id, starts_at)
        elif isinstance(event, HonourAwarded):
            plan = model.plan_honour_awarded(event.honour_id, event.resident_ids, event.honour_id in self.revoked)
            self.apply_plan(plan, honour_id=event.honour_id)
        elif isinstance(event, HonourRevoked):
            self.revoked.add(event.honour_id)
            told = sorted(
                r.resident_id for r in self.rows.values()
                if r.kind == "honour_awarded" and r.honour_id == event.honour_id and r.status == "sent"
            )  # fmt: skip
            self.apply_plan(model.plan_honour_revoked(event.honour_id, told), honour_id=event.honour_id)
        elif isinstance(event, ResidentContactChanged):
            self.contacts.add(event.resident_id)
        else:
            raise TypeError(event)

    # --- the delivery worker ------------------------------------------------------------------------

    def deliver(self) -> None:
        """Send what is due now to residents with a contact, good news last (the worst order for a
        round: a round must never hold good news and its contradiction)."""
        due = [r for r in self.rows.values() if r.status == "queued" and r.due_at is None
               and r.resident_id in self.contacts]  # fmt: skip
        for row in sorted(due, key=lambda r: r.kind in model.SEAT_NOTICES):
            row.status = "sent"
            self.sent.append(replace(row))

    def said(self, resident_id: str) -> list[str]:
        return [r.kind for r in self.sent if r.resident_id == resident_id]

    def pending(self, resident_id: str) -> list[str]:
        return sorted(r.kind for r in self.rows.values() if r.resident_id == resident_id and r.status == "queued")
