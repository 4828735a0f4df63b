"""The activities service's HTTP API: operators manage venues, providers, courses and sessions;
residents vote for learning needs; kiosks that cannot speak Kafka post check-ins."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.activities.adapters import privacy
from services.activities.domain import signing
from services.activities.domain.model import STREET_TZ, Course, RuleViolated, Session, Venue
from services.activities.entrypoints.kiosk_keys_http import http_record
from services.activities.service_layer import handlers, kiosk_signing, venues
from shared.bus.decoding import DeadLetter
from shared.events import topics
from shared.events.catalogue import AudienceGroup, KioskCheckin, ProviderKind, VenueType
from shared.http import audit
from shared.http.audit import Audited
from shared.http.auth import (
    AnyUser,
    CommunityReader,
    CommunityStaff,
    Kiosk,
    Operator,
    Principal,
    Reader,
    ResidentOnly,
    ResidentOrOperator,
    SiteStaff,
)
from shared.http.errors import Invalid, NotFound
from shared.kiosk_signing import KEY_ID_HEADER, SIGNATURE_HEADER

router = APIRouter(prefix="/v1")

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


def _ctx(request: Request) -> handlers.Context:
    return request.app.state.activities


def _cid(request: Request) -> str | None:
    return request.headers.get("x-correlation-id")


def _build(cls, **data):
    try:
        return cls(**data)
    except RuleViolated as e:
        raise Invalid(e.reason, field=e.field) from None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, str_max_length=500)


# --- reference ------------------------------------------------------------------------------


@router.get("/reference", tags=["reference"])
async def reference(request: Request) -> dict:
    """The street's communities and learning themes (public)."""
    ref = _ctx(request).reference
    return {
        "street_id": ref.street.id,
        "communities": [asdict(c) for c in ref.communities.values()],
        "themes": [asdict(t) for t in ref.themes.values()],
    }


# --- venues ---------------------------------------------------------------------------------


class VenueIn(_In):
    community_id: str = Field(min_length=1, max_length=64)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    venue_type: VenueType
    capacity: int = Field(ge=1, le=100_000)
    kiosk_ids: list[Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]] = Field(
        default_factory=list, max_length=50
    )


class VenueCreate(VenueIn):
    venue_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID_PATTERN)


class VenueOut(VenueIn):
    venue_id: str


@router.post("/venues", status_code=status.HTTP_201_CREATED, response_model=VenueOut, tags=["venues"])
async def register_venue(body: VenueCreate, request: Request, staff: CommunityStaff) -> VenueOut:
    staff.check_reach(body.community_id)
    data = body.model_dump()
    data["venue_id"] = body.venue_id or f"v-{uuid.uuid4().hex[:12]}"
    venue = _build(Venue, **data)
    await handlers.save_venue(_ctx(request), venue, create=True, correlation_id=_cid(request))
    return VenueOut.model_validate(venue, from_attributes=True)


@router.put("/venues/{venue_id}", response_model=VenueOut, tags=["venues"])
async def change_venue(venue_id: Id, body: VenueIn, request: Request, staff: SiteStaff) -> VenueOut:
    if staff.scoped:  # theirs now, and theirs after the change (no moving it to another community)
        staff.check_reach((await handlers.get_venue(_ctx(request), venue_id)).community_id, venue_id)
        staff.check_reach(body.community_id, venue_id)
    venue = _build(Venue, venue_id=venue_id, **body.model_dump())
    await handlers.save_venue(_ctx(request), venue, create=False, correlation_id=_cid(request))
    return VenueOut.model_validate(venue, from_attributes=True)


@router.get("/venues/{venue_id}", response_model=VenueOut, tags=["venues"])
async def get_venue(venue_id: Id, request: Request, user: Reader) -> VenueOut:
    venue = await handlers.get_venue(_ctx(request), venue_id)
    user.check_reach(venue.community_id, venue.venue_id)
    return VenueOut.model_validate(venue, from_attributes=True)


