"""The enrolment service's HTTP API: residents, enrolment with waitlists, sessions' occupancy.

Operators may act for anyone; a resident (token role `resident`, subject = resident id) only for
themself. Errors are 4xx with the field and the reason (shared.http.errors)."""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.enrolment.adapters import privacy
from services.enrolment.domain.consent import Purpose
from services.enrolment.entrypoints import certificate as certificate_page
from services.enrolment.entrypoints import certificate_pdf
from services.enrolment.service_layer import consents, handlers
from services.enrolment.service_layer import passport as passports
from services.enrolment.service_layer.handlers import Forbidden
from shared.db.erasure import PREFIX as ERASED_PREFIX
from shared.events.catalogue import AudienceGroup, Language
from shared.http import audit
from shared.http.audit import Audited
from shared.http.auth import (
    RESIDENT_OR_STAFF,
    CommunityStaff,
    Operator,
    Principal,
    Reader,
    ResidentOrOperator,
    ResidentOrStaff,
    admitted,
)
from shared.http.errors import DomainError, Invalid, domain_error_response
from shared.reference import load_reference

router = APIRouter(prefix="/v1")

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
# A mainland resident identity card number (18 characters, the last a check digit or X).
IDENTITY_CARD = re.compile(r"[1-9]\d{16}[\dXx]")
# The card a resident shows at kiosks (an identity or library card): letters, digits, hyphens.
Card = Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
PathId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 -]{4,19}$", description="digits, optional + prefix")]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Category = Annotated[str, Field(min_length=1, max_length=64)]
LocalTime = Annotated[
    str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description='local time "HH:MM" (Asia/Shanghai)')
]
_CONSENT = (
    "consents to notifications (SMS or email). Defaults to false: without consent the resident is sent nothing, "
    "not even enrolment confirmations / 是否同意接收通知；默认不同意，不同意则不发送任何通知"
)
_CONSENTS = (
    "the purposes of the street's privacy notice (GET /v1/privacy-notice) the resident agreed to on the form, "
    "recorded under its current version; `consent` true adds notifications / 居民在表单上同意的个人信息处理用途"
)
_QUIET = (
    "the resident's own quiet hours, local \"HH:MM\"; set both or neither (null: the street's default); "
    "start after end spans midnight, equal means none / 免打扰时段（本地时间），需同时设置起止"
)


def _check_quiet_hours(start: str | None, end: str | None) -> None:
    if (start is None) != (end is None):
        raise ValueError("quiet_hours_start and quiet_hours_end are set together (both or neither)")


def _uow(request: Request):
    # The API's pool (bootstrap): no reset round trip on release.
    return request.app.state.api_uow


def _json(data: dict, status_code: int = 200) -> Response:
    """Hot paths (enrol, cancel) serialise with orjson from plain data the service built itself:
    FastAPI would otherwise validate and serialise the response model again, which costs more
    than the database work. The response models stay declared for the OpenAPI document."""
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def _correlation(request: Request) -> str | None:
    return request.headers.get("x-correlation-id")


@functools.cache
def _communities(reference_dir: str) -> frozenset[str]:
    return frozenset(load_reference(reference_dir).communities)


def _check_community(request: Request, community_id: str) -> None:
    known = _communities(request.app.state.runtime.settings.reference_dir)
    if community_id not in known:
        raise Invalid(f"unknown community {community_id!r}; one of {', '.join(sorted(known))}", field="community_id")


def _recorded_by(principal: Principal) -> str:
    """Who recorded a consent decision: the resident themself, or the staff member (a paper form)."""
    return "resident" if principal.role == "resident" else f"{principal.role}:{principal.subject}"


def _notice(request: Request):
    return request.app.state.notice


def _consent_changes_per_hour(request: Request) -> int:
    return request.app.state.runtime.settings.consent_changes_per_hour


def _require_self_or_operator(principal: Principal, resident_id: str) -> None:
    if principal.role == "operator":
        return
    if principal.role == "resident" and principal.subject == resident_id:
        return
    raise Forbidden(f"only resident {resident_id} or an operator may do this / 仅本人或工作人员可操作")


