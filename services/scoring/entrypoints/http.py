"""The scoring service's HTTP API: the index, its history, the rectification list, assessments, honours."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.scoring.adapters import privacy, repository
from services.scoring.domain.indicators import DENOMINATORS, LEVELS, METRICS, Indicator
from services.scoring.domain.street import local_day
from services.scoring.service_layer import handlers
from services.scoring.service_layer.index import IndexEngine
from shared.events.envelope import utcnow
from shared.http import audit
from shared.http.audit import Audited
from shared.http.auth import AnyUser, Assessor, Operator, ResidentOrOperator
from shared.http.errors import Invalid, NotFound

router = APIRouter(prefix="/v1", tags=["scoring"])

ID = r"^[A-Za-z0-9_.:-]+$"


def _engine(request: Request) -> IndexEngine:
    return request.app.state.index


def _uow(request: Request):
    return request.app.state.runtime.uow


def _community(engine: IndexEngine, community_id: str) -> dict[str, Any]:
    view = engine.snapshot.get(community_id)
    if view is None:
        known = ", ".join(sorted(engine.populations))
        raise NotFound(f"unknown community {community_id!r}; one of {known}", field="community_id")
    return view


def _meta(engine: IndexEngine) -> dict[str, Any]:
    return {
        "indicators_version": engine.indicators.version,
        "computed_at": engine.computed_at.isoformat() if engine.computed_at else None,
        "generation": engine.generation,
    }


@router.get("/index")
async def index_overview(request: Request, user: AnyUser) -> dict[str, Any]:
    """Totals and aspect scores of the street and every community (cheap to poll: served from the cache)."""
    engine = _engine(request)
    communities = []
    for community, view in engine.snapshot.items():
        communities.append({
            "community_id": community, **engine.names.get(community, {}), "total": view["total"],
            "aspects": {a["id"]: a["score"] for a in view["aspects"]},
            "below_pass_line": len(view["rectification"]),
        })  # fmt: skip
    return {**_meta(engine), "max": engine.indicators.total, "communities": communities}


@router.get("/index/{community_id}")
async def index_detail(community_id: str, request: Request, user: AnyUser) -> dict[str, Any]:
    """One community's (or `street`'s) index: aspects, leaves, and how each value was computed."""
    engine = _engine(request)
    view = _community(engine, community_id)
    return {**_meta(engine), "community_id": community_id, **engine.names.get(community_id, {}),
            "total": view["total"], "max": view["max"], "aspects": view["aspects"]}  # fmt: skip


@router.get("/index/{community_id}/rectification")
async def rectification(community_id: str, request: Request, user: AnyUser) -> dict[str, Any]:
    """Indicators below their pass line, with the gap and what would close it (整改清单)."""
    engine = _engine(request)
    view = _community(engine, community_id)
    return {**_meta(engine), "community_id": community_id, "items": view["rectification"]}


@router.get("/index/{community_id}/history")
async def index_history(
    community_id: str, request: Request, user: AnyUser, days: int = Query(90, ge=1, le=3650)
) -> dict[str, Any]:
    engine = _engine(request)
    _community(engine, community_id)
    since = local_day(utcnow()) - timedelta(days=days - 1)
    async with _uow(request)() as uow:
        rows = await repository.history(uow.conn, community_id, since)
    return {"community_id": community_id, "days": [{"day": r["day"].isoformat(), "total": r["total"],
                                                    "aspects": r["aspects"]} for r in rows]}  # fmt: skip


def _indicator(i: Indicator) -> dict[str, Any]:
    out = {"id": i.id, "kind": i.kind, "metric": i.metric, "max": i.max, "name_zh": i.name_zh, "name_en": i.name_en,
           "levels": {level: {"target": i.at(level).target, "pass_line": i.at(level).pass_line} for level in LEVELS},
           "target": i.target, "pass_line": i.pass_line}  # fmt: skip
    if i.metric:
        per = i.denominator or METRICS[i.metric].denominator
        out.update(denominator=per, denominator_en=DENOMINATORS[per][0], denominator_zh=DENOMINATORS[per][1])
    return out


@router.get("/indicators")
async def indicators(request: Request, user: AnyUser) -> dict[str, Any]:
    """The indicator file in force: per leaf its denominator (named) and its target and pass line per
    level (community, street); `target` and `pass_line` are the community level's."""
    ind = _engine(request).indicators
    return {"version": ind.version, "total": ind.total, "aspects": [
        {"id": a.id, "name_zh": a.name_zh, "name_en": a.name_en, "max": a.max,
         "indicators": [_indicator(i) for i in a.indicators]} for a in ind.aspects]}  # fmt: skip


# --- assessments -----------------------------------------------------------------------------------


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    indicator_id: str = Field(min_length=1, max_length=100, pattern=ID)
    community_id: str = Field(min_length=1, max_length=64, pattern=ID)
    score: float = Field(ge=0, allow_inf_nan=False)
    evidence_text: str = Field(min_length=1, max_length=5000)
    evidence_url: HttpUrl | None = None