class VenueCloseIn(_In):
    closed_on: date  # the first day closed (Asia/Shanghai)
    reason: str = Field(min_length=1)


class VenueReopenIn(_In):
    reopened_on: date  # the first day open again


class ClosingOut(BaseModel):
    venue_id: str
    closed: bool  # closed today
    closed_on: date | None = None
    reopened_on: date | None = None
    reason: str = ""


def _closing_out(venue_id: str, closing) -> ClosingOut:
    if closing is None:
        return ClosingOut(venue_id=venue_id, closed=False)
    today = datetime.now(STREET_TZ).date()
    return ClosingOut(venue_id=venue_id, closed=closing.closed_at(today), closed_on=closing.closed_on,
                      reopened_on=closing.reopened_on, reason=closing.reason)  # fmt: skip


@router.post("/venues/{venue_id}/close", response_model=ClosingOut, tags=["venues"])
async def close_venue(venue_id: Id, body: VenueCloseIn, request: Request, staff: CommunityStaff) -> ClosingOut:
    """Closes the venue from `closed_on`: no sessions are scheduled there on closed days, check-ins
    for its sessions on those days are rejected (`venue_closed`), and the index leaves it out of
    its venue and seat denominators from that day (event venue.closed)."""
    closing = await venues.close(_ctx(request), venue_id, body.closed_on, body.reason, staff, _cid(request))
    return _closing_out(venue_id, closing)


@router.post("/venues/{venue_id}/reopen", response_model=ClosingOut, tags=["venues"])
async def reopen_venue(venue_id: Id, body: VenueReopenIn, request: Request, staff: CommunityStaff) -> ClosingOut:
    closing = await venues.reopen(_ctx(request), venue_id, body.reopened_on, staff, _cid(request))
    return _closing_out(venue_id, closing)


@router.get("/venues/{venue_id}/closing", response_model=ClosingOut, tags=["venues"])
async def venue_closing(venue_id: Id, request: Request, user: AnyUser) -> ClosingOut:
    await handlers.get_venue(_ctx(request), venue_id)
    return _closing_out(venue_id, await venues.closing(_ctx(request), venue_id))


@router.get("/venues", response_model=list[VenueOut], tags=["venues"])
async def list_venues(
    request: Request, user: Reader, community_id: Annotated[str | None, Query(max_length=64)] = None
) -> list[VenueOut]:
    venues = await handlers.list_venues(_ctx(request), user.community_filter(community_id))
    venues = [v for v in venues if user.reach_refusal(v.community_id, v.venue_id) is None]
    return [VenueOut.model_validate(v, from_attributes=True) for v in venues]


# --- providers ------------------------------------------------------------------------------


class ProviderIn(_In):
    provider_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    kind: ProviderKind
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


@router.post("/providers", status_code=status.HTTP_201_CREATED, response_model=ProviderIn, tags=["providers"])
async def add_provider(body: ProviderIn, request: Request, operator: Operator) -> ProviderIn:
    await handlers.add_provider(_ctx(request), body.provider_id, str(body.kind), body.name_zh, body.name_en)
    return body


@router.get("/providers/{provider_id}", response_model=ProviderIn, tags=["providers"])
async def get_provider(provider_id: Id, request: Request, user: AnyUser) -> ProviderIn:
    return ProviderIn.model_validate(await handlers.get_provider(_ctx(request), provider_id))


# --- courses --------------------------------------------------------------------------------


class CourseBody(_In):
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    theme: str = Field(min_length=1, max_length=64)
    audiences: list[AudienceGroup] = Field(default_factory=list, max_length=6)
    provider_id: str | None = Field(None, max_length=64)
    provider_kind: ProviderKind | None = None
    brand: str | None = Field(None, max_length=100)
    community_id: str | None = Field(None, max_length=64)


class CourseIn(CourseBody):
    course_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID_PATTERN)


class CourseOut(CourseBody):
    course_id: str
    cancelled: bool = False


class CancelIn(_In):
    reason: str = Field("", max_length=500)


