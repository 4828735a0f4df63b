"""Use cases of the scoring service: each runs in a unit of work, calls the model, commits."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime

from services.scoring.adapters import periods as period_store
from services.scoring.adapters import privacy, repository
from services.scoring.domain import rectification, selection
from services.scoring.domain.attendance import AttendanceFact, apply_batch
from services.scoring.domain.honours import HonourRules, competition_kind, honour_id
from services.scoring.domain.periods import PeriodRules
from services.scoring.domain.selection import Refused, SelectionRules
from services.scoring.domain.street import local_day, period_of
from shared.bus.decoding import Incoming
from shared.catalogue import repository as catalogue_repository
from shared.catalogue.model import CourseRef
from shared.db import erasure
from shared.db.uow import UnitOfWork
from shared.events import topics
from shared.events.catalogue import (
    AssessmentRecorded,
    AttendanceAdjusted,
    AttendanceRecorded,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourApproved,
    HonourAwarded,
    HonourNominated,
    HonourObjectionLodged,
    HonourObjectionResolved,
    HonourReviewed,
    HonourRevoked,
    NeedVoted,
    NeedVotedV1,
    RectificationTaskChanged,
    RectificationTaskOpened,
    ResidentErased,
    ResidentRegistered,
    SessionRated,
)
from shared.events.envelope import envelop, utcnow
from shared.http.errors import Conflict, Invalid, NotFound

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


async def on_need(uow: UnitOfWork, event: NeedVoted | NeedVotedV1, incoming: Incoming) -> None:
    await repository.insert_vote(uow.conn, event, incoming.time or utcnow())


async def on_session_rated(uow: UnitOfWork, event: SessionRated, incoming: Incoming) -> None:
    """Filed on the session's day, as attendance is: a replay files it where the live run did."""
    await repository.insert_rating(uow.conn, event, local_day(event.session_starts_at))


# --- attendance (hot path: one batch → one transaction, multi-row upserts) ------------------------


def attendance_fact(incoming: Incoming, periods: PeriodRules | None = None) -> AttendanceFact:
    """The fold's view of an attendance event; a recording counts on its session's day, or on the
    day it arrived when its session's period had closed by then (domain/periods.py)."""
    e = incoming.data
    at = incoming.time or utcnow()
    if isinstance(e, AttendanceRecorded):
        day = local_day(e.session_starts_at or e.scanned_at)
        if periods is not None:
            day = periods.counted_day(day, local_day(at))[0]
        return AttendanceFact(
            attendance_id=e.attendance_id, resident_id=e.resident_id, session_id=e.session_id, minutes=e.minutes,
            at=at, event_id=str(incoming.event_id), recorded=True, course_id=e.course_id,
            community_id=e.community_id, home_community_id=e.resident_community_id,
            audience_group=str(e.audience_group) if e.audience_group else None, day=day,
        )  # fmt: skip
    assert isinstance(e, AttendanceAdjusted)
    return AttendanceFact(
        attendance_id=e.attendance_id, resident_id=e.resident_id, session_id=e.session_id, minutes=e.minutes,
        at=at, event_id=str(incoming.event_id), recorded=False, community_id=e.community_id,
    )  # fmt: skip


async def apply_attendance(uow: UnitOfWork, events: list[Incoming], periods: PeriodRules | None = None) -> int:
    """Applies a batch of attendance events in the caller's transaction; returns how many counted."""
    facts = [attendance_fact(i, periods) for i in events]
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
    await period_store.save_late(conn, _late(events, states, changed))
    return len(changed)


def _late(events: list[Incoming], before: dict, changed: dict) -> list[tuple]:
    """Attendance this batch counted for the first time on a day other than its session's (late)."""
    rows = []
    for i in events:
        e = i.data
        if not isinstance(e, AttendanceRecorded):
            continue
        key = (e.session_id, e.resident_id)
        state, was = changed.get(key), before.get(key)
        session_day = local_day(e.session_starts_at or e.scanned_at)
        if state is None or not state.recorded or (was is not None and was.recorded) or state.day == session_day:
            continue
        rows.append((e.session_id, e.resident_id, session_day, state.day, state.community_id, state.home_community_id))
    return list({r[:2]: r for r in rows}.values())


# --- assessments, honours -------------------------------------------------------------------------


