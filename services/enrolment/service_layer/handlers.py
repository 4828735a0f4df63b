"""Use cases of the enrolment service: each runs in a unit of work, calls the model, commits.

Every state change publishes its events through the outbox in the same transaction."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.enrolment import metrics
from services.enrolment.adapters import repository
from services.enrolment.adapters.repository import LockedSession
from services.enrolment.domain import model
from services.enrolment.domain.consent import Notice
from services.enrolment.domain.model import EnrolmentRefused, Status
from services.enrolment.service_layer import consents
from shared.bus.decoding import DeadLetter, Incoming
from shared.catalogue import projection as catalogue
from shared.catalogue import repository as catalogue_repository
from shared.catalogue.model import CourseRef
from shared.db.erasure import ErasedCards
from shared.db.uow import UnitOfWork, UnitOfWorkFactory
from shared.events.catalogue import (
    CourseCancelled,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    ResidentCardAssigned,
    ResidentContactChanged,
    ResidentRegistered,
    ResidentUpdated,
    SessionCancelled,
    SessionScheduled,
)
from shared.events.envelope import envelop
from shared.http.errors import Conflict, DomainError, Invalid, NotFound
from shared.kiosk_cards import CardDigests

SOURCE = "learnstreet/enrolment"
UowFactory = Callable[[], UnitOfWork]


class Forbidden(DomainError):
    status_code = 403


def _now() -> datetime:
    return datetime.now(UTC)


def _enrolment_event(
    cls, session: LockedSession, enrolment_id: str, resident_id: str, at: datetime, event_id=None, **extra
):
    return envelop(
        cls(
            enrolment_id=enrolment_id,
            session_id=session.state.session_id,
            course_id=session.state.course_id,
            resident_id=resident_id,
            community_id=session.community_id,
            session_starts_at=session.state.starts_at if session.scheduled else None,
            at=at,
            **extra,
        ),
        source=SOURCE,
        event_id=event_id,
    )


# --- catalogue events ---------------------------------------------------------------------------


# The read model's own upserts need nothing more here (shared/catalogue/projection.py); these
# handlers update the read model first, then apply what the change means for enrolments.


async def on_course_cancelled(uow: UnitOfWork, event: CourseCancelled, meta: Incoming) -> None:
    await catalogue.on_course_cancelled(uow, event, meta)
    reason = f"course_cancelled: {event.reason}" if event.reason else "course_cancelled"
    for session in await repository.lock_sessions_of_course(uow.conn, event.course_id):
        await _cancel_session(uow, session, reason, trigger="course_cancelled")


async def on_session_scheduled(uow: UnitOfWork, event: SessionScheduled, meta: Incoming) -> None:
    """SessionScheduled and SessionChanged: store the schedule, then fill any freed seats."""
    if event.capacity < 0:
        raise DeadLetter("invalid_session", f"session {event.session_id}: capacity {event.capacity} is negative")
    if event.ends_at <= event.starts_at:
        raise DeadLetter("invalid_session", f"session {event.session_id}: ends_at is not after starts_at")
    before = await repository.lock_session(uow.conn, event.session_id)
    await catalogue.on_session_scheduled(uow, event, meta)
    session = await repository.lock_session(uow.conn, event.session_id)
    if session is None:  # pragma: no cover - the upsert above made it
        raise DeadLetter("invalid_session", f"session {event.session_id} could not be stored")
    if session.state.course_cancelled and not (before is not None and before.state.cancelled):
        # Scheduled after its course was cancelled (or the cancellation overtook it).
        await _cancel_session(uow, session, "course_cancelled", trigger="course_cancelled")
        return
    await _promote(uow, session, session.state, trigger="capacity_change")


async def on_session_cancelled(uow: UnitOfWork, event: SessionCancelled, meta: Incoming) -> None:
    await catalogue.on_session_cancelled(uow, event, meta)
    reason = f"session_cancelled: {event.reason}" if event.reason else "session_cancelled"
    session = await repository.lock_session(uow.conn, event.session_id)
    if session is None:  # pragma: no cover - the cancellation above made a placeholder
        raise DeadLetter("invalid_session", f"session {event.session_id} could not be stored")
    await _cancel_session(uow, session, reason, trigger="session_cancelled")


async def _cancel_session(uow: UnitOfWork, session: LockedSession, reason: str, *, trigger: str) -> None:
    now = _now()
    rows = await repository.cancel_all_of_session(uow.conn, session.state.session_id, reason)
    await repository.close_session(uow.conn, session.state.session_id, reason)
    for row in rows:
        uow.publish(
            _enrolment_event(
                EnrolmentCancelled, session, row["enrolment_id"], row["resident_id"], now,
                was_confirmed=row["was_confirmed"], reason=reason,
            )
        )  # fmt: skip
    if rows:
        metrics.CANCELLED_BY_CATALOGUE.labels(trigger).inc(len(rows))


async def _promote(
    uow: UnitOfWork, session: LockedSession, state: model.SessionState, *, trigger: str
) -> list[asyncpg.Record]:
    """Fill free seats from the waitlist (if the rules allow now) and store the counts."""
    now = _now()
    seats = model.seats_to_promote(state, now=now)
    promoted = await repository.promote_and_count(uow.conn, state.session_id, seats, state.confirmed, state.waitlisted)
    for row in promoted:
        uow.publish(_enrolment_event(EnrolmentPromoted, session, row["enrolment_id"], row["resident_id"], now))
    if promoted:
        metrics.PROMOTIONS.labels(trigger).inc(len(promoted))
    return promoted


# --- enrolment over HTTP ------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolResult:
    enrolment_id: str
    session_id: str
    resident_id: str
    status: str
    position: int | None
    seq: int
    created_at: datetime


_PLACE_ATTEMPTS = 5


async def enrol(uow_factory: UnitOfWorkFactory, session_id: str, resident_id: str) -> EnrolResult:
    """Two round trips on one connection: read without a lock and check the rules
    (`model.place`), then one atomic statement that writes the enrolment, the counts and the event
    under the session's lock (`place_enrolment`) if the rules' inputs are unchanged. No BEGIN,
    COMMIT or reset round trips: they were half of the enrolment's cost."""
    started = time.perf_counter()
    outcome = "error"
    try:
        async with uow_factory.pool.acquire() as conn:
            for _ in range(_PLACE_ATTEMPTS):
                ctx = await repository.read_for_enrolment(conn, session_id, resident_id)
                if ctx.session is None or not ctx.session.scheduled:
                    outcome = "unknown_session"
                    raise NotFound(
                        f"unknown session {session_id} (not yet scheduled) / 场次 {session_id} 不存在或尚未发布",
                        field="session_id",
                    )
                if not ctx.resident_known:
                    outcome = "unknown_resident"
                    raise NotFound(f"unknown resident {resident_id} / 居民 {resident_id} 未登记", field="resident_id")
                now = _now()
                try:
                    placement = model.place(
                        ctx.session.state, ctx.audience_group or "", already_enrolled=ctx.already_enrolled, now=now
                    )
                except EnrolmentRefused as refused:
                    outcome = refused.code
                    raise Conflict(refused.reason, field=refused.field) from None
                enrolment_id = f"e-{uuid.uuid4().hex}"
                # Seat or waitlist is settled under the lock; both events are ready, the statement
                # stores the one that applies (one event id: only one of them is ever written).
                event_id = uuid.uuid4()
                if_confirmed = _enrolment_event(
                    EnrolmentConfirmed, ctx.session, enrolment_id, resident_id, now, event_id=event_id
                )
                if_waitlisted = _enrolment_event(
                    EnrolmentWaitlisted, ctx.session, enrolment_id, resident_id, now,
                    position=placement.position or 1, event_id=event_id,
                )  # fmt: skip
                try:
                    row = await repository.place_enrolment(
                        conn, enrolment_id, ctx.session.state, resident_id, if_confirmed, if_waitlisted
                    )
                except asyncpg.UniqueViolationError:
                    outcome = "already_enrolled"
                    raise Conflict(
                        f"resident is already enrolled in session {session_id} / 已报名该场次，请勿重复报名",
                        field="resident_id",
                    ) from None
                if row is not None:
                    break
                metrics.ENROL_RETRIES.inc()  # the session changed between the read and the write
            else:
                outcome = "session_changing"
                raise Conflict(
                    f"session {session_id} is being changed; try again / 场次信息正在更新，请稍后重试",
                    field="session_id",
                )
        # The event went to the outbox with the enrolment, not through uow.publish: wake the relay.
        _wake_relay(uow_factory)
        outcome = row["status"]
        return EnrolResult(
            enrolment_id, session_id, resident_id, row["status"], row["position"], row["seq"], row["created_at"]
        )
    finally:
        metrics.REQUESTS.labels("enrol", outcome).inc()
        metrics.REQUEST_DURATION.labels("enrol").observe(time.perf_counter() - started)