@router.post("/courses", status_code=status.HTTP_201_CREATED, response_model=CourseOut, tags=["courses"])
async def create_course(body: CourseIn, request: Request, operator: Operator) -> CourseOut:
    data = body.model_dump()
    data["course_id"] = body.course_id or f"c-{uuid.uuid4().hex[:12]}"
    course = await handlers.create_course(_ctx(request), _build(Course, **data), correlation_id=_cid(request))
    return CourseOut.model_validate(course, from_attributes=True)


@router.get("/courses/{course_id}", response_model=CourseOut, tags=["courses"])
async def get_course(course_id: Id, request: Request, user: Reader) -> CourseOut:
    """A course; community workers and venue staff read the courses of their community or held
    (a session) at their venues."""
    course = await handlers.get_course(_ctx(request), course_id)
    if user.scoped and user.reach_refusal(course.community_id) is not None:
        sessions = await handlers.sessions_of_course(_ctx(request), course_id)
        if not any(user.reach_refusal(s.community_id, s.venue_id) is None for s in sessions):
            user.check_reach(course.community_id)  # raises, naming their scope
    return CourseOut.model_validate(course, from_attributes=True)


@router.put("/courses/{course_id}", response_model=CourseOut, tags=["courses"])
async def update_course(course_id: Id, body: CourseBody, request: Request, operator: Operator) -> CourseOut:
    course = _build(Course, course_id=course_id, **body.model_dump())
    course = await handlers.update_course(_ctx(request), course, correlation_id=_cid(request))
    return CourseOut.model_validate(course, from_attributes=True)


@router.post("/courses/{course_id}/cancel", response_model=CourseOut, tags=["courses"])
async def cancel_course(course_id: Id, body: CancelIn, request: Request, operator: Operator) -> CourseOut:
    course = await handlers.cancel_course(_ctx(request), course_id, body.reason, correlation_id=_cid(request))
    return CourseOut.model_validate(course, from_attributes=True)


# --- sessions -------------------------------------------------------------------------------


class SessionIn(_In):
    session_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID_PATTERN)
    venue_id: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=100_000)
    elderly_priority_until: AwareDatetime | None = None


class SessionChange(_In):
    venue_id: str | None = Field(None, min_length=1, max_length=64)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    capacity: int | None = Field(None, ge=1, le=100_000)
    elderly_priority_until: AwareDatetime | None = None


class SessionOut(BaseModel):
    session_id: str
    course_id: str
    venue_id: str
    community_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    elderly_priority_until: datetime | None = None
    cancelled: bool = False
    confirmed_seats: int | None = None
    walk_ins: int | None = None


@router.post(
    "/courses/{course_id}/sessions", status_code=status.HTTP_201_CREATED, response_model=SessionOut, tags=["sessions"]
)
async def schedule_session(course_id: Id, body: SessionIn, request: Request, staff: SiteStaff) -> SessionOut:
    if staff.scoped:
        venue = await handlers.get_venue(_ctx(request), body.venue_id)
        staff.check_reach(venue.community_id, venue.venue_id)
    data = body.model_dump()
    data["session_id"] = body.session_id or f"s-{uuid.uuid4().hex[:12]}"
    session = _build(Session, course_id=course_id, community_id="", **data)
    session = await handlers.schedule_session(_ctx(request), session, correlation_id=_cid(request))
    return SessionOut.model_validate(session, from_attributes=True)


@router.get("/courses/{course_id}/sessions", response_model=list[SessionOut], tags=["sessions"])
async def sessions_of_course(course_id: Id, request: Request, user: Reader) -> list[SessionOut]:
    sessions = await handlers.sessions_of_course(_ctx(request), course_id)
    sessions = [s for s in sessions if user.reach_refusal(s.community_id, s.venue_id) is None]
    return [SessionOut.model_validate(s, from_attributes=True) for s in sessions]


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def get_session(session_id: Id, request: Request, user: Reader) -> SessionOut:
    session, seats, walk_ins = await handlers.get_session(_ctx(request), session_id)
    user.check_reach(session.community_id, session.venue_id)
    out = SessionOut.model_validate(session, from_attributes=True)
    return out.model_copy(update={"confirmed_seats": seats, "walk_ins": walk_ins})