async def record_assessment(uow_factory: Callable[[], UnitOfWork], data: dict) -> dict:
    """A self- or expert assessment (`kind`, decided by domain/assessment.py `kind_for`); the two
    kinds are stored apart, so neither overwrites the other."""
    data = {**data, "assessment_id": data.get("assessment_id") or f"as-{uuid.uuid4().hex[:16]}"}
    async with uow_factory() as uow:
        row = await repository.insert_assessment(uow.conn, data)
        uow.publish(envelop(AssessmentRecorded(**{k: data[k] for k in AssessmentRecorded.model_fields}), source=SOURCE))
        await uow.commit()
    return row


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who takes a step of a selection: a signed-in subject in a role, or the service itself
    (`RULES` nominates, `NOTICE` awards at the end of a notice period)."""

    subject: str
    role: str


RULES = Actor("rules", "system")
NOTICE = Actor("notice", "system")


def honour_event(h: dict) -> HonourAwarded:
    return HonourAwarded(
        honour_id=str(h["honour_id"]), kind=h["kind"], period=h["period"], recipient_kind=h["recipient_kind"],
        recipient_id=h["recipient_id"], resident_ids=list(h["resident_ids"]), community_id=h["community_id"],
        reason=h["reason"], place=h.get("place"),
    )  # fmt: skip


def nomination_event(h: dict, actor: Actor, at: datetime) -> HonourNominated:
    return HonourNominated(
        honour_id=str(h["honour_id"]), kind=h["kind"], period=h["period"], recipient_kind=h["recipient_kind"],
        recipient_id=h["recipient_id"], resident_ids=list(h["resident_ids"]), community_id=h["community_id"],
        reason=h["reason"], place=h.get("place"), actor=actor.subject, actor_role=actor.role, at=at,
    )  # fmt: skip


def _step(h: dict, step: str, actor: Actor, at: datetime, **more) -> dict:
    return {"honour_id": h["honour_id"], "step": step, "acted_by": actor.subject, "actor_role": actor.role,
            "at": at, **more}  # fmt: skip


def _publish_new(uow: UnitOfWork, new: list[dict], actor: Actor, at: datetime) -> list[dict]:
    """The events and first steps of new honours: nominated, and awarded too when selection is automatic."""
    steps = []
    for h in new:
        uow.publish(envelop(nomination_event(h, actor, at), source=SOURCE))
        steps.append(_step(h, "nominated", actor, at, reason=h["reason"]))
        if h["state"] == selection.AWARDED:
            uow.publish(envelop(honour_event(h), source=SOURCE))
            steps.append(_step(h, "awarded", actor, at, detail={"selection": "automatic"}))
    return steps


async def evaluate_honours(
    uow_factory: Callable[[], UnitOfWork], rules: HonourRules, chosen: SelectionRules, now: datetime,
    periods: list[str] | None = None,
) -> int:  # fmt: skip
    """The rule pass: nominates every new candidate (awards it at once where selection is automatic)
    in each of `periods` (default: the one of `now`): last year's stays open until its close, so
    attendance that syncs in January still leads to last year's honours."""
    async with uow_factory() as uow:
        state = selection.initial_state(chosen.mode)
        new = []
        for period in periods or [period_of(now)]:
            new += await repository.award_rule_honours(uow.conn, period, rules, state=state, at=now)
        await repository.add_steps(uow.conn, _publish_new(uow, new, RULES, now))
        await uow.commit()
    return len(new)


async def record_competition(
    uow_factory: Callable[[], UnitOfWork], competition_id: str, period: str, results: list[dict],
    chosen: SelectionRules, actor: Actor, now: datetime,
) -> list[dict]:  # fmt: skip
    """Competition places become candidates `knowledge_competition:<competition>` with their rank; a
    result recorded twice is nominated once."""
    kind = competition_kind(competition_id)
    state = selection.initial_state(chosen.mode)
    out = []
    async with uow_factory() as uow:
        fresh = []
        for r in results:
            h = {
                "honour_id": honour_id(kind, period, r["resident_id"]), "kind": kind, "period": period,
                "recipient_kind": "resident", "recipient_id": r["resident_id"], "resident_ids": [r["resident_id"]],
                "community_id": r.get("community_id"), "reason": f"place {r['place']} in {competition_id}",
                "place": r["place"],
            }  # fmt: skip
            row = await repository.insert_honour(uow.conn, h, state=state, at=now)
            if row is not None:
                fresh.append(row)
                out.append({**row, "new": True})
            else:
                out.append({**h, "state": None, "new": False})
        await repository.add_steps(uow.conn, _publish_new(uow, fresh, actor, now))
        await uow.commit()
    return out