def _wake_relay(uow_factory: UnitOfWorkFactory) -> None:
    if uow_factory.outbox_signal is not None:
        uow_factory.outbox_signal.set()


@dataclass(frozen=True)
class CancelResult:
    enrolment_id: str
    session_id: str
    resident_id: str
    was_status: str
    cancelled_at: datetime
    promoted: list[dict[str, Any]] = field(default_factory=list)


def _outcome(state: model.SessionState, cancelled_status: Status, now: datetime) -> repository.Outcome:
    after = model.after_cancellation(state, cancelled_status)
    return repository.Outcome(model.seats_to_promote(after, now=now), after.confirmed, after.waitlisted)


async def cancel(
    uow_factory: UnitOfWorkFactory,
    enrolment_id: str,
    *,
    only_resident: str | None,
    reason: str = "cancelled_by_request",
) -> CancelResult:
    """Cancel an enrolment and, in the same transaction, promote the head of the waitlist.
    `only_resident`: when set, the enrolment must be that resident's (403 otherwise).

    Fast path, two round trips: read without a lock, decide (`model`), then one atomic statement
    that applies the decision only if the session did not change meanwhile
    (`cancel_if_unchanged`). When it did (a busy session), the locked path decides again under
    the session's lock."""
    started = time.perf_counter()
    outcome = "error"
    try:
        async with uow_factory.pool.acquire() as conn:
            read = await repository.read_for_cancellation(conn, enrolment_id)
            if read is None:
                outcome = "unknown_enrolment"
                raise NotFound(f"unknown enrolment {enrolment_id} / 报名记录不存在", field="enrolment_id")
            if only_resident is not None and read.resident_id != only_resident:
                outcome = "forbidden"
                raise Forbidden("a resident may cancel only their own enrolments / 只能取消本人的报名")
            if read.status == Status.CANCELLED:  # final: a stale read cannot un-cancel it
                outcome = "already_cancelled"
                raise Conflict(f"enrolment {enrolment_id} is already cancelled / 该报名已取消", field="enrolment_id")
            now = _now()
            decided = _outcome(read.session.state, Status(read.status), now)
            session = read.session
            row = await repository.cancel_if_unchanged(
                conn, enrolment_id, read, decided, reason,
                _enrolment_event(
                    EnrolmentCancelled, session, enrolment_id, read.resident_id, now,
                    was_confirmed=read.status == Status.CONFIRMED, reason=reason,
                ),
                # A template: the statement fills in each promoted resident's enrolment.
                _enrolment_event(EnrolmentPromoted, session, "-", "-", now),
            )  # fmt: skip
        if row is not None and row["cancelled"] == 1:
            _wake_relay(uow_factory)
            result = CancelResult(
                enrolment_id=enrolment_id,
                session_id=session.state.session_id,
                resident_id=read.resident_id,
                was_status=read.status,
                cancelled_at=now,
                promoted=[
                    {"enrolment_id": e, "resident_id": r}
                    for e, r in zip(row["promoted_ids"], row["promoted_residents"], strict=True)
                ],
            )
        else:
            metrics.CANCEL_LOCKED_PATH.inc()
            result = await _cancel_locked(uow_factory, enrolment_id, reason)
        if result.promoted:
            metrics.PROMOTIONS.labels("cancellation").inc(len(result.promoted))
        outcome = "cancelled"
        return result
    except Conflict:
        outcome = "already_cancelled" if outcome == "error" else outcome
        raise
    finally:
        metrics.REQUESTS.labels("cancel", outcome).inc()
        metrics.REQUEST_DURATION.labels("cancel").observe(time.perf_counter() - started)


