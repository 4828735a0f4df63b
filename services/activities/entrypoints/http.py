"""The activities service's HTTP API (operators manage courses)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.activities.domain.model import Course, CourseRuleViolated
from services.activities.service_layer import handlers
from shared.events.catalogue import AudienceGroup, ProviderKind
from shared.http.auth import Operator
from shared.http.errors import Invalid

router = APIRouter(prefix="/v1", tags=["courses"])


class CourseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, str_max_length=500)

    course_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    theme: str = Field(min_length=1, max_length=64)
    audiences: list[AudienceGroup] = Field(default_factory=list, max_length=6)
    provider_id: str | None = Field(None, max_length=64)
    provider_kind: ProviderKind | None = None
    brand: str | None = Field(None, max_length=100)
    community_id: str | None = Field(None, max_length=64)


class CourseOut(CourseIn):
    course_id: str
    cancelled: bool = False


def _uow(request: Request):
    return request.app.state.runtime.uow


@router.post("/courses", status_code=status.HTTP_201_CREATED, response_model=CourseOut)
async def create_course(body: CourseIn, request: Request, operator: Operator) -> CourseOut:
    data = body.model_dump()
    data["course_id"] = body.course_id or f"c-{uuid.uuid4().hex[:12]}"
    try:
        course = Course(**data)
    except CourseRuleViolated as e:
        raise Invalid(e.reason, field=e.field) from None
    await handlers.create_course(_uow(request), course, correlation_id=request.headers.get("x-correlation-id"))
    return CourseOut.model_validate(course, from_attributes=True)


@router.get("/courses/{course_id}", response_model=CourseOut)
async def get_course(course_id: str, request: Request, operator: Operator) -> CourseOut:
    course = await handlers.get_course(_uow(request), course_id)
    return CourseOut.model_validate(course, from_attributes=True)