def _refused(e: Refused) -> Exception:
    return (Conflict if e.conflict else Invalid)(e.reason, field=e.field)


async def _locked(uow: UnitOfWork, honour: uuid.UUID) -> dict:
    h = await repository.honour_for_update(uow.conn, honour)
    if h is None:
        raise NotFound(f"no honour {honour}", field="honour_id")
    return h


class Forbidden(Exception):
    """The caller's scope does not cover this honour (the HTTP layer answers 403)."""


def _in_scope(h: dict, community_id: str | None) -> None:
    """A community worker acts on its own community's candidates only (`community_id` None: any)."""
    if community_id is not None and h["community_id"] != community_id:
        raise Forbidden(f"honour {h['honour_id']} is a candidate of community {h['community_id']}, not {community_id}")


async def review_candidate(
    uow_factory: Callable[[], UnitOfWork], honour: uuid.UUID, decision: str, reason: str | None, actor: Actor,
    now: datetime, *, scope: str | None,
) -> dict:  # fmt: skip
    """A community workstation's decision on one of its community's candidates."""
    async with uow_factory() as uow:
        h = await _locked(uow, honour)
        _in_scope(h, scope)
        try:
            state = selection.review(h["state"], decision, reason)
        except Refused as e:
            raise _refused(e) from None
        h = await repository.set_honour_state(uow.conn, honour, state)
        reviewed = HonourReviewed(
            honour_id=str(honour), level="community", decision=decision, reason=reason or "",
            community_id=h["community_id"], actor=actor.subject, actor_role=actor.role, at=now,
        )  # fmt: skip
        uow.publish(envelop(reviewed, source=SOURCE))
        await repository.add_steps(uow.conn, [_step(h, f"community_{decision}", actor, now, reason=reason)])
        await uow.commit()
    return h


async def street_decision(
    uow_factory: Callable[[], UnitOfWork], honour: uuid.UUID, decision: str, reason: str | None, actor: Actor,
    now: datetime, chosen: SelectionRules,
) -> dict:  # fmt: skip
    """The street's approval within the quota (starts the notice period), or its rejection."""
    async with uow_factory() as uow:
        h = await _locked(uow, honour)
        try:
            if decision == "rejected":
                h = await repository.set_honour_state(uow.conn, honour, selection.street_reject(h["state"], reason))
                uow.publish(envelop(HonourReviewed(
                    honour_id=str(honour), level="street", decision="rejected", reason=reason or "",
                    community_id=h["community_id"], actor=actor.subject, actor_role=actor.role, at=now),
                    source=SOURCE))  # fmt: skip
                await repository.add_steps(uow.conn, [_step(h, "street_rejected", actor, now, reason=reason)])
                await uow.commit()
                return h
            if decision != "approved":
                raise Refused(f"decision must be approved or rejected, not {decision!r}", field="decision",
                              conflict=False)  # fmt: skip
            quota = chosen.quota(h["kind"], h["community_id"])
            taken = await repository.places_taken(uow.conn, h["kind"], h["period"], h["community_id"])
            state, ends = selection.approve(
                h["state"], places_taken=taken, quota=quota, kind=h["kind"], community_id=h["community_id"],
                now=now, rules=chosen,
            )  # fmt: skip
        except Refused as e:
            raise _refused(e) from None
        h = await repository.set_honour_state(uow.conn, honour, state, notice_starts_at=now, notice_ends_at=ends)
        uow.publish(envelop(HonourApproved(
            honour_id=str(honour), kind=h["kind"], period=h["period"], community_id=h["community_id"], quota=quota,
            places_taken=taken + 1, notice_starts_at=now, notice_ends_at=ends, actor=actor.subject,
            actor_role=actor.role, at=now), source=SOURCE))  # fmt: skip
        detail = {"quota": quota, "places_taken": taken + 1, "notice_ends_at": ends.isoformat(), "reason": reason}
        await repository.add_steps(uow.conn, [_step(h, "street_approved", actor, now, detail=detail)])
        await uow.commit()
    return h