async def _cancel_locked(uow_factory: UnitOfWorkFactory, enrolment_id: str, reason: str) -> CancelResult:
    """The serialised path: BEGIN, lock the session (`lock_for_cancellation`), cancel + promote +
    counts (`cancel_and_promote`), the events, COMMIT. The owner was checked on the read before."""
    async with uow_factory() as uow:
        ctx = await repository.lock_for_cancellation(uow.conn, enrolment_id)
        if ctx is None:  # pragma: no cover - enrolments are never deleted
            raise NotFound(f"unknown enrolment {enrolment_id} / 报名记录不存在", field="enrolment_id")
        session = ctx.session
        now = _now()
        row = await repository.cancel_and_promote(
            uow.conn,
            enrolment_id,
            reason,
            if_confirmed=_outcome(session.state, Status.CONFIRMED, now),
            if_waitlisted=_outcome(session.state, Status.WAITLISTED, now),
        )
        if row["old_status"] is None:
            raise Conflict(f"enrolment {enrolment_id} is already cancelled / 该报名已取消", field="enrolment_id")
        cancelled_at = row["cancelled_at"]
        uow.publish(
            _enrolment_event(
                EnrolmentCancelled, session, enrolment_id, row["resident_id"], cancelled_at,
                was_confirmed=row["old_status"] == Status.CONFIRMED, reason=reason,
            )
        )  # fmt: skip
        promoted = list(zip(row["promoted_ids"], row["promoted_residents"], strict=True))
        for promoted_id, promoted_resident in promoted:
            uow.publish(_enrolment_event(EnrolmentPromoted, session, promoted_id, promoted_resident, now))
        await uow.commit()
    return CancelResult(
        enrolment_id=enrolment_id,
        session_id=session.state.session_id,
        resident_id=row["resident_id"],
        was_status=row["old_status"],
        cancelled_at=cancelled_at,
        promoted=[{"enrolment_id": e, "resident_id": r} for e, r in promoted],
    )