@router.patch("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def change_session(session_id: Id, body: SessionChange, request: Request, staff: SiteStaff) -> SessionOut:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise Invalid("nothing to change", field="body")
    await _check_session_reach(request, staff, session_id, to_venue=changes.get("venue_id"))
    session = await handlers.change_session(_ctx(request), session_id, changes, correlation_id=_cid(request))
    return SessionOut.model_validate(session, from_attributes=True)


@router.post("/sessions/{session_id}/cancel", response_model=SessionOut, tags=["sessions"])
async def cancel_session(session_id: Id, body: CancelIn, request: Request, staff: SiteStaff) -> SessionOut:
    await _check_session_reach(request, staff, session_id)
    session = await handlers.cancel_session(_ctx(request), session_id, body.reason, correlation_id=_cid(request))
    return SessionOut.model_validate(session, from_attributes=True)


async def _check_session_reach(
    request: Request, staff: Principal, session_id: str, to_venue: str | None = None
) -> None:
    """Scoped staff change sessions at their venues only, and move them only to their venues."""
    if not staff.scoped:
        return
    session, _, _ = await handlers.get_session(_ctx(request), session_id)
    staff.check_reach(session.community_id, session.venue_id)
    if to_venue is not None:
        venue = await handlers.get_venue(_ctx(request), to_venue)
        staff.check_reach(venue.community_id, venue.venue_id)


# --- needs ("residents order the menu") -----------------------------------------------------


class VoteIn(_In):
    theme: str = Field(min_length=1, max_length=64)
    community_id: str | None = Field(None, min_length=1, max_length=64)
    topic_text: str = Field("", max_length=200)


class VoteOut(BaseModel):
    vote_id: str
    resident_id: str
    community_id: str
    theme: str
    topic_text: str
    voted_at: datetime


class NeedOut(BaseModel):
    rank: int
    theme: str
    theme_zh: str
    theme_en: str
    votes: int
    low_ratings: int = Field(0, description="ratings of 1 or 2 of the theme's sessions here, last 365 days")
    weight: int = Field(0, description="votes + low_ratings: what the ranking sorts by")
    has_course: bool
    course_ids: list[str]


@router.post("/needs/votes", status_code=status.HTTP_201_CREATED, response_model=VoteOut, tags=["needs"])
async def vote(body: VoteIn, request: Request, resident: ResidentOnly) -> VoteOut:
    result = await handlers.vote(
        _ctx(request), resident.subject, body.community_id, body.theme, body.topic_text, _cid(request)
    )
    return VoteOut.model_validate(result)


@router.get("/residents/{resident_id}/votes", response_model=list[VoteOut], tags=["needs"])
async def votes_of(resident_id: Id, request: Request, user: ResidentOrOperator, _audit: Audited) -> list[VoteOut]:
    _own(user, resident_id)
    return [VoteOut.model_validate(v) for v in await handlers.votes_of(_ctx(request), resident_id)]


@router.get("/needs/ranking", response_model=list[NeedOut], tags=["needs"])
async def ranking(
    request: Request, user: CommunityReader, community_id: Annotated[str, Query(min_length=1, max_length=64)]
) -> list[NeedOut]:
    """Themes by weight in one community (votes plus satisfaction ratings of 1 or 2 of the theme's
    sessions there in the last 365 days), with the open courses that already answer each."""
    user.check_reach(community_id)
    ctx = _ctx(request)
    needs = await handlers.ranking(ctx, community_id)
    themes = ctx.reference.themes
    return [
        NeedOut(
            rank=i,
            theme=n.theme,
            theme_zh=themes[n.theme].name_zh if n.theme in themes else n.theme,
            theme_en=themes[n.theme].name_en if n.theme in themes else n.theme,
            votes=n.votes,
            low_ratings=n.low_ratings,
            weight=n.weight,
            has_course=n.has_course,
            course_ids=list(n.course_ids),
        )
        for i, n in enumerate(needs, start=1)
    ]


def _own(user: Principal, resident_id: str) -> None:
    if user.role == "resident" and user.subject != resident_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "residents see only their own data")