async def lodge_objection(
    uow_factory: Callable[[], UnitOfWork], honour: uuid.UUID, reason: str, actor: Actor, now: datetime
) -> dict:
    async with uow_factory() as uow:
        h = await _locked(uow, honour)
        try:
            selection.lodge_objection(h["state"], notice_ends_at=h["notice_ends_at"], now=now, reason=reason)
        except Refused as e:
            raise _refused(e) from None
        objection = {"objection_id": uuid.uuid4(), "honour_id": honour, "lodged_by": actor.subject,
                     "lodged_role": actor.role, "reason": reason, "lodged_at": now}  # fmt: skip
        await repository.insert_objection(uow.conn, objection)
        uow.publish(envelop(HonourObjectionLodged(
            honour_id=str(honour), objection_id=str(objection["objection_id"]), reason=reason, actor=actor.subject,
            actor_role=actor.role, at=now), source=SOURCE))  # fmt: skip
        await repository.add_steps(uow.conn, [_step(h, "objection_lodged", actor, now, reason=reason,
                                                    objection_id=objection["objection_id"])])  # fmt: skip
        await uow.commit()
    return objection


async def resolve_objection(
    uow_factory: Callable[[], UnitOfWork], honour: uuid.UUID, objection_id: uuid.UUID, outcome: str, reason: str,
    actor: Actor, now: datetime,
) -> dict:  # fmt: skip
    async with uow_factory() as uow:
        h = await _locked(uow, honour)
        o = await repository.objection_for_update(uow.conn, honour, objection_id)
        if o is None:
            raise NotFound(f"no objection {objection_id} to honour {honour}", field="objection_id")
        try:
            state = selection.resolve_objection(h["state"], objection_outcome=o["outcome"], outcome=outcome,
                                                reason=reason)  # fmt: skip
        except Refused as e:
            raise _refused(e) from None
        await repository.resolve_objection(uow.conn, objection_id, outcome, actor.subject, reason, now)
        if state != h["state"]:
            h = await repository.set_honour_state(uow.conn, honour, state)
        uow.publish(envelop(HonourObjectionResolved(
            honour_id=str(honour), objection_id=str(objection_id), outcome=outcome, reason=reason, honour_state=state,
            actor=actor.subject, actor_role=actor.role, at=now), source=SOURCE))  # fmt: skip
        await repository.add_steps(uow.conn, [_step(h, f"objection_{outcome}", actor, now, reason=reason,
                                                    objection_id=objection_id)])  # fmt: skip
        await uow.commit()
    return h


async def close_notices(uow_factory: Callable[[], UnitOfWork], now: datetime) -> int:
    """The index leader's periodic task: awards every candidate whose notice period has ended with no
    objection open (HonourAwarded, as notify and the index expect)."""
    async with uow_factory() as uow:
        due = await repository.notices_over(uow.conn, now)
        due = [h for h in due if selection.notice_over(h["state"], notice_ends_at=h["notice_ends_at"],
                                                       open_objections=0, now=now)]  # fmt: skip
        if not due:
            return 0
        awarded = await repository.award_all(uow.conn, [h["honour_id"] for h in due], now)
        for h in awarded:
            uow.publish(envelop(honour_event(h), source=SOURCE))
        await repository.add_steps(uow.conn, [_step(h, "awarded", NOTICE, now) for h in awarded])
        await uow.commit()
    return len(awarded)


async def revoke_honour(
    uow_factory: Callable[[], UnitOfWork], honour: uuid.UUID, reason: str, actor: Actor, now: datetime
) -> None:
    async with uow_factory() as uow:
        h = await _locked(uow, honour)
        try:
            state = selection.revoke(h["state"])
        except Refused as e:
            raise _refused(e) from None
        h = await repository.set_honour_state(uow.conn, honour, state, revoked_at=now, revoke_reason=reason)
        uow.publish(envelop(HonourRevoked(honour_id=str(honour), reason=reason), source=SOURCE))
        await repository.add_steps(uow.conn, [_step(h, "revoked", actor, now, reason=reason)])
        await uow.commit()


async def honour_record(uow_factory: Callable[[], UnitOfWork], honour: uuid.UUID) -> dict:
    async with uow_factory() as uow:
        h = await repository.get_honour(uow.conn, honour)
        if h is None:
            raise NotFound(f"no honour {honour}", field="honour_id")
        steps = await repository.steps_of(uow.conn, honour)
        objections = await repository.objections_of(uow.conn, honour)
    return {**h, "steps": steps, "objections": objections}


# --- rectification tasks (domain/rectification.py) -------------------------------------------------


def _task_refused(e: rectification.TaskRefused) -> Exception:
    return (Conflict if e.conflict else Invalid)(e.reason, field=e.field)


