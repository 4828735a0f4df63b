"""Use cases of the activities service: each opens a unit of work, calls the model, commits, and
only then updates the in-memory caches the check-in path reads; and the handlers of enrolment's
events (listed in entrypoints/consumers.py), which find the `Context` in `uow.deps`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from services.activities.adapters import kiosk_trim, privacy, repository, venue_closing
from services.activities.adapters import surveys as survey_store
from services.activities.adapters.cache import Caches, CourseInfo, ResidentInfo
from services.activities.domain import model, surveys
from services.activities.domain.model import Course, RuleViolated, Session, Venue
from shared.bus.decoding import Incoming
from shared.bus.tombstones import CardRemoved
from shared.db import erasure
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev
from shared.events.envelope import envelop, utcnow
from shared.http.errors import Conflict, Invalid, NotFound
from shared.kiosk_cards import CardDigests
from shared.reference import Reference

SOURCE = "learnstreet/activities"
NEEDS_RATINGS_WINDOW = timedelta(days=365)  # low satisfaction ratings count in the needs ranking for a year


@dataclass
class Context:
    """What the use cases and event handlers share: the unit-of-work factory, the caches, the
    reference data (the runtime's `deps`)."""

    uow: Callable[[], UnitOfWork]
    caches: Caches
    reference: Reference
    # Set when something a parked check-in may have waited for arrived (a resident, a session).
    pending_signal: asyncio.Event = field(default_factory=asyncio.Event)
    # Set after an erasure commits: its resident's consumed scans are to leave kiosk.checkins.
    erasure_signal: asyncio.Event = field(default_factory=asyncio.Event)
    # Keyed hashes of erased cards: a later scan of one is refused with the card masked.
    erased_cards: erasure.ErasedCards | None = None
    # A kiosk card's keyed digest, as enrolment.resident-cards carries it (shared/kiosk_cards.py).
    card_digests: CardDigests | None = None


def _publish(uow: UnitOfWork, data, correlation_id: str | None) -> None:
    uow.publish(envelop(data, source=SOURCE, correlation_id=correlation_id))


def check_reference(ref: Reference, *, community_id: str | None = None, theme: str | None = None) -> None:
    if community_id is not None and community_id not in ref.communities:
        raise Invalid(f"unknown community {community_id!r}; see the street's communities.yaml", field="community_id")
    if theme is not None and theme not in ref.themes:
        raise Invalid(f"unknown theme {theme!r}; one of {', '.join(sorted(ref.themes))}", field="theme")


# --- venues and providers -------------------------------------------------------------------


async def save_venue(ctx: Context, venue: Venue, *, create: bool, correlation_id: str | None = None) -> Venue:
    check_reference(ctx.reference, community_id=venue.community_id)
    async with ctx.uow() as uow:
        if not create and await repository.get_venue(uow.conn, venue.venue_id, for_update=True) is None:
            raise NotFound(f"no venue {venue.venue_id}", field="venue_id")
        taken = await repository.kiosks_elsewhere(uow.conn, venue.venue_id, venue.kiosk_ids)
        if taken:
            kiosk, other = next(iter(taken.items()))
            raise Conflict(f"kiosk {kiosk} is installed at venue {other}", field="kiosk_ids")
        if not await repository.save_venue(uow.conn, venue, create=create):
            raise Conflict(f"venue {venue.venue_id} exists already", field="venue_id")
        _publish(
            uow,
            ev.VenueRegistered(
                venue_id=venue.venue_id,
                community_id=venue.community_id,
                name_zh=venue.name_zh,
                name_en=venue.name_en,
                venue_type=venue.venue_type,
                capacity=venue.capacity,
                kiosk_ids=venue.kiosk_ids,
            ),
            correlation_id,
        )
        await uow.commit()
    ctx.caches.set_kiosks(venue.venue_id, venue.kiosk_ids)
    return venue


async def get_venue(ctx: Context, venue_id: str) -> Venue:
    async with ctx.uow() as uow:
        venue = await repository.get_venue(uow.conn, venue_id)
    if venue is None:
        raise NotFound(f"no venue {venue_id}", field="venue_id")
    return venue


async def list_venues(ctx: Context, community_id: str | None) -> list[Venue]:
    async with ctx.uow() as uow:
        return await repository.list_venues(uow.conn, community_id)


async def add_provider(ctx: Context, provider_id: str, kind: str, name_zh: str, name_en: str) -> None:
    async with ctx.uow() as uow:
        if not await repository.add_provider(uow.conn, provider_id, kind, name_zh, name_en):
            raise Conflict(f"provider {provider_id} exists already", field="provider_id")
        await uow.commit()


async def get_provider(ctx: Context, provider_id: str) -> dict:
    async with ctx.uow() as uow:
        row = await repository.get_provider(uow.conn, provider_id)
    if row is None:
        raise NotFound(f"no provider {provider_id}", field="provider_id")
    return dict(row)


# --- courses --------------------------------------------------------------------------------


def _course_event(cls, course: Course):
    return cls(
        course_id=course.course_id,
        title_zh=course.title_zh,
        title_en=course.title_en,
        theme=course.theme,
        audiences=course.audiences,
        provider_id=course.provider_id,
        provider_kind=course.provider_kind,
        brand=course.brand,
        community_id=course.community_id,
    )


async def _resolve_provider(uow: UnitOfWork, course: Course) -> Course:
    if course.provider_id is None:
        return course
    provider = await repository.get_provider(uow.conn, course.provider_id)
    if provider is None:
        raise Invalid(f"no provider {course.provider_id}; register it first", field="provider_id")
    if course.provider_kind is not None and str(course.provider_kind) != provider["kind"]:
        raise Invalid(f"provider {course.provider_id} is a {provider['kind']}", field="provider_kind")
    return replace(course, provider_kind=ev.ProviderKind(provider["kind"]))


async def create_course(ctx: Context, course: Course, *, correlation_id: str | None = None) -> Course:
    check_reference(ctx.reference, community_id=course.community_id, theme=course.theme)
    async with ctx.uow() as uow:
        course = await _resolve_provider(uow, course)
        if not await repository.add_course(uow.conn, course):
            raise Conflict(f"course {course.course_id} exists already", field="course_id")
        _publish(uow, _course_event(ev.CourseCreated, course), correlation_id)
        await uow.commit()
    ctx.caches.courses[course.course_id] = CourseInfo(course.theme, course.provider_kind, False)
    return course


async def update_course(ctx: Context, course: Course, *, correlation_id: str | None = None) -> Course:
    check_reference(ctx.reference, community_id=course.community_id, theme=course.theme)
    async with ctx.uow() as uow:
        current = await repository.get_course(uow.conn, course.course_id, for_update=True)
        if current is None:
            raise NotFound(f"no course {course.course_id}", field="course_id")
        if current.cancelled:
            raise Conflict(f"course {course.course_id} is cancelled", field="course_id")
        course = await _resolve_provider(uow, course)
        await repository.update_course(uow.conn, course)
        _publish(uow, _course_event(ev.CourseUpdated, course), correlation_id)
        await uow.commit()
    ctx.caches.courses[course.course_id] = CourseInfo(course.theme, course.provider_kind, False)
    return course


async def cancel_course(ctx: Context, course_id: str, reason: str, *, correlation_id: str | None = None) -> Course:
    async with ctx.uow() as uow:
        course = await repository.get_course(uow.conn, course_id, for_update=True)
        if course is None:
            raise NotFound(f"no course {course_id}", field="course_id")
        if course.cancelled:
            raise Conflict(f"course {course_id} is cancelled already", field="course_id")
        await repository.cancel_course(uow.conn, course_id)
        cancelled = []
        for session in await repository.sessions_of_course(uow.conn, course_id):
            if session.cancelled:
                continue
            session = replace(session, cancelled=True)
            await repository.save_session(uow.conn, session, create=False)
            cancelled.append(session)
            _publish(
                uow,
                ev.SessionCancelled(
                    session_id=session.session_id, course_id=course_id, starts_at=session.starts_at, reason=reason
                ),
                correlation_id,
            )
        # Sessions first, then the course: consumers see every session go before the course.
        _publish(uow, ev.CourseCancelled(course_id=course_id, reason=reason), correlation_id)
        await uow.commit()
    for session in cancelled:
        ctx.caches.put_session(session)
    info = ctx.caches.courses.get(course_id)
    if info is not None:
        ctx.caches.courses[course_id] = replace(info, cancelled=True)
    course.cancelled = True
    return course


async def get_course(ctx: Context, course_id: str) -> Course:
    async with ctx.uow() as uow:
        course = await repository.get_course(uow.conn, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}", field="course_id")
    return course


# --- sessions -------------------------------------------------------------------------------


def _session_event(cls, s: Session):
    return cls(
        session_id=s.session_id,
        course_id=s.course_id,
        venue_id=s.venue_id,
        community_id=s.community_id,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        capacity=s.capacity,
        elderly_priority_until=s.elderly_priority_until,
    )


async def _venue_for(uow: UnitOfWork, venue_id: str) -> Venue:
    venue = await repository.get_venue(uow.conn, venue_id)
    if venue is None:
        raise Invalid(f"no venue {venue_id}; register it first", field="venue_id")
    return venue


async def schedule_session(ctx: Context, session: Session, *, correlation_id: str | None = None) -> Session:
    async with ctx.uow() as uow:
        course = await repository.get_course(uow.conn, session.course_id, for_update=True)
        if course is None:
            raise NotFound(f"no course {session.course_id}", field="course_id")
        if course.cancelled:
            raise Conflict(f"course {session.course_id} is cancelled", field="course_id")
        venue = await _venue_for(uow, session.venue_id)
        session = replace(session, community_id=venue.community_id)
        _check(model.check_session_fits_venue, session, venue)
        _check(model.check_venue_open_for, session, await venue_closing.closing_of(uow.conn, session.venue_id))
        if not await repository.save_session(uow.conn, session, create=True):
            raise Conflict(f"session {session.session_id} exists already", field="session_id")
        _publish(uow, _session_event(ev.SessionScheduled, session), correlation_id)
        await uow.commit()
    ctx.caches.put_session(session)
    ctx.pending_signal.set()
    return session


async def change_session(ctx: Context, session_id: str, changes: dict, *, correlation_id: str | None = None) -> Session:
    async with ctx.uow() as uow:
        current = await repository.get_session(uow.conn, session_id, for_update=True)
        if current is None:
            raise NotFound(f"no session {session_id}", field="session_id")
        if current.cancelled:
            raise Conflict(f"session {session_id} is cancelled", field="session_id")
        try:
            session = replace(current, **changes)
        except RuleViolated as e:
            raise Invalid(e.reason, field=e.field) from None
        venue = await _venue_for(uow, session.venue_id)
        session = replace(session, community_id=venue.community_id)
        _check(model.check_session_fits_venue, session, venue)
        _check(model.check_venue_open_for, session, await venue_closing.closing_of(uow.conn, session.venue_id))
        seats = await repository.confirmed_seats(uow.conn, session_id)
        if session.capacity < seats:
            raise Conflict(f"{seats} seats are confirmed; cancel enrolments before shrinking", field="capacity")
        await repository.save_session(uow.conn, session, create=False)
        _publish(uow, _session_event(ev.SessionChanged, session), correlation_id)
        await uow.commit()
    ctx.caches.put_session(session)
    ctx.pending_signal.set()
    return session


async def cancel_session(ctx: Context, session_id: str, reason: str, *, correlation_id: str | None = None) -> Session:
    async with ctx.uow() as uow:
        current = await repository.get_session(uow.conn, session_id, for_update=True)
        if current is None:
            raise NotFound(f"no session {session_id}", field="session_id")
        if current.cancelled:
            raise Conflict(f"session {session_id} is cancelled already", field="session_id")
        session = replace(current, cancelled=True)
        await repository.save_session(uow.conn, session, create=False)
        _publish(
            uow,
            ev.SessionCancelled(
                session_id=session_id, course_id=session.course_id, starts_at=session.starts_at, reason=reason
            ),
            correlation_id,
        )
        await uow.commit()
    ctx.caches.put_session(session)
    return session


async def get_session(ctx: Context, session_id: str) -> tuple[Session, int, int]:
    """The session with its confirmed seats and walk-ins recorded."""
    async with ctx.uow() as uow:
        session = await repository.get_session(uow.conn, session_id)
        if session is None:
            raise NotFound(f"no session {session_id}", field="session_id")
        seats = await repository.confirmed_seats(uow.conn, session_id)
        walk_ins = await repository.walk_ins(uow.conn, session_id)
    return session, seats, walk_ins


async def sessions_of_course(ctx: Context, course_id: str) -> list[Session]:
    await get_course(ctx, course_id)
    async with ctx.uow() as uow:
        return await repository.sessions_of_course(uow.conn, course_id)


def _check(rule, *args) -> None:
    try:
        rule(*args)
    except RuleViolated as e:
        raise Invalid(e.reason, field=e.field) from None


# --- needs ----------------------------------------------------------------------------------


async def vote(
    ctx: Context, resident_id: str, community_id: str | None, theme: str, topic_text: str, correlation_id=None
) -> dict:
    known = ctx.caches.residents.get(resident_id)
    if community_id is None:
        if known is None:
            raise Invalid(
                "say which community you vote for (your registration has not reached us yet)", field="community_id"
            )
        community_id = known.community_id
    check_reference(ctx.reference, community_id=community_id, theme=theme)
    if known is not None and known.community_id != community_id:
        raise Invalid(f"residents vote in their own community ({known.community_id})", field="community_id")
    vote_id = model.new_vote_id()
    async with ctx.uow() as uow:
        voted_at = await repository.add_vote(uow.conn, vote_id, resident_id, community_id, theme, topic_text)
        if voted_at is None:
            raise Conflict(f"you voted for {theme} in {community_id} already", field="theme")
        _publish(
            uow,
            ev.NeedVoted(vote_id=vote_id, community_id=community_id, theme=theme),
            correlation_id,
        )
        await uow.commit()
    return {
        "vote_id": vote_id,
        "resident_id": resident_id,
        "community_id": community_id,
        "theme": theme,
        "topic_text": topic_text,
        "voted_at": voted_at,
    }


async def votes_of(ctx: Context, resident_id: str) -> list[dict]:
    async with ctx.uow() as uow:
        return [dict(r) for r in await repository.votes_of(uow.conn, resident_id)]


async def ranking(ctx: Context, community_id: str) -> list[model.NeedCount]:
    """Votes plus low satisfaction ratings of the last year (domain/surveys.py LOW_SCORE_AT_MOST):
    a resident who attended a theme's course and was not served by it still needs it."""
    check_reference(ctx.reference, community_id=community_id)
    since = utcnow() - NEEDS_RATINGS_WINDOW
    async with ctx.uow() as uow:
        counts = await repository.vote_counts(uow.conn, community_id)
        courses = await repository.open_courses_by_theme(uow.conn, community_id)
        low = await survey_store.low_ratings_by_theme(uow.conn, community_id, surveys.LOW_SCORE_AT_MOST, since)
    return model.rank_needs(counts, courses, low)


# --- events from enrolment ------------------------------------------------------------------
#
# Residents and seats arrive in bursts (a registration drive, a course opening): each handler
# only collects its event into the unit of work's `_Arrivals` (kept in `uow.collected`), which
# writes the whole batch in one multi-row upsert just before the commit (`uow.before_commit`) and
# tells the caches after it (`uow.after_commit`). Plain table handlers rather than a batch
# projector: the dispatcher's inbox dedup applies to them unchanged, and the batch rules stay one
# line each.

_SEAT_STATES = {
    ev.EnrolmentConfirmed.type_name: "confirmed",
    ev.EnrolmentPromoted.type_name: "confirmed",
    ev.EnrolmentCancelled.type_name: "cancelled",
}


@dataclass
class _Arrivals:
    """What one unit of work's handlers collected: the latest of each resident, and each seat's
    state as (enrolment_id, session_id, resident_id, state)."""

    residents: dict[str, ResidentInfo] = field(default_factory=dict)
    seats: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)

    async def write(self, uow: UnitOfWork) -> None:
        ctx: Context = uow.deps
        residents, seats = self.residents, self.seats
        if residents:
            rows = [(rid, i.community_id, str(i.audience_group), i.volunteer) for rid, i in residents.items()]
            await repository.upsert_residents(uow.conn, rows)
            uow.after_commit(lambda: _learn_residents(ctx, residents))
        if seats:
            await repository.upsert_seats(uow.conn, list(seats.values()))
            enrolled = await repository.enrolled_residents(uow.conn, sorted({r[1] for r in seats.values()}))
            uow.after_commit(lambda: ctx.caches.enrolled.update(enrolled))