@dataclass(frozen=True)
class CancelledWaiting:
    session: LockedSession
    enrolment_id: str
    cancelled_at: datetime


async def cancel_waiting_of(uow: UnitOfWork, resident_id: str, reason: str) -> list[CancelledWaiting]:
    """Cancel every waitlisted enrolment of a resident in the caller's transaction (erasure: an
    erased resident must never be promoted), each under its session's lock, so the residents behind
    move up; a promotion this allows (free seats, none started) is published. The cancellations'
    events are the caller's: it knows the resident id they may carry."""
    rows = await uow.conn.fetch(
        "SELECT enrolment_id FROM enrolments WHERE resident_id = $1 AND status = 'waitlisted' ORDER BY enrolment_id",
        resident_id,
    )
    cancelled = []
    for (enrolment_id,) in rows:
        ctx = await repository.lock_for_cancellation(uow.conn, enrolment_id)
        session, now = ctx.session, _now()
        row = await repository.cancel_and_promote(
            uow.conn, enrolment_id, reason,
            if_confirmed=_outcome(session.state, Status.CONFIRMED, now),
            if_waitlisted=_outcome(session.state, Status.WAITLISTED, now),
        )  # fmt: skip
        if row["old_status"] != Status.WAITLISTED:  # pragma: no cover - the resident's row is locked
            continue
        cancelled.append(CancelledWaiting(session, enrolment_id, row["cancelled_at"]))
        for promoted_id, promoted_resident in zip(row["promoted_ids"], row["promoted_residents"], strict=True):
            uow.publish(_enrolment_event(EnrolmentPromoted, session, promoted_id, promoted_resident, now))
            metrics.PROMOTIONS.labels("cancellation").inc()
    return cancelled


def cancelled_waiting_event(cancelled: CancelledWaiting, resident_id: str):
    return _enrolment_event(
        EnrolmentCancelled, cancelled.session, cancelled.enrolment_id, resident_id, cancelled.cancelled_at,
        was_confirmed=False, reason=ERASED_REASON,
    )  # fmt: skip


