"""Use cases of the activities service: each opens a unit of work, calls the model, commits."""

from __future__ import annotations

from collections.abc import Callable

from services.activities.adapters import repository
from services.activities.domain.model import Course
from shared.db.uow import UnitOfWork
from shared.events.catalogue import CourseCreated
from shared.events.envelope import envelop
from shared.http.errors import Conflict, NotFound

SOURCE = "learnstreet/activities"


async def create_course(
    uow_factory: Callable[[], UnitOfWork], course: Course, *, correlation_id: str | None = None
) -> Course:
    async with uow_factory() as uow:
        if not await repository.add_course(uow.conn, course):
            raise Conflict(f"course {course.course_id} exists already", field="course_id")
        uow.publish(
            envelop(
                CourseCreated(
                    course_id=course.course_id,
                    title_zh=course.title_zh,
                    title_en=course.title_en,
                    theme=course.theme,
                    audiences=course.audiences,
                    provider_id=course.provider_id,
                    provider_kind=course.provider_kind,
                    brand=course.brand,
                    community_id=course.community_id,
                ),
                source=SOURCE,
                correlation_id=correlation_id,
            )
        )
        await uow.commit()
    return course


async def get_course(uow_factory: Callable[[], UnitOfWork], course_id: str) -> Course:
    async with uow_factory() as uow:
        course = await repository.get_course(uow.conn, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}", field="course_id")
    return course