async def _require_self_or_staff(request: Request, principal: Principal, resident_id: str) -> None:
    """The resident, an operator, or a community worker of the community the resident is registered in."""
    if principal.role == "community_worker":
        resident = await handlers.get_resident(_uow(request), resident_id)
        principal.check_reach(resident["community_id"])
        return
    _require_self_or_operator(principal, resident_id)


# --- residents ----------------------------------------------------------------------------------


class ResidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resident_id: Id | None = Field(
        None, description="made by the service when absent (random); give the card in card_number, not here"
    )
    card_number: Card | None = Field(
        None,
        description="the card the resident shows at kiosks; it goes to activities alone, every event names "
        "the resident by resident_id (docs/decisions/0010-erasure.md)",
    )
    community_id: Id = Field(description="a community id from the street's reference data")
    audience_group: AudienceGroup
    family_id: Id | None = None
    employer_id: Id | None = Field(None, description="employer unit, for enterprise honours")
    volunteer: bool = False
    phone: Phone | None = None
    email: Email | None = None
    language: Language = "zh-CN"
    consent: bool = Field(False, description=_CONSENT)
    consents: list[Purpose] = Field(default_factory=list, max_length=3, description=_CONSENTS)
    preferred_channel: Literal["sms", "email"] = "sms"
    opted_out_categories: list[Category] = Field(default_factory=list, max_length=32)
    quiet_hours_start: LocalTime | None = Field(None, description=_QUIET)
    quiet_hours_end: LocalTime | None = Field(None, description=_QUIET)

    @field_validator("resident_id")
    @classmethod
    def _not_a_card(cls, value: str | None) -> str | None:
        if value and value.startswith(ERASED_PREFIX):
            raise ValueError(f"may not start with {ERASED_PREFIX!r}: the prefix marks erased residents")
        if value and IDENTITY_CARD.fullmatch(value):
            # the id travels on every event and lives in every service's tables (ADR 10)
            raise ValueError(
                "looks like an identity card number: give it as card_number and leave resident_id out"
                " (enrolment issues an id) / 证件号请填入 card_number"
            )
        return value

    @model_validator(mode="after")
    def _channel_has_address(self) -> ResidentIn:
        _check_quiet_hours(self.quiet_hours_start, self.quiet_hours_end)
        if self.consent and self.preferred_channel == "email" and not self.email:
            raise ValueError("preferred_channel email needs an email address")
        if self.consent and self.preferred_channel == "sms" and not self.phone:
            raise ValueError("preferred_channel sms needs a phone number")
        return self