def _task_changed(t: dict, change: str, actor: Actor, at: datetime, **more) -> RectificationTaskChanged:
    return RectificationTaskChanged(
        task_id=str(t["task_id"]), community_id=t["community_id"], indicator_id=t["indicator_id"], change=change,
        status=t["status"], owner_kind=t["owner_kind"], owner=t["owner"], deadline=t["deadline"].isoformat(),
        actor=actor.subject, actor_role=actor.role, at=at, **more,
    )  # fmt: skip


def _task_step(t: dict, step: str, actor: Actor, at: datetime, **more) -> dict:
    return {"task_id": t["task_id"], "step": step, "actor": actor.subject, "actor_role": actor.role, "at": at,
            **more}  # fmt: skip


async def open_task(
    uow_factory: Callable[[], UnitOfWork], data: dict, item: dict, communities: set[str], actor: Actor, now: datetime
) -> dict:
    """An operator turns an item of a rectification list into a task (409 while its item has one in hand)."""
    try:
        rectification.check_owner(data["owner_kind"], data["owner"], communities, data["community_id"])
    except rectification.TaskRefused as e:
        raise _task_refused(e) from None
    async with uow_factory() as uow:
        t = {**data, "task_id": uuid.uuid4(), "item": item, "at": now}
        row = await repository.insert_task(uow.conn, t)
        if row is None:
            held = await repository.task_in_hand(uow.conn, data["community_id"], data["indicator_id"])
            raise Conflict(
                f"indicator {data['indicator_id']} of {data['community_id']} already has task "
                f"{held['task_id'] if held else '?'} ({held['status'] if held else '?'}): change that one",
                field="indicator_id",
            )
        uow.publish(envelop(RectificationTaskOpened(
            task_id=str(row["task_id"]), community_id=row["community_id"], indicator_id=row["indicator_id"],
            owner_kind=row["owner_kind"], owner=row["owner"], deadline=row["deadline"].isoformat(),
            status=row["status"], actor=actor.subject, actor_role=actor.role, at=now), source=SOURCE))  # fmt: skip
        detail = {"owner_kind": row["owner_kind"], "owner": row["owner"], "deadline": row["deadline"].isoformat()}
        await repository.add_task_step(uow.conn, _task_step(row, "opened", actor, now, detail=detail))
        await uow.commit()
    return row


async def _locked_task(uow: UnitOfWork, task_id: uuid.UUID) -> dict:
    t = await repository.task_for_update(uow.conn, task_id)
    if t is None:
        raise NotFound(f"no rectification task {task_id}", field="task_id")
    return t


async def change_task(
    uow_factory: Callable[[], UnitOfWork], task_id: uuid.UUID, change: dict, communities: set[str], actor: Actor,
    community_id: str | None, now: datetime,
) -> dict:  # fmt: skip
    """A status step (`status`, `reason`) and/or, by an operator, a new owner or deadline; each an event."""
    async with uow_factory() as uow:
        t = await _locked_task(uow, task_id)
        try:
            if {"owner", "owner_kind", "deadline"} & change.keys():
                if actor.role != "operator":
                    raise Forbidden("only an operator assigns a task or moves its deadline")
                rectification.reassignable(t["status"])
                assigned = {k: change.get(k, t[k]) for k in ("owner_kind", "owner", "deadline")}
                rectification.check_owner(assigned["owner_kind"], assigned["owner"], communities, t["community_id"])
                t = await repository.update_task(uow.conn, task_id, now, **assigned)
                uow.publish(envelop(_task_changed(t, "assigned", actor, now, reason=change.get("reason") or ""),
                                    source=SOURCE))  # fmt: skip
                detail = {**assigned, "deadline": assigned["deadline"].isoformat()}
                await repository.add_task_step(uow.conn, _task_step(t, "assigned", actor, now, detail=detail,
                                                                    reason=change.get("reason")))  # fmt: skip
            if change.get("status") is not None:
                previous = t["status"]
                is_owner = rectification.owns(t["owner_kind"], t["owner"], actor.role, community_id)
                status = rectification.move(previous, change["status"], role=actor.role, is_owner=is_owner,
                                            reason=change.get("reason"))  # fmt: skip
                t = await repository.update_task(uow.conn, task_id, now, status=status)
                uow.publish(envelop(_task_changed(t, "status", actor, now, previous_status=previous,
                                                  reason=change.get("reason") or ""), source=SOURCE))  # fmt: skip
                step = "reopened" if (previous, status) == (rectification.DONE, rectification.OPEN) else status
                await repository.add_task_step(uow.conn, _task_step(t, step, actor, now, reason=change.get("reason"),
                                                                    detail={"from": previous}))  # fmt: skip
        except rectification.TaskRefused as e:
            raise _task_refused(e) from None
        except rectification.NotPermitted as e:
            raise Forbidden(str(e)) from None
        await uow.commit()
    return t