def _arrivals(uow: UnitOfWork) -> _Arrivals:
    arrivals = uow.collected.get(__name__)
    if arrivals is None:
        arrivals = uow.collected[__name__] = _Arrivals()
        uow.before_commit(lambda: arrivals.write(uow))
    return arrivals


def _learn_residents(ctx: Context, residents: dict[str, ResidentInfo]) -> None:
    ctx.caches.residents.update(residents)
    ctx.pending_signal.set()  # parked check-ins may have waited for one of them


async def on_resident(uow: UnitOfWork, event: ev.ResidentRegistered, meta: Incoming) -> None:
    """resident.registered and resident.updated: the latest of a batch wins."""
    info = ResidentInfo(event.community_id, event.audience_group, event.volunteer)
    _arrivals(uow).residents[event.resident_id] = info


async def on_card(uow: UnitOfWork, event: ev.ResidentCardAssigned, meta: Incoming) -> None:
    """resident.card_assigned: scans of the card are the resident's from now on."""
    await repository.assign_card(uow.conn, event.resident_id, event.card_digest)
    uow.deps.pending_signal.set()  # scans of the card may be parked


async def on_card_removed(uow: UnitOfWork, event: CardRemoved, meta: Incoming) -> None:
    """A tombstone on enrolment.resident-cards: nothing to do here. Enrolment writes one on an erasure
    (so that Kafka's copy of the card goes at the next compaction) together with `resident.erased`,
    whose handler takes the card out of the map and remembers it as erased; taken out here first
    (the two topics have no order between them), the card would be forgotten, not remembered, and
    its later scans parked under it. The rolls' tombstones name no resident."""


