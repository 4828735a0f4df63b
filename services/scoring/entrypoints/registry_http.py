"""HTTP routes of the organisations registry, nominations by people (POST /v1/honours/nominations),
knowledge competitions set up with rounds and places, and volunteer service hours."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.scoring.domain import organisations, volunteering
from services.scoring.domain.honours import competition_kind
from services.scoring.domain.street import STREET, local_day, period_of
from services.scoring.entrypoints.http import ID, _engine, _honour_out, _uow
from services.scoring.service_layer import handlers, registry
from shared.http.audit import Audited
from shared.http.auth import CommunityStaff, Operator, Principal, ResidentOrOperator, require_community_scope
from shared.http.errors import Invalid

router = APIRouter(prefix="/v1", tags=["scoring"])

# Volunteer service lists: an operator, a coordinator (community worker) or the volunteer.
VolunteerStaffOrSelf = Annotated[
    Principal, Depends(require_community_scope("operator", "community_worker", "resident"))
]


def _actor(p: Principal) -> handlers.Actor:
    return handlers.Actor(p.subject, p.role)


def _own_community(staff: Principal, community_id: str | None) -> str | None:
    """A community worker acts for its own community (403 for another); an operator for any."""
    if staff.role != "community_worker":
        return community_id
    if community_id is not None and community_id != staff.community_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you act for community {staff.community_id} only")
    return staff.community_id


def _communities(request: Request) -> set[str]:
    return {c for c in _engine(request).populations if c != STREET}


def _stamped(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    out = dict(row)
    for k in keys:
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    return out


# --- organisations ---------------------------------------------------------------------------------


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    organisation_id: str = Field(min_length=1, max_length=64, pattern=ID)
    kind: Literal[organisations.ORGANISATION_KINDS]  # type: ignore[valid-type]
    community_id: str = Field(min_length=1, max_length=64, pattern=ID)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


@router.post("/organisations", status_code=status.HTTP_201_CREATED)
async def register_organisation(body: OrganisationIn, request: Request, staff: CommunityStaff) -> dict[str, Any]:
    """Registers an organisation or unit with its community (an operator any, a community worker its
    own): a Party organisation, an enterprise, another unit, a social organisation. 409 for a taken id."""
    _own_community(staff, body.community_id)
    row = await registry.register_organisation(
        _uow(request), body.model_dump(), _communities(request), _actor(staff), _engine(request).clock()
    )
    return _stamped(row, "registered_at")


@router.get("/organisations")
async def list_organisations(
    request: Request,
    staff: CommunityStaff,
    community_id: str | None = Query(None, max_length=64),
    kind: str | None = Query(None, max_length=40),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Registered organisations by community and kind (a community worker: its community's)."""
    community_id = _own_community(staff, community_id)
    rows = await registry.list_organisations(_uow(request), community_id, kind, limit)
    return {"items": [_stamped(r, "registered_at") for r in rows]}


# --- nominations by people -------------------------------------------------------------------------


class NominationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal[tuple(organisations.NOMINATED_KINDS)]  # type: ignore[valid-type]
    recipient_id: str = Field(min_length=1, max_length=64, pattern=ID)  # an organisation id or a family id
    community_id: str = Field(min_length=1, max_length=64, pattern=ID)
    reason: str = Field(min_length=1, max_length=2000)
    period: str | None = Field(None, pattern=r"^\d{4}$")  # the current year by default


@router.post("/honours/nominations", status_code=status.HTTP_201_CREATED)
async def nominate(body: NominationIn, request: Request, staff: CommunityStaff) -> dict[str, Any]:
    """A community workstation (its community's) or the street nominates an organisation (先进基层党组织,
    学习型组织) or a family (最美家庭) with a reason: a candidate for the same review, quota, notice and
    award as every honour. 422 naming the field for a recipient that is not of the kind or community."""
    _own_community(staff, body.community_id)
    engine = _engine(request)
    if body.community_id not in _communities(request):
        raise Invalid(f"unknown community {body.community_id!r}", field="community_id")
    data = {**body.model_dump(), "period": body.period or period_of(engine.clock())}
    h = await registry.nominate(_uow(request), data, engine.indicators.selection, _actor(staff), engine.clock())
    engine.mark(set())
    return _honour_out(engine, h)