ERASED_REASON = "resident_erased"


async def get_enrolment(uow_factory: UowFactory, enrolment_id: str) -> dict[str, Any]:
    async with uow_factory() as uow:
        row = await repository.get_enrolment(uow.conn, enrolment_id)
    if row is None:
        raise NotFound(f"unknown enrolment {enrolment_id} / 报名记录不存在", field="enrolment_id")
    return dict(row)


async def enrolments_of_resident(uow_factory: UowFactory, resident_id: str, limit: int = 500) -> list[dict]:
    async with uow_factory() as uow:
        if await repository.get_resident(uow.conn, resident_id) is None:
            raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
        rows = await repository.enrolments_of_resident(uow.conn, resident_id, limit)
    return [dict(r) for r in rows]


async def get_session(uow_factory: UowFactory, session_id: str) -> dict[str, Any]:
    async with uow_factory() as uow:
        row = await repository.session_summary(uow.conn, session_id)
    if row is None or not row["scheduled"]:
        raise NotFound(f"unknown session {session_id} (not yet scheduled) / 场次不存在或尚未发布", field="session_id")
    return dict(row)


async def upcoming_sessions(
    uow_factory: UowFactory, *, community_id: str | None, text: str | None, limit: int
) -> list[dict[str, Any]]:
    async with uow_factory() as uow:
        rows = await repository.upcoming_sessions(
            uow.conn, after=_now(), community_id=community_id, text=text, limit=limit
        )
    # A capacity lowered below the confirmed count leaves no seat, not a negative number of them.
    return [{**dict(r), "seats_left": max(0, r["capacity"] - r["confirmed"])} for r in rows]


# --- residents ----------------------------------------------------------------------------------


def _resident_events(resident: dict[str, Any], *, public: bool, contact: bool, new: bool) -> list:
    events = []
    if public:
        cls = ResidentRegistered if new else ResidentUpdated
        events.append(cls(**{k: resident[k] for k in ("resident_id", *model.PUBLIC_FIELDS)}))
    if contact:
        events.append(ResidentContactChanged(**{k: resident[k] for k in ("resident_id", *model.CONTACT_FIELDS)}))
    return events


async def _refuse_erased(
    uow: UnitOfWork, erased_cards: ErasedCards | None, resident_ids: list[str], *, field: str
) -> None:
    """An erased card registered again would never count: scoring and the passport refuse its
    attendance from the erasure on (they cannot tell the returning resident's scans from the erased
    one's still in flight). Refused, saying why, until resident keys give a returning resident a
    new key (docs/decisions/0010-erasure.md, step 2). `field` may name the list index as `{i}`."""
    if erased_cards is None:
        return
    erased = await erased_cards.among(uow.conn, resident_ids)
    if erased:
        i, card = next((i, r) for i, r in enumerate(resident_ids) if r in erased)
        raise Conflict(
            f"resident {card} was erased at their request and cannot be registered again under the same id yet"
            " / 该居民已按本人要求删除，暂不能以同一编号重新登记",
            field=field.format(i=i),
        )


def _publish_card(
    uow: UnitOfWork, resident_id: str, card: str, digests: CardDigests | None, correlation_id: str | None
) -> None:
    """The card's digest for activities' kiosk map (enrolment.resident-cards): never the card."""
    if digests is None:
        raise RuntimeError("a card to publish and no CardDigests wired (services/enrolment/bootstrap.py)")
    data = ResidentCardAssigned(resident_id=resident_id, card_digest=digests.of(card))
    uow.publish(envelop(data, source=SOURCE, correlation_id=correlation_id))


async def _erased_among(uow: UnitOfWork, erased_cards: ErasedCards | None, residents: list[dict[str, Any]]) -> set[str]:
    """The ids and cards of `residents` that were erased (see `_refuse_erased`)."""
    if erased_cards is None or not residents:
        return set()
    values = [r["resident_id"] for r in residents] + [r["card_number"] for r in residents if r.get("card_number")]
    return await erased_cards.among(uow.conn, values)


