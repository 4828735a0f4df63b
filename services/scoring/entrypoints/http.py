"""The scoring service's HTTP API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.scoring.service_layer import handlers
from shared.http.auth import Operator

router = APIRouter(prefix="/v1", tags=["courses"])


class CourseOut(BaseModel):
    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str]
    cancelled: bool


@router.get("/courses/{course_id}", response_model=CourseOut)
async def get_course(course_id: str, request: Request, operator: Operator) -> CourseOut:
    course = await handlers.get_course(request.app.state.runtime.uow, course_id)
    return CourseOut.model_validate(course, from_attributes=True)
