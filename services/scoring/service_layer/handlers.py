"""Use cases of the scoring service: each runs in a unit of work, calls the model, commits."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime

from services.scoring.adapters import repository
from services.scoring.domain.attendance import AttendanceFact, apply_batch
from services.scoring.domain.honours import HonourRules, competition_kind, honour_id
from services.scoring.domain.street import local_day, period_of
from shared.bus.decoding import Incoming
from shared.catalogue import repository as catalogue_repository
from shared.catalogue.model import CourseRef
from shared.db.uow import UnitOfWork
from shared.events.catalogue import (
    AssessmentRecorded,
    AttendanceAdjusted,
    AttendanceRecorded,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    HonourRevoked,
    NeedVoted,
    ResidentRegistered,
)
from shared.events.envelope import envelop, utcnow
from shared.http.errors import Conflict, NotFound

SOURCE = "learnstreet/scoring"

# --- projections of other services' events (low-volume topics) ----------------------------------


async def on_resident(uow: UnitOfWork, event: ResidentRegistered, incoming: Incoming) -> None:
    await repository.upsert_resident(uow.conn, event)


_ENROLMENT_STATUS = {
    EnrolmentConfirmed: "confirmed",
    EnrolmentPromoted: "confirmed",
    EnrolmentWaitlisted: "waitlisted",
    EnrolmentCancelled: "cancelled",
}


async def on_enrolment(uow: UnitOfWork, event, incoming: Incoming) -> None:
    status = next(s for cls, s in _ENROLMENT_STATUS.items() if type(event) is cls)
    await repository.upsert_enrolment(uow.conn, event, status)


async def on_need(uow: UnitOfWork, event: NeedVoted, incoming: Incoming) -> None:
    await repository.insert_vote(uow.conn, event, incoming.time or utcnow())


# --- attendance (hot path: one batch → one transaction, multi-row upserts) ------------------------


def attendance_fact(incoming: Incoming) -> AttendanceFact:
    e = incoming.data
    at = incoming.time or utcnow()
    if isinstance(e, AttendanceRecorded):
        return AttendanceFact(
            attendance_id=e.attendance_id, resident_id=e.resident_id, session_id=e.session_id, minutes=e.minutes,
            at=at, event_id=str(incoming.event_id), recorded=True, course_id=e.course_id,
            community_id=e.community_id, home_community_id=e.resident_community_id,
            audience_group=str(e.audience_group) if e.audience_group else None,
            day=local_day(e.session_starts_at or e.scanned_at),
        )  # fmt: skip
    assert isinstance(e, AttendanceAdjusted)
    return AttendanceFact(
        attendance_id=e.attendance_id, resident_id=e.resident_id, session_id=e.session_id, minutes=e.minutes,
        at=at, event_id=str(incoming.event_id), recorded=False, community_id=e.community_id,
    )  # fmt: skip


async def apply_attendance(uow: UnitOfWork, events: list[Incoming]) -> int:
    """Applies a batch of attendance events in the caller's transaction; returns how many counted."""
    facts = [attendance_fact(i) for i in events]
    if not facts:
        return 0
    conn = uow.conn
    unknown = sorted({f.resident_id for f in facts if f.recorded and not (f.home_community_id and f.audience_group)})
    known = await repository.residents_for(conn, unknown) if unknown else {}
    if known:
        filled = []
        for f in facts:
            r = known.get(f.resident_id)
            if f.recorded and r:
                f = dataclasses.replace(
                    f, home_community_id=f.home_community_id or r[0], audience_group=f.audience_group or r[1]
                )
            filled.append(f)
        facts = filled
    states = await repository.attendance_states(conn, sorted({f.key for f in facts}))
    changed, agg = apply_batch(states, facts)
    await repository.save_attendance(conn, changed, agg)
    return len(changed)


# --- assessments, honours -------------------------------------------------------------------------


async def record_assessment(uow_factory: Callable[[], UnitOfWork], data: dict) -> dict:
    data = {**data, "assessment_id": data.get("assessment_id") or f"as-{uuid.uuid4().hex[:16]}"}
    async with uow_factory() as uow:
        row = await repository.insert_assessment(uow.conn, data)
        uow.publish(envelop(AssessmentRecorded(**{k: data[k] for k in AssessmentRecorded.model_fields}), source=SOURCE))
        await uow.commit()
    return row


def honour_event(h: dict) -> HonourAwarded:
    return HonourAwarded(
        honour_id=str(h["honour_id"]), kind=h["kind"], period=h["period"], recipient_kind=h["recipient_kind"],
        recipient_id=h["recipient_id"], resident_ids=list(h["resident_ids"]), community_id=h["community_id"],
        reason=h["reason"],
    )  # fmt: skip


async def evaluate_honours(uow_factory: Callable[[], UnitOfWork], rules: HonourRules, now: datetime) -> int:
    async with uow_factory() as uow:
        new = await repository.award_rule_honours(uow.conn, period_of(now), rules)
        for h in new:
            uow.publish(envelop(honour_event(h), source=SOURCE))
        await uow.commit()
    return len(new)


async def record_competition(
    uow_factory: Callable[[], UnitOfWork], competition_id: str, period: str, results: list[dict]
) -> list[dict]:
    """Competition places become honours `knowledge_competition:<competition>`; a result recorded
    twice is awarded once (409 for a resident already placed differently is the caller's business)."""
    kind = competition_kind(competition_id)
    out = []
    async with uow_factory() as uow:
        for r in results:
            h = {
                "honour_id": honour_id(kind, period, r["resident_id"]), "kind": kind, "period": period,
                "recipient_kind": "resident", "recipient_id": r["resident_id"], "resident_ids": [r["resident_id"]],
                "community_id": r.get("community_id"), "reason": f"place {r['place']} in {competition_id}",
            }  # fmt: skip
            row = await repository.award_honour(uow.conn, h)
            if row is not None:
                uow.publish(envelop(honour_event(row), source=SOURCE))
                out.append({**row, "new": True})
            else:
                out.append({**h, "new": False})
        await uow.commit()
    return out


async def revoke_honour(uow_factory: Callable[[], UnitOfWork], honour_id: uuid.UUID, reason: str) -> None:
    async with uow_factory() as uow:
        outcome = await repository.revoke_honour(uow.conn, honour_id, reason)
        if outcome == "missing":
            raise NotFound(f"no honour {honour_id}", field="honour_id")
        if outcome == "already":
            raise Conflict(f"honour {honour_id} is already revoked", field="honour_id")
        uow.publish(envelop(HonourRevoked(honour_id=str(honour_id), reason=reason), source=SOURCE))
        await uow.commit()


async def get_course(uow_factory: Callable[[], UnitOfWork], course_id: str) -> CourseRef:
    async with uow_factory() as uow:
        course = await catalogue_repository.get_course(uow.conn, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}", field="course_id")
    return course