def _may_comment(t: dict, actor: Actor, community_id: str | None) -> None:
    """Operators and assessors comment on any task, a community worker on its workstation's and its community's."""
    if actor.role in ("operator", "assessor"):
        return
    ours = t["community_id"] == community_id or rectification.owns(
        t["owner_kind"], t["owner"], actor.role, community_id
    )
    if community_id is not None and ours:
        return
    raise Forbidden(f"task {t['task_id']} is neither of community {community_id} nor owned by its workstation")


async def comment_task(
    uow_factory: Callable[[], UnitOfWork], task_id: uuid.UUID, body: str, actor: Actor, community_id: str | None,
    now: datetime,
) -> dict:  # fmt: skip
    async with uow_factory() as uow:
        t = await _locked_task(uow, task_id)
        _may_comment(t, actor, community_id)
        comment = {"comment_id": uuid.uuid4(), "task_id": task_id, "actor": actor.subject, "actor_role": actor.role,
                   "body": body, "at": now}  # fmt: skip
        await repository.insert_task_comment(uow.conn, comment)
        t = await repository.update_task(uow.conn, task_id, now)
        uow.publish(envelop(_task_changed(t, "commented", actor, now, comment=body), source=SOURCE))
        detail = {"comment_id": str(comment["comment_id"])}
        await repository.add_task_step(uow.conn, _task_step(t, "commented", actor, now, detail=detail))
        await uow.commit()
    return comment


async def task_record(uow_factory: Callable[[], UnitOfWork], task_id: uuid.UUID) -> dict:
    async with uow_factory() as uow:
        t = await repository.get_task(uow.conn, task_id)
        if t is None:
            raise NotFound(f"no rectification task {task_id}", field="task_id")
        steps = await repository.task_steps(uow.conn, task_id)
        comments = await repository.task_comments(uow.conn, task_id)
    return {**t, "steps": steps, "comments": comments}


async def get_course(uow_factory: Callable[[], UnitOfWork], course_id: str) -> CourseRef:
    async with uow_factory() as uow:
        course = await catalogue_repository.get_course(uow.conn, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}", field="course_id")
    return course


@dataclasses.dataclass(frozen=True)
class ScoringDeps:
    """What scoring's handlers find in `uow.deps` (bootstrap sets it; a rebuild's units of work
    have none, and its erasures go through ReplayedErasures). The attendance projector is given
    the same erased cards, in the rebuild too."""

    erased_cards: erasure.ErasedCards | None = None


class ReplayedErasures:
    """The rebuild's resident.erased: the residents are collected and erased on the shadow tables
    once the replay is done (services/scoring/cli.py), not as each event comes. The replay reads
    the topics in no order across them, so attendance the live projection applied before an erasure
    may be replayed after it, and would bring the card number back (the passport rebuild does the
    same). Nothing else of the live handler: the receipt, the late-attendance line and the
    completion event belong to the live erasure, which already happened."""

    def __init__(self) -> None:
        self.residents: set[str] = set()

    async def on_resident_erased(self, uow: UnitOfWork, event: ResidentErased, meta: Incoming) -> None:
        self.residents.add(event.resident_id)


async def on_resident_erased(uow: UnitOfWork, event: ResidentErased, meta: Incoming) -> None:
    """resident.erased: this service's rows about the resident go or take a pseudonym
    (adapters/privacy.py ERASURE); a receipt records the request as done here, the card's keyed
    hash keeps its late attendance out, and `erasure_completed` tells enrolment (same transaction)."""
    cards = getattr(uow.deps, "erased_cards", None)
    if await privacy.erase(uow.conn, event.resident_id, event.request_id, cards) is None:
        return
    await privacy.erase_checkpoint(uow.conn, event.resident_id)
    if cards is not None:
        # the batch's offsets are stored just before the commit: where attendance stood then
        uow.before_commit(
            lambda: privacy.remember_attendance_offsets(uow.conn, event.request_id, topics.ATTENDANCE.name)
        )
    done = await erasure.completion(uow.conn, "scoring", event.request_id, source=SOURCE,
                                    correlation_id=meta.correlation_id)  # fmt: skip
    uow.publish(done)
