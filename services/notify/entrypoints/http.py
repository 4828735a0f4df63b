"""The notify service's HTTP API: residents' notifications, operators' dead letters and replay."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.notify.adapters import privacy
from services.notify.domain import model
from services.notify.service_layer import handlers
from shared.http import audit
from shared.http.audit import Audited
from shared.http.auth import Operator, Principal, ResidentOrOperator

router = APIRouter(prefix="/v1")

Status = Literal["queued", "deferred", "sending", "sent", "failed", "suppressed", "cancelled"]


class CourseOut(BaseModel):
    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str]
    cancelled: bool


class NotificationOut(BaseModel):
    notification_id: uuid.UUID
    resident_id: str
    kind: str
    status: Status
    status_reason: str | None
    channel: str | None
    language: str | None
    subject: str | None
    text: str | None
    attempts: int
    last_error: str | None
    idempotency_key: str
    session_id: str | None
    enrolment_id: str | None
    triggered_at: datetime
    created_at: datetime
    due_at: datetime
    deferred_at: datetime | None
    last_attempt_at: datetime | None
    sent_at: datetime | None
    failed_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, row) -> NotificationOut:
        data = dict(row)
        data["subject"] = data.pop("rendered_subject")
        data["text"] = data.pop("rendered_body")
        return cls.model_validate(data)


class NotificationsOut(BaseModel):
    resident_id: str
    notifications: list[NotificationOut]


class DeadLetterOut(BaseModel):
    notification_id: uuid.UUID
    resident_id: str
    kind: str
    channel: str | None
    status: Status
    reason: str
    detail: str | None
    attempts: int
    dead_at: datetime
    replayed_at: datetime | None
    replayed_by: str | None


class ReplayOut(BaseModel):
    notification_id: uuid.UUID
    status: Status


class AudienceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    community_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100
    )
    audience_groups: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=20
    )
    themes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=100)
    everyone: bool = False


class BroadcastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broadcast_id: uuid.UUID | None = Field(None, description="give one to make a retried request safe")
    category: Literal["learning_week", "course_promotion"]
    message_zh: str = Field(min_length=1, max_length=500)
    message_en: str = Field(min_length=1, max_length=2000)
    audience: AudienceIn


class BroadcastOut(BaseModel):
    broadcast_id: uuid.UUID
    category: str
    kind: str
    message_zh: str
    message_en: str
    audience: dict
    created_by: str
    created_at: datetime
    targeted: int
    without_contact: int


class BroadcastReport(BroadcastOut):
    pending: int
    sent: int
    failed: int
    suppressed: int
    suppressed_by_reason: dict[str, int]
    last_sent_at: datetime | None


def _uow(request: Request):
    return request.app.state.runtime.uow


def _may_see(principal: Principal, resident_id: str) -> None:
    if principal.role == "operator" or (principal.role == "resident" and principal.subject == resident_id):
        return
    raise HTTPException(status.HTTP_403_FORBIDDEN, "residents may only see their own notifications")


@router.get("/courses/{course_id}", response_model=CourseOut, tags=["reference"])
async def get_course(course_id: str, request: Request, operator: Operator) -> CourseOut:
    course = await handlers.get_course(_uow(request), course_id)
    return CourseOut.model_validate(course, from_attributes=True)


@router.get("/residents/{resident_id}/notifications", response_model=NotificationsOut, tags=["notifications"])
async def resident_notifications(
    resident_id: Annotated[str, Path(min_length=1, max_length=128)],
    request: Request,
    principal: ResidentOrOperator,
    _audit: Audited,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    status_: Annotated[Status | None, Query(alias="status")] = None,
) -> NotificationsOut:
    """A resident's notifications, newest first (the resident themself or an operator)."""
    _may_see(principal, resident_id)
    rows = await handlers.list_notifications(_uow(request), resident_id, limit, status_)
    return NotificationsOut(resident_id=resident_id, notifications=[NotificationOut.of(r) for r in rows])


@router.get("/notifications/{notification_id}", response_model=NotificationOut, tags=["notifications"])
async def get_notification(
    notification_id: uuid.UUID, request: Request, principal: ResidentOrOperator
) -> NotificationOut:
    row = await handlers.get_notification(_uow(request), notification_id)
    _may_see(principal, row["resident_id"])
    await audit.record_access(request, principal, row["resident_id"])
    return NotificationOut.of(row)


@router.get("/residents/{resident_id}/data-export", tags=["privacy"])
async def data_export(
    resident_id: Annotated[str, Path(min_length=1, max_length=128)],
    request: Request,
    principal: ResidentOrOperator,
    _audit: Audited,
) -> dict:
    """Everything notify holds about the resident (JSON: contact data, messages), with who accessed it."""
    _may_see(principal, resident_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        return await privacy.export(conn, resident_id)


audit.add_routes(router)


@router.get("/dead-letters", response_model=list[DeadLetterOut], tags=["operators"])
async def dead_letters(
    request: Request,
    operator: Operator,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_replayed: bool = False,
) -> list[DeadLetterOut]:
    """Notifications that failed for good (permanent error, retries exhausted, no contact)."""
    rows = await handlers.list_dead_letters(_uow(request), limit, include_replayed)
    return [DeadLetterOut.model_validate(dict(r)) for r in rows]


@router.post("/dead-letters/{notification_id}/replay", response_model=ReplayOut, tags=["operators"])
async def replay(notification_id: uuid.UUID, request: Request, operator: Operator) -> ReplayOut:
    """Queue a failed notification again (same idempotency key and text, attempts reset)."""
    s = request.app.state.runtime.settings
    await handlers.replay_dead_letter(
        _uow(request), notification_id, now=request.app.state.clock.now(), contact_wait_s=s.contact_wait_s,
        by=operator.subject,
    )  # fmt: skip
    request.app.state.worker.wake.set()
    return ReplayOut(notification_id=notification_id, status="queued")


@router.post("/broadcasts", status_code=status.HTTP_201_CREATED, response_model=BroadcastOut, tags=["broadcasts"])
async def create_broadcast(body: BroadcastIn, request: Request, operator: Operator) -> BroadcastOut:
    """Send a learning-week announcement or a course promotion to a community, an audience group or
    residents interested in a theme (宣传). Delivery respects consent, opt-outs and quiet hours."""
    runtime = request.app.state.runtime
    a = body.audience
    row = await handlers.create_broadcast(
        _uow(request), broadcast_id=body.broadcast_id or uuid.uuid4(), category=body.category,
        message_zh=body.message_zh, message_en=body.message_en,
        audience=model.Audience(tuple(a.community_ids), tuple(a.audience_groups), tuple(a.themes), a.everyone),
        created_by=operator.subject, now=request.app.state.clock.now(),
        rate_per_s=runtime.settings.broadcast_rate_per_s, reference=request.app.state.worker.templates.reference,
    )  # fmt: skip
    request.app.state.worker.wake.set()
    return BroadcastOut.model_validate(dict(row))


@router.get("/broadcasts", response_model=list[BroadcastOut], tags=["broadcasts"])
async def list_broadcasts(
    request: Request, operator: Operator, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[BroadcastOut]:
    rows = await handlers.list_broadcasts(_uow(request), limit)
    return [BroadcastOut.model_validate(dict(r)) for r in rows]


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastReport, tags=["broadcasts"])
async def broadcast_report(broadcast_id: uuid.UUID, request: Request, operator: Operator) -> BroadcastReport:
    """The broadcast's report: targeted, suppressed (by reason), sent, failed and still pending."""
    return BroadcastReport.model_validate(await handlers.broadcast_report(_uow(request), broadcast_id))