# --- kiosk check-ins over HTTP --------------------------------------------------------------


class Accepted(BaseModel):
    checkin_id: uuid.UUID
    status: str = "accepted"


@router.post("/checkins", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["checkins"])
async def post_checkin(body: KioskCheckin, request: Request, kiosk: Kiosk) -> Accepted:
    """For kiosks that cannot speak Kafka: the same contract, produced to kiosk.checkins (acks=all);
    202 means Kafka has it, the verdict follows as attendance.recorded or attendance.rejected."""
    if kiosk.role == "kiosk" and kiosk.subject != body.kiosk_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token belongs to kiosk {kiosk.subject}")
    value = body.model_dump_json().encode()
    headers = {"content-type": "application/json"}
    signed = {k: v for k, v in request.headers.items() if k in (SIGNATURE_HEADER, KEY_ID_HEADER)}
    try:
        await kiosk_signing.check(_ctx(request), body, signed)
    except kiosk_signing.BadSignature as refused:
        # dead-lettered like the Kafka path's, so one DLQ and one metric show every refused scan
        await request.app.state.runtime.dead_letters.publish(
            [(http_record(topics.KIOSK_CHECKINS.name, body.resident_id, value, {**headers, **signed}), DeadLetter(
                signing.REASON, refused.detail), 1)]
        )  # fmt: skip
        raise
    # the consumer verifies again: the headers travel with the record
    await request.app.state.runtime.broker.publish(
        value, topics.KIOSK_CHECKINS.name, key=body.resident_id.encode(), headers={**headers, **signed}
    )
    return Accepted(checkin_id=body.checkin_id)


class CheckinOut(BaseModel):
    checkin_id: uuid.UUID
    kiosk_id: str
    venue_id: str
    resident_id: str
    session_id: str | None
    scanned_at: datetime
    direction: str
    received_at: datetime
    outcome: str
    reason: str | None
    parked: bool


@router.get("/checkins/{checkin_id}", response_model=CheckinOut, tags=["checkins"])
async def get_checkin(checkin_id: uuid.UUID, request: Request, kiosk: Kiosk) -> CheckinOut:
    """What became of a scan. A kiosk reads only the scans it sent: another kiosk's is answered as
    unknown (404), so a kiosk token cannot probe for other kiosks' scans or their residents."""
    row = await handlers.get_checkin(_ctx(request), checkin_id)
    if kiosk.role == "kiosk" and row["kiosk_id"] != kiosk.subject:
        raise NotFound(f"no check-in {checkin_id} (yet)", field="checkin_id")
    return CheckinOut.model_validate(row)


class AttendanceOut(BaseModel):
    attendance_id: uuid.UUID
    resident_id: str
    session_id: str
    course_id: str
    venue_id: str
    checkin_id: uuid.UUID
    first_in_at: datetime | None
    last_out_at: datetime | None
    minutes: int
    walk_in: bool
    recorded_at: datetime


@router.get("/residents/{resident_id}/attendance/{session_id}", response_model=AttendanceOut, tags=["checkins"])
async def get_attendance(
    resident_id: Id, session_id: Id, request: Request, user: ResidentOrOperator, _audit: Audited
) -> AttendanceOut:
    _own(user, resident_id)
    return AttendanceOut.model_validate(await handlers.get_attendance(_ctx(request), resident_id, session_id))


# --- residents' rights: a copy of their data, who accessed it ---------------------------------


@router.get("/residents/{resident_id}/data-export", tags=["privacy"])
async def data_export(resident_id: Id, request: Request, user: ResidentOrOperator, _audit: Audited) -> dict:
    """Everything activities holds about the resident (JSON), with who accessed it."""
    _own(user, resident_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        return await privacy.export(conn, resident_id)


audit.add_routes(router)
