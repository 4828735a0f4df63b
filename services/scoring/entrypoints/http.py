"""The scoring service's HTTP API: the index, its history, the rectification list, assessments, honours."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.scoring.adapters import privacy, repository
from services.scoring.domain import assessment, selection
from services.scoring.domain import rectification as rectification_rules
from services.scoring.domain.indicators import DENOMINATORS, LEVELS, METRICS, Indicator
from services.scoring.domain.street import STREET, local_day
from services.scoring.service_layer import evidence, handlers, registry
from services.scoring.service_layer.index import IndexEngine
from shared.events.envelope import utcnow
from shared.http import audit
from shared.http.audit import Audited
from shared.http.auth import (
    AnyUser,
    CommunityReader,
    CommunityStaff,
    EvaluationStaff,
    Operator,
    Principal,
    ResidentOrOperator,
)
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


def _check_index_reach(user: Principal, community_id: str) -> None:
    """A community worker reads their community's index, and the street's (read-only, the total
    their community counts towards); another community's is 403."""
    if community_id != STREET:
        user.check_reach(community_id)


@router.get("/index")
async def index_overview(request: Request, user: CommunityReader) -> dict[str, Any]:
    """Totals and aspect scores of the street and every community (cheap to poll: served from the
    cache); a community worker gets the street's and their community's rows only."""
    engine = _engine(request)
    communities = []
    for community, view in engine.snapshot.items():
        if community != STREET and user.reach_refusal(community) is not None:
            continue
        communities.append({
            "community_id": community, **engine.names.get(community, {}), "total": view["total"],
            "aspects": {a["id"]: a["score"] for a in view["aspects"]},
            "below_pass_line": len(view["rectification"]),
        })  # fmt: skip
    return {**_meta(engine), "max": engine.indicators.total, "communities": communities}


@router.get("/index/{community_id}")
async def index_detail(community_id: str, request: Request, user: CommunityReader) -> dict[str, Any]:
    """One community's (or `street`'s) index: aspects, leaves, and how each value was computed."""
    _check_index_reach(user, community_id)
    engine = _engine(request)
    view = _community(engine, community_id)
    # Assessed leaves link their evidence files (service_layer/evidence.py), for the report and dashboard.
    aspects = await evidence.with_links(_uow(request), community_id, view["aspects"], user.role, user.community_id)
    return {**_meta(engine), "community_id": community_id, **engine.names.get(community_id, {}),
            "total": view["total"], "max": view["max"], "aspects": aspects,
            # late attendance counted in this period after its own closed (domain/periods.py)
            **{k: view[k] for k in ("late_counted", "late_zh", "late_en") if k in view}}  # fmt: skip


@router.get("/index/{community_id}/rectification")
async def rectification(community_id: str, request: Request, user: CommunityReader) -> dict[str, Any]:
    """Indicators below their pass line, with the gap and what would close it (整改清单), and each
    item's rectification task (null when none was opened). A community worker: their community's."""
    user.check_reach(community_id)
    engine = _engine(request)
    view = _community(engine, community_id)
    async with _uow(request)() as uow:
        tasks = await repository.tasks_for_items(uow.conn, community_id)
    today = _today(engine)
    items = []
    for item in view["rectification"]:
        t = tasks.get(item["indicator_id"])
        task = None
        if t is not None:
            task = {k: v for k, v in _task_out(t, today).items() if k in TASK_SUMMARY}
        items.append({**item, "task": task})
    return {**_meta(engine), "community_id": community_id, "items": items}


# What the rectification list shows of an item's task (its task in hand, else its latest verified one).
TASK_SUMMARY = ("task_id", "status", "owner_kind", "owner", "deadline", "overdue", "updated_at")


@router.get("/index/{community_id}/history")
async def index_history(
    community_id: str, request: Request, user: CommunityReader, days: int = Query(90, ge=1, le=3650)
) -> dict[str, Any]:
    _check_index_reach(user, community_id)
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


@router.get("/indicators", openapi_extra={"x-scope": ["reference"]})
async def indicators(request: Request, user: CommunityReader) -> dict[str, Any]:
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
    # self (自评) or expert (专家评估); without it, an assessor's is expert and anyone else's self.
    kind: Literal["self", "expert"] | None = None


def _scoped(staff: Principal, community_id: str | None) -> str | None:
    """A community worker works on its own community only (403 for another); others on any."""
    if staff.role != "community_worker":
        return community_id
    if community_id is not None and community_id != staff.community_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you act for community {staff.community_id} only")
    return staff.community_id