async def _inserted(uow: UnitOfWork, resident: dict[str, Any], *, field: str) -> bool:
    """`repository.insert_resident`, a card taken meanwhile by a concurrent registration a 409."""
    try:
        return await repository.insert_resident(uow.conn, resident)
    except repository.CardTaken:
        message = f"card {resident['card_number']} is registered to another resident / 该卡号已登记"
        raise Conflict(message, field=field) from None


async def _refuse_taken_cards(uow: UnitOfWork, residents: list[dict[str, Any]], *, field: str) -> None:
    """A card already held by another resident, as a card or as an id (a resident registered by
    card number), would make a kiosk scan ambiguous: refused, naming the card. A resident listed
    again unchanged (an import run twice) is no conflict: its own card is its own."""
    cards = [r.get("card_number") for r in residents]
    if not any(cards):
        return
    ids = [r["resident_id"] for r in residents]
    own = {
        (r["resident_id"], r["card_number"])
        for r in await uow.conn.fetch(
            "SELECT resident_id, card_number FROM residents WHERE resident_id = ANY($1::text[])", ids
        )
    }
    taken = await repository.cards_taken(uow.conn, ids, [c for c in cards if c])
    for i, (resident_id, card) in enumerate(zip(ids, cards, strict=True)):
        if not card or (resident_id, card) in own:
            continue
        if card in taken:
            raise Conflict(
                f"card {card} is registered to another resident / 该卡号已登记",
                field=field.format(i=i, name="card_number"),
            )
        if resident_id in taken:
            raise Conflict(
                f"resident id {resident_id} is another resident's card / 该编号是他人的卡号",
                field=field.format(i=i, name="resident_id"),
            )


async def register_resident(
    uow_factory: UowFactory,
    resident: dict[str, Any],
    *,
    notice: Notice,
    recorded_by: str,
    correlation_id: str | None = None,
    erased_cards: ErasedCards | None = None,
    card_digests: CardDigests | None = None,
) -> dict[str, Any]:
    """Register a resident; the purposes their form agreed to are recorded under the current notice."""
    agreed = consents.purposes_at_registration(resident)
    resident = {k: v for k, v in resident.items() if k != "consents"}
    async with uow_factory() as uow:
        await _refuse_erased(uow, erased_cards, [resident["resident_id"]], field="resident_id")
        if resident.get("card_number"):
            await _refuse_erased(uow, erased_cards, [resident["card_number"]], field="card_number")
        await _refuse_taken_cards(uow, [resident], field="{name}")
        if not await _inserted(uow, resident, field="card_number"):
            raise Conflict(f"resident {resident['resident_id']} exists already / 居民已登记", field="resident_id")
        if agreed:  # announced first: a service that knows the resident knows what they agreed to
            await consents.record_decisions(uow, notice, resident["resident_id"], agreed, recorded_by=recorded_by,
                                            correlation_id=correlation_id)  # fmt: skip
        for data in _resident_events(resident, public=True, contact=True, new=True):
            uow.publish(envelop(data, source=SOURCE, correlation_id=correlation_id))
        if resident.get("card_number"):
            _publish_card(uow, resident["resident_id"], resident["card_number"], card_digests, correlation_id)
        await uow.commit()
    metrics.RESIDENTS.labels("registered").inc()
    return resident