class ResidentPatch(BaseModel):
    """Only the fields sent are changed; `null` clears an optional field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Non-nullable fields default to None only as "not sent": an explicit null fails validation.
    # a new card replaces the old one (lost) at the kiosks; operators only. Not nullable: a resident
    # without a card is one registered by id, and an erasure, not an edit, takes a card away.
    card_number: Card = Field(None, description="a new card replacing the old (operators)")  # type: ignore[assignment]
    community_id: Id = None  # type: ignore[assignment]
    audience_group: AudienceGroup = None  # type: ignore[assignment]
    family_id: Id | None = None
    employer_id: Id | None = None
    volunteer: bool = None  # type: ignore[assignment]
    phone: Phone | None = None
    email: Email | None = None
    language: Language = None  # type: ignore[assignment]
    consent: bool = Field(None, description=_CONSENT)  # type: ignore[assignment]
    preferred_channel: Literal["sms", "email"] = None  # type: ignore[assignment]
    opted_out_categories: list[Category] = Field(None, max_length=32)  # type: ignore[assignment]
    # Sent together (both values, or both null to fall back to the street's quiet hours).
    quiet_hours_start: LocalTime | None = Field(None, description=_QUIET)
    quiet_hours_end: LocalTime | None = Field(None, description=_QUIET)

    @model_validator(mode="after")
    def _quiet_hours_together(self) -> ResidentPatch:
        sent = {"quiet_hours_start", "quiet_hours_end"} & self.model_fields_set
        if len(sent) == 1:
            raise ValueError("quiet_hours_start and quiet_hours_end are sent together (both or neither)")
        if sent:
            _check_quiet_hours(self.quiet_hours_start, self.quiet_hours_end)
        return self


class ResidentOut(BaseModel):
    resident_id: str
    card_number: str | None = None
    community_id: str
    audience_group: AudienceGroup
    family_id: str | None
    employer_id: str | None
    volunteer: bool
    phone: str | None
    email: str | None
    language: Language
    consent: bool = Field(description=_CONSENT)
    preferred_channel: Literal["sms", "email"]
    opted_out_categories: list[str]
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None


@router.post("/residents", status_code=status.HTTP_201_CREATED, response_model=ResidentOut, tags=["residents"])
async def register_resident(body: ResidentIn, request: Request, operator: CommunityStaff) -> ResidentOut:
    operator.check_reach(body.community_id)
    """Register a resident (operators). Contact data goes only to notify (enrolment.contacts)."""
    _check_community(request, body.community_id)
    data = body.model_dump(mode="json")
    data["resident_id"] = body.resident_id or f"r-{uuid.uuid4().hex[:16]}"
    resident = await handlers.register_resident(
        _uow(request), data, notice=_notice(request), recorded_by=_recorded_by(operator),
        correlation_id=_correlation(request), erased_cards=request.app.state.erased_cards,
        card_digests=request.app.state.card_digests,
    )  # fmt: skip
    return ResidentOut.model_validate(resident)


class ResidentImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    residents: list[ResidentIn] = Field(min_length=1, max_length=1000)


class ImportOut(BaseModel):
    registered: int
    existing: list[str] = Field(description="ids already registered; left unchanged")
    erased: list[str] = Field(
        default_factory=list,
        description="ids or cards of residents erased at their request: not registered again (ADR 10)",
    )


@router.post("/residents/import", response_model=ImportOut, tags=["residents"])
async def import_residents(body: ResidentImport, request: Request, operator: CommunityStaff) -> ImportOut:
    for resident in body.residents:
        operator.check_reach(resident.community_id)
    """Register up to 1,000 residents in one transaction (loading a street's registry).
    Running the same import again changes nothing: existing ids are reported, not changed."""
    rows, seen = [], set()
    for i, resident in enumerate(body.residents):
        _check_community(request, resident.community_id)
        data = resident.model_dump(mode="json")
        data["resident_id"] = resident.resident_id or f"r-{uuid.uuid4().hex[:16]}"
        if data["resident_id"] in seen:
            raise Invalid(f"resident {data['resident_id']} is listed twice", field=f"residents.{i}.resident_id")
        if data["card_number"] is not None and ("card", data["card_number"]) in seen:
            raise Invalid(f"card {data['card_number']} is listed twice", field=f"residents.{i}.card_number")
        seen |= {data["resident_id"], ("card", data["card_number"])}
        rows.append(data)
    registered, existing, erased = await handlers.import_residents(
        _uow(request), rows, notice=_notice(request), recorded_by=_recorded_by(operator),
        correlation_id=_correlation(request), erased_cards=request.app.state.erased_cards,
        card_digests=request.app.state.card_digests,
    )  # fmt: skip
    return ImportOut(registered=len(registered), existing=existing, erased=erased)


class CardLookup(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    card_number: Card


@router.post("/residents/lookup", response_model=ResidentOut, tags=["residents"])
async def look_up_resident_by_card(body: CardLookup, request: Request, operator: CommunityStaff) -> ResidentOut:
    """The resident holding a card (operators at a desk know the card, not the id). A POST, so that
    the card stays out of URLs and access logs; the read is recorded in the access audit."""
    resident = await handlers.resident_by_card(_uow(request), body.card_number)
    operator.check_reach(resident["community_id"])
    await audit.record_access(request, operator, resident["resident_id"])
    return ResidentOut.model_validate(resident)


@router.get("/residents/{resident_id}", response_model=ResidentOut, tags=["residents"])
async def get_resident(
    resident_id: PathId, request: Request, principal: ResidentOrStaff, _audit: Audited
) -> ResidentOut:
    await _require_self_or_staff(request, principal, resident_id)
    return ResidentOut.model_validate(await handlers.get_resident(_uow(request), resident_id))


@router.patch(
    "/residents/{resident_id}",
    response_model=ResidentOut,
    tags=["residents"],
    responses={
        429: {"description": "`consent` true beyond the hourly limit of notifications' changes; see Retry-After"}
    },
)
async def update_resident(
    resident_id: PathId, body: ResidentPatch, request: Request, principal: ResidentOrStaff, _audit: Audited
) -> ResidentOut:
    """Change a resident. Residents may change their contact data, preferences and volunteer flag;
    community, audience group, family and employer are changed by operators (and by community
    workers for their community's residents, who cannot move one to another community)."""
    await _require_self_or_staff(request, principal, resident_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    if "community_id" in changes:
        _check_community(request, changes["community_id"])
        if principal.role == "community_worker":
            principal.check_reach(changes["community_id"])
    resident = await handlers.update_resident(
        _uow(request),
        resident_id,
        changes,
        by_resident=principal.role == "resident",
        notice=_notice(request),
        recorded_by=_recorded_by(principal),
        consent_changes_per_hour=_consent_changes_per_hour(request),
        correlation_id=_correlation(request),
        erased_cards=request.app.state.erased_cards,
        card_digests=request.app.state.card_digests,
    )
    return ResidentOut.model_validate(resident)


# --- consent per purpose (PIPL Art. 14-15; services/enrolment/domain/consent.py) ------------------


class NoticeOut(BaseModel):
    version: str
    published: date
    purposes: dict[str, dict[str, str]] = Field(description="purpose → language (zh-CN, en) → what it means")


@router.get("/privacy-notice", response_model=NoticeOut, tags=["privacy"])
async def privacy_notice(request: Request) -> NoticeOut:
    """The street's privacy notice: the purposes it asks consent for, under its current version (public)."""
    notice = _notice(request)
    return NoticeOut(version=notice.version, published=notice.published, purposes=dict(notice.purposes))


class DecisionOut(BaseModel):
    purpose: Purpose
    granted: bool
    notice_version: str
    decided_at: datetime
    recorded_by: str = Field(description="resident, or the role and id of the staff member who recorded it")


class PurposeOut(BaseModel):
    purpose: Purpose
    granted: bool
    decision: DecisionOut | None = Field(description="the latest decision; null: never asked")


class ConsentsOut(BaseModel):
    resident_id: str
    notice_version: str = Field(description="the notice's current version")
    purposes: list[PurposeOut]
    history: list[DecisionOut] = Field(description="every decision, oldest first")


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    notice_version: str = Field(min_length=1, max_length=64, description="the version of the notice the resident read")


async def _self_or_staff(resident_id: PathId, request: Request, principal: ResidentOrStaff) -> Principal:
    # a dependency, so that someone else's resident is refused before the path and body are judged
    await _require_self_or_staff(request, principal, resident_id)
    return principal


SelfOrStaff = Annotated[Principal, Depends(_self_or_staff)]


@router.get("/residents/{resident_id}/consents", response_model=ConsentsOut, tags=["privacy"])
async def resident_consents(resident_id: PathId, request: Request, _who: SelfOrStaff, _audit: Audited) -> ConsentsOut:
    """What the resident agrees to, per purpose, and every decision they made."""
    return ConsentsOut.model_validate(await consents.state(_uow(request), _notice(request), resident_id))


_TOO_MANY_CHANGES = {
    429: {"description": "an agreement beyond the purpose's hourly changes (detail at `purpose`); see Retry-After"}
}


@router.put(
    "/residents/{resident_id}/consents/{purpose}",
    response_model=ConsentsOut,
    tags=["privacy"],
    responses=_TOO_MANY_CHANGES,
)
async def give_consent(
    resident_id: PathId, purpose: Purpose, body: ConsentIn, request: Request, principal: SelfOrStaff, _audit: Audited
) -> ConsentsOut:
    """The resident agrees to a purpose under the current notice (themself, or staff from a signed
    form). 409 when `notice_version` is not the current notice's. Agreeing again under the same notice
    records nothing (200, the state); 429 beyond ENROLMENT_CONSENT_CHANGES_PER_HOUR changes of the
    purpose within the hour."""
    done = await consents.decide(
        _uow(request), _notice(request), resident_id, purpose, granted=True, notice_version=body.notice_version,
        recorded_by=_recorded_by(principal), changes_per_hour=_consent_changes_per_hour(request),
        correlation_id=_correlation(request),
    )  # fmt: skip
    return ConsentsOut.model_validate(done)


@router.delete("/residents/{resident_id}/consents/{purpose}", response_model=ConsentsOut, tags=["privacy"])
async def withdraw_consent(
    resident_id: PathId, purpose: Purpose, request: Request, principal: SelfOrStaff, _audit: Audited
) -> ConsentsOut:
    """The resident withdraws a purpose; the services stop that processing once they hear of it.
    Never refused for the rate of changes; withdrawing what is withdrawn records nothing (200)."""
    done = await consents.decide(
        _uow(request), _notice(request), resident_id, purpose, granted=False, notice_version=None,
        recorded_by=_recorded_by(principal), changes_per_hour=_consent_changes_per_hour(request),
        correlation_id=_correlation(request),
    )  # fmt: skip
    return ConsentsOut.model_validate(done)


# --- enrolments ---------------------------------------------------------------------------------


class EnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resident_id: Id


class EnrolmentOut(BaseModel):
    enrolment_id: str
    session_id: str
    resident_id: str
    status: Literal["confirmed", "waitlisted", "cancelled"]
    position: int | None = Field(None, description="1-based waitlist position; null unless waitlisted")
    seq: int = Field(description="arrival order within the session")
    created_at: datetime


class EnrolmentView(EnrolmentOut):
    course_id: str
    starts_at: AwareDatetime | None
    promoted_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str


class Promoted(BaseModel):
    enrolment_id: str
    resident_id: str


class CancelOut(BaseModel):
    enrolment_id: str
    session_id: str
    resident_id: str
    status: Literal["cancelled"] = "cancelled"
    was_status: Literal["confirmed", "waitlisted"]
    cancelled_at: datetime
    promoted: list[Promoted] = Field(description="waitlisted residents who got the freed seat")


@router.post(
    "/sessions/{session_id}/enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentOut,
    tags=["enrolments"],
    responses={
        404: {"description": "unknown session (not yet scheduled) or resident"},
        409: {"description": "refused"},
    },
)
async def enrol(session_id: PathId, body: EnrolIn, request: Request, principal: ResidentOrStaff) -> Response:
    """Enrol a resident in a session: a seat if one is free, else the FIFO waitlist with a position.
    409 with the reason for a double enrolment, an ineligible audience, the elderly priority
    window, a cancelled or already started session."""
    await _require_self_or_staff(request, principal, body.resident_id)
    result = await handlers.enrol(_uow(request), session_id, body.resident_id)
    return _json(
        {
            "enrolment_id": result.enrolment_id,
            "session_id": result.session_id,
            "resident_id": result.resident_id,
            "status": result.status,
            "position": result.position,
            "seq": result.seq,
            "created_at": result.created_at,
        },
        status.HTTP_201_CREATED,
    )


@router.delete("/enrolments/{enrolment_id}", response_model=CancelOut, tags=["enrolments"])
async def cancel_enrolment(enrolment_id: PathId, request: Request, principal: ResidentOrStaff) -> Response:
    """Cancel an enrolment; a freed seat goes to the head of the waitlist in the same transaction
    (not after the session has started)."""
    if principal.role not in ("operator", "resident", "community_worker"):
        raise Forbidden("only the resident or an operator may cancel an enrolment / 仅本人或工作人员可取消")
    if principal.role == "community_worker":
        enrolment = await handlers.get_enrolment(_uow(request), enrolment_id)
        await _require_self_or_staff(request, principal, enrolment["resident_id"])
    result = await handlers.cancel(
        _uow(request), enrolment_id, only_resident=principal.subject if principal.role == "resident" else None
    )
    return _json(
        {
            "enrolment_id": result.enrolment_id,
            "session_id": result.session_id,
            "resident_id": result.resident_id,
            "status": "cancelled",
            "was_status": result.was_status,
            "cancelled_at": result.cancelled_at,
            "promoted": result.promoted,
        }
    )


class HotRoutes:
    """Enrol and cancel without FastAPI's per-request machinery (dependency solving, route
    matching over every route: over half of the service's own CPU per enrolment). Pure ASGI,
    innermost of the kit's middlewares (the router's `fast_paths`, installed by create_app), so
    the NUL check, the body limit and the metrics still see every request. It runs the same route functions with the
    same token check and body model; anything it would not answer the way the route does (no or
    bad token, a role the route refuses, an id or body the models refuse, another content type)
    goes on to FastAPI untouched, which answers it as before. Domain errors are rendered by the
    same function as FastAPI's handler (shared.http.errors); anything else propagates to the
    app's error middleware as it would from the route."""

    # ResidentOrStaff's roles but community workers: their scope check reads the resident and raises
    # HTTPException, which only FastAPI renders, so their requests go on to FastAPI.
    FAST_ROLES = tuple(r for r in RESIDENT_OR_STAFF if r != "community_worker")
    _ENROL = re.compile(r"/v1/sessions/([A-Za-z0-9_.:-]{1,128})/enrolments")
    _CANCEL = re.compile(r"/v1/enrolments/([A-Za-z0-9_.:-]{1,128})")

    def __init__(self, app) -> None:
        self.app = app
        # The route objects, so the metrics label these requests by their template as before.
        self._routes = {
            r.endpoint: r for r in router.routes if getattr(r, "endpoint", None) in (enrol, cancel_enrolment)
        }

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "POST" and (match := self._ENROL.fullmatch(scope["path"])):
                await self._enrol(match[1], scope, receive, send)
                return
            if method == "DELETE" and (match := self._CANCEL.fullmatch(scope["path"])):
                await self._cancel(match[1], scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _enrol(self, session_id: str, scope, receive, send) -> None:
        messages, body = [], b""
        while True:  # the body limit outside us has bounded it already
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replaying_receive():
            message = next(replay, None)
            return message if message is not None else await receive()

        request = Request(scope, replaying_receive)
        principal = await admitted(request, *self.FAST_ROLES)
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        parsed = None
        if principal is not None and content_type == "application/json":
            try:
                parsed = EnrolIn.model_validate(orjson.loads(body))
            except (orjson.JSONDecodeError, ValidationError):
                parsed = None  # FastAPI answers the 422 in its own words
        if parsed is None:
            await self.app(scope, replaying_receive, send)
            return
        await self._answer(enrol, {"session_id": session_id}, scope, request, send, body=parsed, principal=principal)

    async def _cancel(self, enrolment_id: str, scope, receive, send) -> None:
        request = Request(scope, receive)
        principal = await admitted(request, *self.FAST_ROLES)
        if principal is None:
            await self.app(scope, receive, send)
            return
        await self._answer(cancel_enrolment, {"enrolment_id": enrolment_id}, scope, request, send, principal=principal)

    async def _answer(self, endpoint, params: dict, scope, request: Request, send, **kwargs) -> None:
        scope["route"], scope["endpoint"], scope["path_params"] = self._routes[endpoint], endpoint, params
        try:
            response = await endpoint(**params, request=request, **kwargs)
        except DomainError as e:
            response = domain_error_response(e)
        await response(scope, request.receive, send)


router.fast_paths = [HotRoutes]  # type: ignore[attr-defined]  # read by shared.runtime.create_app


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentView, tags=["enrolments"])
async def get_enrolment(enrolment_id: PathId, request: Request, principal: ResidentOrStaff) -> EnrolmentView:
    enrolment = await handlers.get_enrolment(_uow(request), enrolment_id)
    await _require_self_or_staff(request, principal, enrolment["resident_id"])
    await audit.record_access(request, principal, enrolment["resident_id"])
    return EnrolmentView.model_validate(enrolment)


@router.get("/residents/{resident_id}/enrolments", response_model=list[EnrolmentView], tags=["enrolments"])
async def enrolments_of_resident(
    resident_id: PathId,
    request: Request,
    principal: ResidentOrStaff,
    _audit: Audited,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[EnrolmentView]:
    await _require_self_or_staff(request, principal, resident_id)
    rows = await handlers.enrolments_of_resident(_uow(request), resident_id, limit)
    return [EnrolmentView.model_validate(r) for r in rows]


# --- residents' rights: a copy of their data, who accessed it -------------------------------------


@router.get("/residents/{resident_id}/data-export", tags=["privacy"])
async def data_export(resident_id: PathId, request: Request, principal: ResidentOrOperator, _audit: Audited) -> dict:
    """Everything enrolment holds about the resident (JSON, contact data included), with who accessed it."""
    _require_self_or_operator(principal, resident_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        return await privacy.export(conn, resident_id)


audit.add_routes(router)


# --- sessions and courses (as learnt from activities) ---------------------------------------------


class SessionOut(BaseModel):
    session_id: str
    course_id: str
    venue_id: str | None
    community_id: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    capacity: int
    elderly_priority_until: datetime | None
    cancelled: bool
    cancel_reason: str
    confirmed: int
    waitlisted: int = Field(description="waitlist length")


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def get_session(session_id: PathId, request: Request, operator: Operator) -> SessionOut:
    return SessionOut.model_validate(await handlers.get_session(_uow(request), session_id))


class CourseOut(BaseModel):
    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str]
    cancelled: bool


@router.get("/courses/{course_id}", response_model=CourseOut, tags=["courses"])
async def get_course(course_id: PathId, request: Request, operator: Operator) -> CourseOut:
    course = await handlers.get_course(_uow(request), course_id)
    return CourseOut.model_validate(course, from_attributes=True)


# --- the learning passport (学习档案) ---------------------------------------------------------------


class Names(BaseModel):
    zh_CN: str = Field(alias="zh-CN")
    en: str


class PassportThemeOut(BaseModel):
    theme: str
    name: Names | None
    minutes: int
    credited_minutes: int = Field(description="minutes of attendances long enough to earn credits")
    credits: float
    cap: float
    capped: bool


class PassportYearOut(BaseModel):
    year: int
    attendances: int
    minutes: int
    hours: float
    credits: float
    capped: bool = Field(description="the year's cap cut the sum of the themes' credits")
    themes: list[PassportThemeOut]


class PassportAttendanceOut(BaseModel):
    attendance_id: str
    session_id: str
    course_id: str
    course: Names | None = Field(description="null while the catalogue does not know the course")
    theme: str | None
    venue_id: str
    venue: Names | None
    community_id: str
    date: str = Field(description="local date (the credits rule's time zone)")
    held_at: datetime
    minutes: int


class PassportHonourOut(BaseModel):
    honour_id: str
    kind: str
    name: Names
    period: str
    recipient_kind: Literal["resident", "family", "employer"]
    recipient_id: str
    state: Literal["awarded", "revoked"]
    awarded_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    credential: str | None = Field(
        None, description="where the honour downloads as a signed Open Badges 3.0 credential; null once revoked"
    )


class PassportEnrolmentOut(BaseModel):
    enrolment_id: str
    session_id: str
    course_id: str
    course: Names | None
    status: Literal["confirmed", "waitlisted"]
    position: int | None = Field(description="1-based waitlist position; null unless waitlisted")
    starts_at: datetime | None


class PassportOut(BaseModel):
    resident_id: str
    years: list[PassportYearOut] = Field(description="newest first")
    attendance: list[PassportAttendanceOut] = Field(description="oldest first")
    honours: list[PassportHonourOut]
    enrolments: list[PassportEnrolmentOut]
    credits_rule: dict = Field(description="the street's credits rule the credits were computed with")


@router.get(
    "/residents/{resident_id}/passport",
    response_model=PassportOut,
    tags=["passport"],
    responses={
        403: {"description": "another resident's passport, or no learning_record consent (detail at `consent`)"},
        404: {"description": "unknown resident"},
    },
)
async def get_passport(
    resident_id: PathId, request: Request, principal: ResidentOrOperator, _audit: Audited
) -> Response:
    """A resident's learning passport (学习档案): courses attended with dates, venues and minutes;
    hours and learning credits per year (the street's credits rule, reference/<street>/credits.yaml);
    honours with their state; live enrolments with waitlist positions. A resident reads their own;
    served only with the resident's `learning_record` consent (ADR 0019), to operators too."""
    _require_self_or_operator(principal, resident_id)
    data = await passports.passport(_uow(request), request.app.state.passport, resident_id)
    return _json(data)


@router.get(
    "/residents/{resident_id}/passport/certificate",
    response_class=HTMLResponse,
    tags=["passport"],
    responses={
        200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "the page, or the PDF"},
        403: {"description": "another resident's certificate, or no learning_record consent (detail at `consent`)"},
        404: {"description": "unknown resident, or no learning recorded in the year"},
    },
)
async def get_certificate(
    resident_id: PathId,
    request: Request,
    principal: ResidentOrOperator,
    _audit: Audited,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="calendar year of the learning (default: this year)")
    ] = None,
    lang: Annotated[Literal["zh-CN", "en"], Query(description="language of the page")] = "zh-CN",
    format: Annotated[Literal["html", "pdf"], Query(description="a printable page, or an A4 PDF file")] = "html",
) -> Response:
    """A certificate of learning (学习证明) for a year, as a printable page or a PDF: hours,
    credits, the courses attended, the honours awarded for the year, and a verification code (an
    HMAC with the street's secret of the resident, the year and the minutes) that
    GET /v1/certificates/{code} verifies (the PDF carries that address as a QR code too)."""
    _require_self_or_operator(principal, resident_id)
    year = year or request.app.state.passport.rule.year_of(datetime.now(UTC))  # the street's calendar year
    data = await passports.certificate(_uow(request), request.app.state.passport, resident_id, year)
    if format == "html":
        return HTMLResponse(certificate_page.render(data, lang))
    verify_url = f"{request.app.state.credentials.issuer.base_url}/v1/certificates/{data['code']}"
    key = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    pdf = await asyncio.to_thread(certificate_pdf.render_cached, key, lang, verify_url)  # CPU-bound: off the loop
    disposition = f'attachment; filename="certificate-{resident_id}-{year}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


class CertificateCheckOut(BaseModel):
    valid: bool
    resident_id: str
    year: int
    minutes: int
    hours: float
    reason: str | None = Field(description="why the code is not genuine; null when valid")


@router.get("/certificates/{code}", response_model=CertificateCheckOut, tags=["passport"])
async def verify_certificate(
    code: Annotated[str, Path(min_length=30, max_length=200, pattern=r"^[0-9]+-[0-9]+-[0-9a-f]+-[A-Za-z0-9_.:-]+$")],
    request: Request,
) -> CertificateCheckOut:
    """Verify a certificate of learning by its code, without signing in (whoever holds the paper
    checks it): genuine or not, and what it certifies. The code carries what it certifies, so the
    answer reads nothing about the resident beyond the code itself."""
    return CertificateCheckOut.model_validate(passports.verify_certificate(request.app.state.passport, code))


# --- upcoming sessions, for residents to browse ----------------------------------------------------


class UpcomingSessionOut(BaseModel):
    session_id: str
    course_id: str
    course: Names
    theme: str
    audiences: list[str] = Field(description="audience groups the course admits; empty admits everyone")
    venue_id: str | None
    venue: Names | None = Field(description="null while the catalogue does not know the venue")
    community_id: str | None
    starts_at: datetime
    ends_at: datetime | None
    elderly_priority_until: datetime | None
    capacity: int
    confirmed: int
    waitlisted: int = Field(description="waitlist length")
    seats_left: int


@router.get("/sessions", response_model=list[UpcomingSessionOut], tags=["sessions"])
async def upcoming_sessions(
    request: Request,
    user: Reader,
    community_id: Annotated[str | None, Query(max_length=64, description="only this community's sessions")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=64, description="part of the course title, zh-CN or en")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[UpcomingSessionOut]:
    """Sessions not started yet and open to enrolment, soonest first, with the course's and venue's
    names and the seats left: what a resident browses near their community (the resident page,
    `/m/`). Community workers read their community's; venue staff their venues'."""
    if community_id is not None:
        _check_community(request, community_id)
    rows = await handlers.upcoming_sessions(
        _uow(request), community_id=user.community_filter(community_id), text=q, limit=limit
    )
    return [
        UpcomingSessionOut(
            **{k: r[k] for k in UpcomingSessionOut.model_fields if k in r},
            course={"zh-CN": r["title_zh"], "en": r["title_en"]},
            venue={"zh-CN": r["venue_zh"], "en": r["venue_en"]} if r["venue_zh"] or r["venue_en"] else None,
        )
        for r in rows
        if user.reach_refusal(r["community_id"], r["venue_id"]) is None
    ]
