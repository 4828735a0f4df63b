"""Use cases of the notify service: each runs in a unit of work, calls the model, commits."""

from __future__ import annotations

from collections.abc import Callable

from services.notify.adapters import repository
from services.notify.domain.model import CourseRef
from shared.bus.decoding import Incoming
from shared.db.uow import UnitOfWork
from shared.events.catalogue import CourseCreated
from shared.http.errors import NotFound


async def on_course_created(uow: UnitOfWork, event: CourseCreated, incoming: Incoming) -> None:
    await repository.upsert_course(
        uow.conn,
        CourseRef(
            course_id=event.course_id,
            title_zh=event.title_zh,
            title_en=event.title_en,
            theme=event.theme,
            audiences=[str(a) for a in event.audiences],
        ),
    )


async def get_course(uow_factory: Callable[[], UnitOfWork], course_id: str) -> CourseRef:
    async with uow_factory() as uow:
        course = await repository.get_course(uow.conn, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}", field="course_id")
    return course