@router.post("/assessments", status_code=status.HTTP_201_CREATED)
async def record_assessment(body: AssessmentIn, request: Request, staff: EvaluationStaff) -> dict[str, Any]:
    """A score with evidence for an assessed indicator, kept with its history: an expert assessment
    (role assessor only) or a self-assessment (an operator, or a community worker for its community).
    The two kinds are kept apart; the index uses the latest expert score, else the latest self score."""
    engine = _engine(request)
    try:
        kind, role = assessment.kind_for(body.kind, staff.role, staff.roles)
    except assessment.NotPermitted as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    if role == "community_worker":
        _scoped(staff, body.community_id)
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
         "assessor": staff.subject, "kind": kind, "actor_role": role},
    )  # fmt: skip
    engine.mark(set())
    return _assessment_out(row)


def _assessment_out(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "recorded_at": r["recorded_at"].isoformat()}


@router.get("/assessments")
async def list_assessments(
    request: Request,
    staff: EvaluationStaff,
    community_id: str | None = Query(None, max_length=64),
    indicator_id: str | None = Query(None, max_length=100),
    kind: Literal["self", "expert"] | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Assessments, newest first, of either kind or one (a community worker: its community's)."""
    community_id = _scoped(staff, community_id)
    async with _uow(request)() as uow:
        rows = await repository.list_assessments(uow.conn, community_id, indicator_id, limit, kind)
    return {"items": [_assessment_out(r) for r in rows]}


# --- rectification tasks (整改任务, domain/rectification.py) ------------------------------------------


def _communities(engine: IndexEngine) -> set[str]:
    """Community workstations (the street's items go to its departments or to a workstation)."""
    return {c for c in engine.populations if c != STREET}


def _task_out(t: dict[str, Any], today) -> dict[str, Any]:
    out = {k: v for k, v in t.items() if k not in ("steps", "comments")}
    out.update(task_id=str(t["task_id"]), deadline=t["deadline"].isoformat(), opened_at=t["opened_at"].isoformat(),
               updated_at=t["updated_at"].isoformat(),
               overdue=rectification_rules.is_overdue(t["status"], t["deadline"], today))  # fmt: skip
    return out


def _today(engine: IndexEngine):
    return local_day(engine.clock())


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    community_id: str = Field(min_length=1, max_length=64, pattern=ID)
    indicator_id: str = Field(min_length=1, max_length=100, pattern=ID)
    owner_kind: Literal["department", "community"]
    owner: str = Field(min_length=1, max_length=100)
    deadline: date


@router.post("/rectification-tasks", status_code=status.HTTP_201_CREATED)
async def open_task(body: TaskIn, request: Request, operator: Operator) -> dict[str, Any]:
    """Turns an item of a rectification list (an indicator below its pass line now) into a task with an
    owner (a street department, or a community workstation) and a deadline (409 while the item has one)."""
    engine = _engine(request)
    view = _community(engine, body.community_id)
    item = next((i for i in view["rectification"] if i["indicator_id"] == body.indicator_id), None)
    if item is None:
        raise Invalid(f"indicator {body.indicator_id!r} of {body.community_id} is not on its rectification list",
                      field="indicator_id")  # fmt: skip
    t = await handlers.open_task(
        _uow(request), body.model_dump(), item, _communities(engine), _actor(operator), engine.clock()
    )
    engine.mark(set())
    return _task_out(t, _today(engine))


class TaskChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    status: str | None = Field(None, max_length=20)
    reason: str | None = Field(None, max_length=2000)
    owner_kind: Literal["department", "community"] | None = None
    owner: str | None = Field(None, min_length=1, max_length=100)
    deadline: date | None = None


@router.patch("/rectification-tasks/{task_id}")
async def change_task(task_id: uuid.UUID, body: TaskChangeIn, request: Request, staff: EvaluationStaff) -> dict:
    """A status step: the owner (its community's workers, or an operator) open → in_progress → done; an
    assessor or operator done → verified, or done → open with a reason. An operator also reassigns
    the owner or moves the deadline. 409 for a step the status does not allow, 403 for the wrong person."""
    change = body.model_dump(exclude_none=True)
    if not {"status", "owner_kind", "owner", "deadline"} & change.keys():
        raise Invalid("nothing to change: give a status, an owner or a deadline", field="status")
    engine = _engine(request)
    try:
        t = await handlers.change_task(
            _uow(request), task_id, change, _communities(engine), _actor(staff), staff.community_id, engine.clock()
        )
    except handlers.Forbidden as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    engine.mark(set())
    return _task_out(t, _today(engine))


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    body: str = Field(min_length=1, max_length=4000)


@router.post("/rectification-tasks/{task_id}/comments", status_code=status.HTTP_201_CREATED)
async def comment_task(task_id: uuid.UUID, body: CommentIn, request: Request, staff: EvaluationStaff) -> dict:
    """A comment on a task (operators and assessors on any, a community worker on its community's)."""
    engine = _engine(request)
    try:
        c = await handlers.comment_task(
            _uow(request), task_id, body.body, _actor(staff), staff.community_id, engine.clock()
        )
    except handlers.Forbidden as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    return {**c, "comment_id": str(c["comment_id"]), "task_id": str(c["task_id"]), "at": c["at"].isoformat()}


TASK_STATUS_QUERY = "^(" + "|".join(rectification_rules.TASK_STATUSES) + ")$"


@router.get("/rectification-tasks")
async def list_tasks(
    request: Request,
    staff: EvaluationStaff,
    community_id: str | None = Query(None, max_length=64),
    task_status: str | None = Query(None, alias="status", pattern=TASK_STATUS_QUERY),
    owner: str | None = Query(None, max_length=100),
    overdue: bool = False,
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Tasks by the item's community, status, owner, or only the overdue ones (past the deadline day,
    not done). A community worker sees its community's items and its workstation's tasks."""
    engine = _engine(request)
    today = _today(engine)
    workstation = staff.community_id if staff.role == "community_worker" else None
    async with _uow(request)() as uow:
        rows = await repository.list_tasks(
            uow.conn, community_id=community_id, status=task_status, owner=owner, workstation=workstation,
            overdue_on=today if overdue else None, limit=limit,
        )  # fmt: skip
    return {"items": [_task_out(t, today) for t in rows]}


@router.get("/rectification-tasks/{task_id}")
async def task_record(task_id: uuid.UUID, request: Request, staff: EvaluationStaff) -> dict[str, Any]:
    """One task with every change (who, when) and its comments."""
    t = await handlers.task_record(_uow(request), task_id)
    if staff.role == "community_worker" and staff.community_id not in (t["community_id"], t["owner"]):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you act for community {staff.community_id} only")
    out = _task_out(t, _today(_engine(request)))
    out["steps"] = [{**s, "task_id": str(s["task_id"]), "at": s["at"].isoformat()} for s in t["steps"]]
    out["comments"] = [{**c, "comment_id": str(c["comment_id"]), "task_id": str(c["task_id"]),
                        "at": c["at"].isoformat()} for c in t["comments"]]  # fmt: skip
    return out


# --- honours and their selection (domain/selection.py) ----------------------------------------------

# Without `state`, the list holds the honours awarded (and later revoked), as it did before selection.
DEFAULT_STATES = [selection.AWARDED, selection.REVOKED]
STATE_QUERY = "^(" + "|".join((*selection.STATES, "all")) + ")$"


def _actor(p: Principal) -> handlers.Actor:
    return handlers.Actor(p.subject, p.role)


def _states(state: str | None) -> list[str]:
    if state is None:
        return DEFAULT_STATES
    return list(selection.STATES) if state == "all" else [state]


def _honour_out(engine: IndexEngine, r: dict[str, Any]) -> dict[str, Any]:
    names = engine.reference
    out = {k: v for k, v in r.items() if k not in ("new", "steps", "objections")}
    out.update(
        honour_id=str(r["honour_id"]),
        name_zh=names.honour_name(r["kind"], "zh-CN"),
        name_en=names.honour_name(r["kind"], "en"),
    )
    for k in ("awarded_at", "revoked_at", "nominated_at", "notice_starts_at", "notice_ends_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    return out


def _own(user: Principal, r: dict[str, Any]) -> bool:
    return r.get("recipient_id") == user.subject or user.subject in (r.get("resident_ids") or [])


def _public_notice(r: dict[str, Any]) -> dict[str, Any]:
    """A notice (公示) as a resident sees another resident's candidacy: what and where, not the card number."""
    return {**r, "recipient_id": None, "resident_ids": []}


@router.get("/honours", openapi_extra={"x-scope": ["self", "notice", "community"]})
async def list_honours(
    request: Request,
    user: CommunityReader,
    _audit: Audited,
    period: str | None = Query(None, pattern=r"^\d{4}$"),
    community_id: str | None = Query(None, max_length=64),
    resident_id: str | None = Query(None, max_length=64),
    kind: str | None = Query(None, max_length=100),
    state: str | None = Query(None, pattern=STATE_QUERY),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Honours by state (default: awarded and revoked; `all`, or one of nominated, community_approved,
    rejected, in_notice, withdrawn), period, community or resident. Residents see their own, and
    every candidate in its notice period (公示) without the recipient's identifiers; a community
    worker their community's (403 for a filter naming another)."""
    engine = _engine(request)
    community_id = user.community_filter(community_id)
    notices = user.role == "resident" and state == selection.IN_NOTICE and resident_id is None
    if user.role == "resident" and not notices:
        if resident_id is not None and resident_id != user.subject:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "residents may only see their own honours")
        resident_id = user.subject
    async with _uow(request)() as uow:
        rows = await repository.list_honours(
            uow.conn, period=period, community_id=community_id, resident_id=resident_id, kind=kind,
            states=_states(state), limit=limit,
        )  # fmt: skip
    if notices:
        rows = [r if _own(user, r) else _public_notice(r) for r in rows]
    return {"items": [_honour_out(engine, r) for r in rows]}


@router.get("/honour-candidates")
async def list_candidates(
    request: Request,
    staff: CommunityStaff,
    community_id: str | None = Query(None, max_length=64),
    state: str | None = Query(None, pattern=STATE_QUERY),
    period: str | None = Query(None, pattern=r"^\d{4}$"),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """A community workstation's candidates (default: those waiting for its review, nominated); a
    community worker sees its own community only, an operator any."""
    if staff.role == "community_worker":
        if community_id is not None and community_id != staff.community_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"you act for community {staff.community_id} only")
        community_id = staff.community_id
    states = [selection.NOMINATED] if state is None else _states(state)
    async with _uow(request)() as uow:
        rows = await repository.list_honours(
            uow.conn, period=period, community_id=community_id, states=states, limit=limit
        )
    return {"items": [_honour_out(_engine(request), r) for r in rows]}


def _step_out(s: dict[str, Any], user: Principal) -> dict[str, Any]:
    out = {k: v for k, v in s.items() if k not in ("step_id",)}
    out.update(honour_id=str(s["honour_id"]), at=s["at"].isoformat())
    if s.get("objection_id") is not None:
        out["objection_id"] = str(s["objection_id"])
    # Staff act in their office and are named; a resident who objected is named to staff and to themselves.
    if user.role == "resident" and s["actor_role"] == "resident" and s["acted_by"] != user.subject:
        out["acted_by"] = None
    return out


def _objection_out(o: dict[str, Any]) -> dict[str, Any]:
    out = {**o, "objection_id": str(o["objection_id"]), "honour_id": str(o["honour_id"])}
    for k in ("lodged_at", "resolved_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    return out


@router.get("/honours/{honour_id}", openapi_extra={"x-scope": ["self", "notice", "community"]})
async def honour_record(honour_id: uuid.UUID, request: Request, user: CommunityReader) -> dict[str, Any]:
    """One honour's state and its selection record: every step with who took it and when, and the
    objections. A resident sees their own honours and the candidates in notice; a community worker
    their community's."""
    r = await handlers.honour_record(_uow(request), honour_id)
    user.check_reach(r["community_id"])
    if user.role == "resident" and not _own(user, r):
        if r["state"] != selection.IN_NOTICE:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "residents see their own honours and those in notice")
        r = {**_public_notice(r), "objections": [o for o in r["objections"] if o["lodged_by"] == user.subject],
             "steps": r["steps"]}  # fmt: skip
    out = _honour_out(_engine(request), r)
    out["steps"] = [_step_out(s, user) for s in r["steps"]]
    out["objections"] = [_objection_out(o) for o in r["objections"]]
    return out


Decision = Literal["approved", "rejected"]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    decision: Decision
    reason: str | None = Field(None, max_length=1000)


@router.post("/honours/{honour_id}/community-review")
async def community_review(honour_id: uuid.UUID, body: ReviewIn, request: Request, staff: CommunityStaff) -> dict:
    """A community workstation approves its candidate or rejects it with a reason."""
    engine = _engine(request)
    scope = staff.community_id if staff.role == "community_worker" else None
    try:
        h = await handlers.review_candidate(
            _uow(request), honour_id, body.decision, body.reason, _actor(staff), engine.clock(), scope=scope
        )
    except handlers.Forbidden as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    return _honour_out(engine, h)


@router.post("/honours/{honour_id}/street-review")
async def street_review(honour_id: uuid.UUID, body: ReviewIn, request: Request, operator: Operator) -> dict:
    """The street approves a candidate its community approved, within the quota of the indicator file
    (409 naming the quota when it is full), which starts the notice period; or rejects it with a reason."""
    engine = _engine(request)
    h = await handlers.street_decision(
        _uow(request), honour_id, body.decision, body.reason, _actor(operator), engine.clock(),
        engine.indicators.selection,
    )  # fmt: skip
    return _honour_out(engine, h)


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/honours/{honour_id}/objections", status_code=status.HTTP_201_CREATED)
async def lodge_objection(honour_id: uuid.UUID, body: ObjectionIn, request: Request, user: AnyUser) -> dict:
    """Anyone signed in objects to a candidate in its notice period, with a reason (409 outside it)."""
    o = await handlers.lodge_objection(_uow(request), honour_id, body.reason, _actor(user), _engine(request).clock())
    return _objection_out(o)


class ResolutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    outcome: Literal["upheld", "dismissed"]
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/honours/{honour_id}/objections/{objection_id}/resolve")
async def resolve_objection(
    honour_id: uuid.UUID, objection_id: uuid.UUID, body: ResolutionIn, request: Request, operator: Operator
) -> dict:
    """An operator resolves an objection: upheld withdraws the candidate, dismissed lets its notice go on."""
    engine = _engine(request)
    h = await handlers.resolve_objection(
        _uow(request), honour_id, objection_id, body.outcome, body.reason, _actor(operator), engine.clock()
    )
    engine.mark(set())
    return _honour_out(engine, h)


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/honours/{honour_id}/revoke")
async def revoke_honour(honour_id: uuid.UUID, body: RevokeIn, request: Request, operator: Operator) -> dict:
    """Revokes an awarded honour with a reason (409 for a candidate: reject it or object instead)."""
    engine = _engine(request)
    await handlers.revoke_honour(_uow(request), honour_id, body.reason, _actor(operator), engine.clock())
    engine.mark(set())
    return {"honour_id": str(honour_id), "revoked": True, "reason": body.reason}


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    place: int = Field(ge=1, le=100)
    resident_id: str = Field(min_length=1, max_length=64, pattern=ID)
    community_id: str | None = Field(None, max_length=64, pattern=ID)


class CompetitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    period: str = Field(pattern=r"^\d{4}$")
    round: int = Field(ge=1)  # one of the competition's rounds (POST /v1/competitions set them up)
    results: list[PlaceIn] = Field(min_length=1, max_length=500)


@router.post("/competitions/{competition_id}/results", status_code=status.HTTP_201_CREATED)
async def competition_results(
    competition_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID)],
    body: CompetitionIn,
    request: Request,
    operator: Operator,
) -> dict[str, Any]:
    """Knowledge-competition places of one round of a set-up competition: candidates (or, with
    automatic selection, honours) with their rank; each resident is nominated once per competition and
    period. 422 naming the field for a competition not set up, a round it lacks, a rank past its places."""
    seen: set[str] = set()
    for i, r in enumerate(body.results):
        if r.resident_id in seen:
            raise Invalid(f"resident {r.resident_id} listed twice", field=f"results.{i}.resident_id")
        seen.add(r.resident_id)
    engine = _engine(request)
    for i, r in enumerate(body.results):
        if r.community_id is not None and r.community_id not in engine.populations:
            raise Invalid(f"unknown community {r.community_id!r}", field=f"results.{i}.community_id")
    await registry.check_competition_results(_uow(request), competition_id, body.round, [r.place for r in body.results])
    rows = await handlers.record_competition(
        _uow(request), competition_id, body.period, [r.model_dump() for r in body.results],
        engine.indicators.selection, _actor(operator), engine.clock(),
    )  # fmt: skip
    engine.mark(set())
    out = [{**_honour_out(engine, r), "new": r["new"]} for r in rows]
    # "awarded" kept for clients written before selection: the same list, each with its state.
    return {"competition_id": competition_id, "nominated": out, "awarded": out}


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