# --- honours awarded before learnstreet -------------------------------------------------------------


class PastAwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal[registry.PAST_RESIDENT_KINDS]  # type: ignore[valid-type]
    recipient_id: str = Field(min_length=1, max_length=64, pattern=ID, description="the resident")
    period: str = Field(pattern=r"^\d{4}$", description="a past year")
    reason: str = Field(min_length=1, max_length=2000)
    decision_ref: str = Field(min_length=1, max_length=200, description="the decision it was awarded by (文号)")


@router.post("/honours/past-awards", status_code=status.HTTP_201_CREATED)
async def record_past_award(body: PastAwardIn, request: Request, operator: Operator, _audit: Audited) -> dict:
    """Records a resident honour of a past year from the street's paper records (operators): it was
    reviewed and announced (公示) then, so it is awarded at once and the resident's credential is
    issued. 422 naming the field for this year's period, a period before the street's records
    (`periods.first` of the indicator file) or an unknown resident; 409 when held."""
    engine = _engine(request)
    h = await registry.record_past_award(
        _uow(request), body.model_dump(), _actor(operator), engine.clock(), engine.indicators.periods
    )
    engine.mark(set())
    return _honour_out(engine, h)


# --- knowledge competitions ------------------------------------------------------------------------


class CompetitionSetUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    competition_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    rounds: int = Field(ge=1, le=20)
    places: int = Field(ge=1, le=100)  # ranks honoured: 3 means first, second and third places


def _competition_out(c: dict[str, Any]) -> dict[str, Any]:
    out = _stamped({k: v for k, v in c.items() if k != "placed"}, "created_at")
    if "placed" in c:
        out["placed"] = [{**p, "honour_id": str(p["honour_id"])} for p in c["placed"]]
    return out


@router.post("/competitions", status_code=status.HTTP_201_CREATED)
async def set_up_competition(body: CompetitionSetUpIn, request: Request, operator: Operator) -> Any:
    """The street sets up a knowledge competition with its rounds and how many places are honoured;
    results must then name it, one of its rounds and a rank within its places. The same set-up again
    answers 200; another set-up under the same id 409."""
    data = {**body.model_dump(), "competition_id": body.competition_id or f"kc-{uuid.uuid4().hex[:12]}"}
    row, created = await registry.set_up_competition(_uow(request), data, _actor(operator), _engine(request).clock())
    if not created:
        return JSONResponse(_competition_out(row), status_code=status.HTTP_200_OK)
    return _competition_out(row)


@router.get("/competitions/{competition_id}")
async def competition_record(
    competition_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID)],
    request: Request,
    staff: CommunityStaff,
) -> dict[str, Any]:
    """A competition's set-up and its placed candidates (or honours) with their rank and state."""
    c = await registry.competition_record(_uow(request), competition_id, competition_kind(competition_id))
    return _competition_out(c)


# --- volunteer service hours -----------------------------------------------------------------------


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    volunteer_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID)  # a resident; yours by default
    venue_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID)
    session_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID)
    day: date
    hours: float = Field(allow_inf_nan=False)  # checked by domain/volunteering.py, which names the reason
    what: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_place(self) -> ServiceIn:
        if (self.venue_id is None) == (self.session_id is None):
            raise ValueError("name either venue_id or session_id (an event), not both or neither")
        return self


@router.post("/volunteer-service", status_code=status.HTTP_201_CREATED)
async def record_service(body: ServiceIn, request: Request, user: ResidentOrOperator) -> dict[str, Any]:
    """Records volunteer service hours at a venue or a session: an operator for any volunteer, a
    volunteer (resident token) for themself. They count once a coordinator confirms them."""
    volunteer = body.volunteer_id or (user.subject if user.role == "resident" else None)
    if volunteer is None:
        raise Invalid("name the volunteer's resident id", field="volunteer_id")
    if user.role == "resident" and volunteer != user.subject:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a volunteer records their own service only")
    engine = _engine(request)
    now = engine.clock()
    row = await registry.record_service(
        _uow(request), {**body.model_dump(), "volunteer_id": volunteer}, _actor(user), local_day(now), now
    )
    return _service_out(row)


