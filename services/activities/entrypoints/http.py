"""The activities service's HTTP API: operators manage venues, providers, courses and sessions;
residents vote for learning needs; kiosks that cannot speak Kafka post check-ins."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.activities.adapters import privacy
from services.activities.domain.model import Course, RuleViolated, Session, Venue
from services.activities.service_layer import handlers
from shared.events import topics
from shared.events.catalogue import AudienceGroup, KioskCheckin, ProviderKind, VenueType
from shared.http import audit
from shared.http.audit import Audited
from shared.http.auth import AnyUser, Kiosk, Operator, Principal, ResidentOnly, ResidentOrOperator
from shared.http.errors import Invalid

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
async def register_venue(body: VenueCreate, request: Request, operator: Operator) -> VenueOut:
    data = body.model_dump()
    data["venue_id"] = body.venue_id or f"v-{uuid.uuid4().hex[:12]}"
    venue = _build(Venue, **data)
    await handlers.save_venue(_ctx(request), venue, create=True, correlation_id=_cid(request))
    return VenueOut.model_validate(venue, from_attributes=True)


@router.put("/venues/{venue_id}", response_model=VenueOut, tags=["venues"])
async def change_venue(venue_id: Id, body: VenueIn, request: Request, operator: Operator) -> VenueOut:
    venue = _build(Venue, venue_id=venue_id, **body.model_dump())
    await handlers.save_venue(_ctx(request), venue, create=False, correlation_id=_cid(request))
    return VenueOut.model_validate(venue, from_attributes=True)


@router.get("/venues/{venue_id}", response_model=VenueOut, tags=["venues"])
async def get_venue(venue_id: Id, request: Request, user: AnyUser) -> VenueOut:
    return VenueOut.model_validate(await handlers.get_venue(_ctx(request), venue_id), from_attributes=True)


@router.get("/venues", response_model=list[VenueOut], tags=["venues"])
async def list_venues(
    request: Request, user: AnyUser, community_id: Annotated[str | None, Query(max_length=64)] = None
) -> list[VenueOut]:
    venues = await handlers.list_venues(_ctx(request), community_id)
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
async def get_course(course_id: Id, request: Request, user: AnyUser) -> CourseOut:
    return CourseOut.model_validate(await handlers.get_course(_ctx(request), course_id), from_attributes=True)


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
async def schedule_session(course_id: Id, body: SessionIn, request: Request, operator: Operator) -> SessionOut:
    data = body.model_dump()
    data["session_id"] = body.session_id or f"s-{uuid.uuid4().hex[:12]}"
    session = _build(Session, course_id=course_id, community_id="", **data)
    session = await handlers.schedule_session(_ctx(request), session, correlation_id=_cid(request))
    return SessionOut.model_validate(session, from_attributes=True)


@router.get("/courses/{course_id}/sessions", response_model=list[SessionOut], tags=["sessions"])
async def sessions_of_course(course_id: Id, request: Request, user: AnyUser) -> list[SessionOut]:
    sessions = await handlers.sessions_of_course(_ctx(request), course_id)
    return [SessionOut.model_validate(s, from_attributes=True) for s in sessions]


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def get_session(session_id: Id, request: Request, user: AnyUser) -> SessionOut:
    session, seats, walk_ins = await handlers.get_session(_ctx(request), session_id)
    out = SessionOut.model_validate(session, from_attributes=True)
    return out.model_copy(update={"confirmed_seats": seats, "walk_ins": walk_ins})


@router.patch("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def change_session(session_id: Id, body: SessionChange, request: Request, operator: Operator) -> SessionOut:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise Invalid("nothing to change", field="body")
    session = await handlers.change_session(_ctx(request), session_id, changes, correlation_id=_cid(request))
    return SessionOut.model_validate(session, from_attributes=True)


@router.post("/sessions/{session_id}/cancel", response_model=SessionOut, tags=["sessions"])
async def cancel_session(session_id: Id, body: CancelIn, request: Request, operator: Operator) -> SessionOut:
    session = await handlers.cancel_session(_ctx(request), session_id, body.reason, correlation_id=_cid(request))
    return SessionOut.model_validate(session, from_attributes=True)


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
    request: Request, user: AnyUser, community_id: Annotated[str, Query(min_length=1, max_length=64)]
) -> list[NeedOut]:
    """Themes by votes in one community, with the open courses that already answer each."""
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
    broker = request.app.state.runtime.broker
    await broker.publish(
        body.model_dump_json().encode(),
        topics.KIOSK_CHECKINS.name,
        key=body.resident_id.encode(),
        headers={"content-type": "application/json"},
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
    return CheckinOut.model_validate(await handlers.get_checkin(_ctx(request), checkin_id))


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