async def import_residents(
    uow_factory: UowFactory,
    residents: list[dict[str, Any]],
    *,
    notice: Notice,
    recorded_by: str,
    correlation_id: str | None = None,
    erased_cards: ErasedCards | None = None,
    card_digests: CardDigests | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Register many residents in one transaction (a street loading its registry). Residents
    already registered are left unchanged and reported, so an import can be run again; erased
    ones (by id or card) are not registered again, and reported."""
    registered, existing = [], []
    async with uow_factory() as uow:
        # A registry loaded again (a street's import rerun) lists erased residents again: skipped
        # and reported, like the existing ones, not a refusal of the whole import.
        gone = await _erased_among(uow, erased_cards, residents)
        residents = [r for r in residents if r["resident_id"] not in gone and r.get("card_number") not in gone]
        await _refuse_taken_cards(uow, residents, field="residents.{i}.{name}")
        for listed in residents:
            agreed = consents.purposes_at_registration(listed)
            resident = {k: v for k, v in listed.items() if k != "consents"}
            if not await _inserted(uow, resident, field="residents.card_number"):
                existing.append(resident["resident_id"])
                continue
            registered.append(resident["resident_id"])
            if agreed:  # announced first, as in register_resident
                await consents.record_decisions(uow, notice, resident["resident_id"], agreed,
                                                recorded_by=recorded_by, correlation_id=correlation_id)  # fmt: skip
            for data in _resident_events(resident, public=True, contact=True, new=True):
                uow.publish(envelop(data, source=SOURCE, correlation_id=correlation_id))
            if resident.get("card_number"):
                _publish_card(uow, resident["resident_id"], resident["card_number"], card_digests, correlation_id)
        await uow.commit()
    metrics.RESIDENTS.labels("registered").inc(len(registered))
    return registered, existing, sorted(gone)


async def resident_by_card(uow_factory: UowFactory, card_number: str) -> dict[str, Any]:
    async with uow_factory() as uow:
        resident_id = await repository.resident_by_card(uow.conn, card_number)
        resident = resident_id and await repository.get_resident(uow.conn, resident_id)
    if not resident:
        raise NotFound("no resident holds this card / 未找到持此卡的居民", field="card_number")
    return resident


async def get_resident(uow_factory: UowFactory, resident_id: str) -> dict[str, Any]:
    async with uow_factory() as uow:
        resident = await repository.get_resident(uow.conn, resident_id)
    if resident is None:
        raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
    return resident


async def update_resident(
    uow_factory: UowFactory,
    resident_id: str,
    changes: dict[str, Any],
    *,
    by_resident: bool,
    notice: Notice,
    recorded_by: str,
    consent_changes_per_hour: int,
    correlation_id: str | None = None,
    erased_cards: ErasedCards | None = None,
    card_digests: CardDigests | None = None,
) -> dict[str, Any]:
    if by_resident and (forbidden := model.forbidden_for_resident(changes)):
        raise Forbidden(
            f"a resident may not change {', '.join(forbidden)}; ask an operator / 该信息需由工作人员修改",
            field=forbidden[0],
        )
    async with uow_factory() as uow:
        current = await repository.get_resident(uow.conn, resident_id, lock=True)
        if current is None:
            raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
        effective = {k: v for k, v in changes.items() if current.get(k) != v}
        if effective:
            updated = {**current, **effective}
            if (blamed := model.channel_without_address(updated, effective)) is not None:
                raise Invalid(
                    f"with consent, the preferred channel {updated['preferred_channel']} needs its address"
                    " / 已同意接收通知，所选渠道须有联系方式",
                    field=blamed,
                )
            if effective.get("consent"):  # agreeing to notifications, under its purpose's limit
                await consents.check_agreement_rate(
                    uow.conn, resident_id, "notifications", consent_changes_per_hour, field="consent"
                )
            if effective.get("card_number"):
                await _refuse_erased(uow, erased_cards, [effective["card_number"]], field="card_number")
                await _refuse_taken_cards(uow, [updated], field="{name}")
            await repository.update_resident(uow.conn, resident_id, effective)
            public, contact = model.changed_topics(effective)
            for data in _resident_events(updated, public=public, contact=contact, new=False):
                uow.publish(envelop(data, source=SOURCE, correlation_id=correlation_id))
            if effective.get("card_number"):  # the new card replaces the old at the kiosks
                _publish_card(uow, resident_id, effective["card_number"], card_digests, correlation_id)
            if "consent" in effective:  # the notifications purpose of the privacy notice
                await consents.record_decisions(uow, notice, resident_id, {"notifications": effective["consent"]},
                                                recorded_by=recorded_by, correlation_id=correlation_id)  # fmt: skip
            await uow.commit()
            current = updated
    if effective:
        metrics.RESIDENTS.labels("updated").inc()
    return current


async def get_course(uow_factory: UowFactory, course_id: str) -> CourseRef:
    async with uow_factory() as uow:
        course = await catalogue_repository.get_course(uow.conn, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}", field="course_id")
    return course