def _service_out(s: dict[str, Any]) -> dict[str, Any]:
    out = _stamped(s, "day", "recorded_at", "decided_at")
    out.update(service_id=str(s["service_id"]), hours=float(s["hours"]))
    return out


class ServiceDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    decision: Literal["confirmed", "rejected"]
    reason: str | None = Field(None, max_length=1000)


@router.post("/volunteer-service/{service_id}/decision")
async def decide_service(service_id: uuid.UUID, body: ServiceDecisionIn, request: Request,
                         staff: CommunityStaff) -> dict[str, Any]:  # fmt: skip
    """A coordinator confirms recorded service (its hours count from then on) or rejects it with a
    reason: an operator any, a community worker the services at its community (403 otherwise)."""
    scope = staff.community_id if staff.role == "community_worker" else None
    try:
        s = await registry.decide_service(
            _uow(request), service_id, body.decision, body.reason, _actor(staff), scope, _engine(request).clock()
        )
    except handlers.Forbidden as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    if s["state"] == volunteering.CONFIRMED:
        _engine(request).mark()  # confirmed hours may make an Excellent Volunteer: a rule pass is due
    return _service_out(s)


SERVICE_STATE_QUERY = "^(" + "|".join(volunteering.STATES) + ")$"


@router.get("/volunteer-service")
async def list_service(
    request: Request,
    user: VolunteerStaffOrSelf,
    _audit: Audited,
    volunteer_id: str | None = Query(None, max_length=64),
    community_id: str | None = Query(None, max_length=64),
    state: str | None = Query(None, pattern=SERVICE_STATE_QUERY),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Recorded service, newest day first: a volunteer sees their own, a community worker its
    community's (its coordinator's list: state=recorded), an operator any."""
    if user.role == "resident":
        if volunteer_id is not None and volunteer_id != user.subject:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a volunteer sees their own service only")
        volunteer_id = user.subject
    community_id = _own_community(user, community_id)
    rows = await registry.list_service(
        _uow(request), volunteer_id=volunteer_id, community_id=community_id, state=state, limit=limit
    )
    return {"items": [_service_out(r) for r in rows]}


@router.get("/volunteers/{resident_id}/service-hours")
async def service_hours(
    resident_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID)],
    request: Request,
    user: ResidentOrOperator,
    _audit: Audited,
    period: str | None = Query(None, pattern=r"^\d{4}$"),
) -> dict[str, Any]:
    """A volunteer's service hours in a year: `counted` are the confirmed ones (what Excellent
    Volunteer counts); recorded ones wait for a coordinator, rejected ones never count."""
    if user.role == "resident" and resident_id != user.subject:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a volunteer sees their own hours only")
    engine = _engine(request)
    period = period or period_of(engine.clock())
    if not 1 <= int(period) <= date.max.year - 1:  # the year and the next bound the query: 0000 and 9999 have none
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            [{"loc": ["query", "period"], "msg": f"a calendar year from 0001 to {date.max.year - 1}"}],
        )
    hours = await registry.service_hours(_uow(request), resident_id, period)
    rule = engine.indicators.honours
    return {
        "volunteer_id": resident_id, "period": period,
        "counted": hours.get(volunteering.CONFIRMED, 0.0),
        "awaiting_confirmation": hours.get(volunteering.RECORDED, 0.0),
        "rejected": hours.get(volunteering.REJECTED, 0.0),
        "excellent_volunteer": {"min_teaching_hours": rule.volunteer_min_teaching_hours,
                                "min_service_hours": rule.volunteer_min_service_hours, "either": rule.volunteer_either},
    }  # fmt: skip