@router.post("/assessments", status_code=status.HTTP_201_CREATED)
async def record_assessment(body: AssessmentIn, request: Request, assessor: Assessor) -> dict[str, Any]:
    """An assessor's score with evidence for an assessed indicator; kept with its history."""
    engine = _engine(request)
    ind = engine.indicators.indicators.get(body.indicator_id)
    if ind is None:
        raise Invalid(f"unknown indicator {body.indicator_id!r} in {engine.indicators.version}", field="indicator_id")
    if ind.kind != "assessed":
        raise Invalid(f"indicator {ind.id} is computed from events and cannot be assessed", field="indicator_id")
    if body.score > ind.max:
        raise Invalid(f"score {body.score:g} exceeds the indicator's max {ind.max:g}", field="score")
    if body.community_id not in engine.populations:
        raise Invalid(f"unknown community {body.community_id!r}", field="community_id")
    row = await handlers.record_assessment(
        _uow(request),
        {**body.model_dump(), "evidence_url": str(body.evidence_url) if body.evidence_url else None,
         "assessor": assessor.subject},
    )  # fmt: skip
    engine.mark(set())
    return _assessment_out(row)


def _assessment_out(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "recorded_at": r["recorded_at"].isoformat()}


@router.get("/assessments")
async def list_assessments(
    request: Request,
    assessor: Assessor,
    community_id: str | None = Query(None, max_length=64),
    indicator_id: str | None = Query(None, max_length=100),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    async with _uow(request)() as uow:
        rows = await repository.list_assessments(uow.conn, community_id, indicator_id, limit)
    return {"items": [_assessment_out(r) for r in rows]}


# --- honours -------------------------------------------------------------------------------------


def _honour_out(engine: IndexEngine, r: dict[str, Any]) -> dict[str, Any]:
    names = engine.reference
    out = {k: v for k, v in r.items() if k != "new"}
    out.update(
        honour_id=str(r["honour_id"]),
        name_zh=names.honour_name(r["kind"], "zh-CN"),
        name_en=names.honour_name(r["kind"], "en"),
    )
    for k in ("awarded_at", "revoked_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    return out


@router.get("/honours")
async def list_honours(
    request: Request,
    user: AnyUser,
    _audit: Audited,
    period: str | None = Query(None, pattern=r"^\d{4}$"),
    community_id: str | None = Query(None, max_length=64),
    resident_id: str | None = Query(None, max_length=64),
    kind: str | None = Query(None, max_length=100),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Honours by period, community or resident. Residents see only their own."""
    if user.role == "resident":
        if resident_id is not None and resident_id != user.subject:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "residents may only see their own honours")
        resident_id = user.subject
    async with _uow(request)() as uow:
        rows = await repository.list_honours(
            uow.conn, period=period, community_id=community_id, resident_id=resident_id, kind=kind, limit=limit
        )
    return {"items": [_honour_out(_engine(request), r) for r in rows]}


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/honours/{honour_id}/revoke")
async def revoke_honour(honour_id: uuid.UUID, body: RevokeIn, request: Request, operator: Operator) -> dict:
    await handlers.revoke_honour(_uow(request), honour_id, body.reason)
    _engine(request).mark(set())
    return {"honour_id": str(honour_id), "revoked": True, "reason": body.reason}


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    place: int = Field(ge=1, le=100)
    resident_id: str = Field(min_length=1, max_length=64, pattern=ID)
    community_id: str | None = Field(None, max_length=64, pattern=ID)


class CompetitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    period: str = Field(pattern=r"^\d{4}$")
    results: list[PlaceIn] = Field(min_length=1, max_length=500)


@router.post("/competitions/{competition_id}/results", status_code=status.HTTP_201_CREATED)
async def competition_results(
    competition_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID)],
    body: CompetitionIn,
    request: Request,
    operator: Operator,
) -> dict[str, Any]:
    """Knowledge-competition places; each resident is honoured once per competition and period."""
    seen: set[str] = set()
    for i, r in enumerate(body.results):
        if r.resident_id in seen:
            raise Invalid(f"resident {r.resident_id} listed twice", field=f"results.{i}.resident_id")
        seen.add(r.resident_id)
    engine = _engine(request)
    for i, r in enumerate(body.results):
        if r.community_id is not None and r.community_id not in engine.populations:
            raise Invalid(f"unknown community {r.community_id!r}", field=f"results.{i}.community_id")
    rows = await handlers.record_competition(
        _uow(request), competition_id, body.period, [r.model_dump() for r in body.results]
    )
    engine.mark(set())
    return {"competition_id": competition_id, "awarded": [{**_honour_out(engine, r), "new": r["new"]} for r in rows]}


# --- courses (what scoring learnt from the catalogue) ---------------------------------------------


class CourseOut(BaseModel):
    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str]
    cancelled: bool


@router.get("/courses/{course_id}", response_model=CourseOut)
async def get_course(course_id: str, request: Request, operator: Operator) -> CourseOut:
    course = await handlers.get_course(_uow(request), course_id)
    return CourseOut.model_validate(course, from_attributes=True)


@router.get("/residents/{resident_id}/data-export", tags=["privacy"])
async def data_export(
    resident_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID)],
    request: Request,
    user: ResidentOrOperator,
    _audit: Audited,
) -> dict:
    """Everything scoring holds about the resident (JSON: attendance, minutes, honours), with who accessed it."""
    if user.role == "resident" and user.subject != resident_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "residents see only their own data")
    async with request.app.state.runtime.pool.acquire() as conn:
        return await privacy.export(conn, resident_id)


audit.add_routes(router)