async def on_resident_consents(uow: UnitOfWork, event: ev.ResidentConsentsChanged, meta: Incoming) -> None:
    """resident.consents_changed: the purposes the resident agrees to now (surveys: answers, ratings)."""
    await survey_store.set_consents(uow.conn, event.resident_id, list(event.purposes), event.notice_version)


async def on_enrolment(uow: UnitOfWork, event: ev.EnrolmentConfirmed, meta: Incoming) -> None:
    """Confirmed, promoted or cancelled: the seat's state (walk-in seats, enrolled-first choice)."""
    seats = _arrivals(uow).seats
    previous = seats.get(event.enrolment_id)
    if previous is not None and previous[3] == "cancelled":
        return  # cancelled is terminal, also within one batch
    seats[event.enrolment_id] = (event.enrolment_id, event.session_id, event.resident_id, _SEAT_STATES[meta.type_name])


# --- check-in read side ---------------------------------------------------------------------


async def get_checkin(ctx: Context, checkin_id) -> dict:
    async with ctx.uow() as uow:
        row = await repository.get_checkin(uow.conn, checkin_id)
    if row is None:
        raise NotFound(f"no check-in {checkin_id} (yet)", field="checkin_id")
    return dict(row)


async def get_attendance(ctx: Context, resident_id: str, session_id: str) -> dict:
    async with ctx.uow() as uow:
        row = await repository.get_attendance(uow.conn, resident_id, session_id)
    if row is None:
        raise NotFound(f"no attendance of {resident_id} at {session_id}", field="session_id")
    return dict(row)


async def on_resident_erased(uow: UnitOfWork, event: ev.ResidentErased, meta: Incoming) -> None:
    """resident.erased: this service's rows about the resident go or take a pseudonym
    (adapters/privacy.py ERASURE); a receipt records the request as done here."""
    # A registration earlier in this batch would be written back at commit: drop it first.
    arrivals = _arrivals(uow)
    arrivals.residents.pop(event.resident_id, None)
    cards = getattr(uow.deps, "erased_cards", None)
    digest = await repository.remove_card(uow.conn, event.resident_id)  # the tombstone may come later
    if digest is not None and cards is not None:
        await cards.remember(uow.conn, digest, event.request_id)  # its later scans: refused, masked
    if await privacy.erase(uow.conn, event.resident_id, event.request_id, cards) is not None:
        # enrolment gathers each service's completion (privacy.erasures), in this transaction
        uow.publish(
            await erasure.completion(
                uow.conn, "activities", event.request_id, source=SOURCE, correlation_id=meta.correlation_id
            )
        )
        await kiosk_trim.request(uow.conn, event.request_id)
        uow.after_commit(uow.deps.erasure_signal.set)
    caches = uow.deps.caches
    uow.after_commit(lambda: caches.residents.pop(event.resident_id, None))
