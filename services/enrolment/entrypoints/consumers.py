"""Which events the enrolment service consumes, and the handler of each."""

from __future__ import annotations

from services.enrolment.service_layer import handlers
from shared.bus.dispatch import batch_dispatcher
from shared.events import topics
from shared.events.catalogue import (
    CourseCancelled,
    CourseCreated,
    CourseUpdated,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
)
from shared.runtime import Runtime


def register(runtime: Runtime) -> None:
    runtime.consume(
        topics.CATALOGUE.name,
        handle=batch_dispatcher(
            runtime.uow,
            {
                CourseCreated: handlers.on_course_created,
                CourseUpdated: handlers.on_course_created,
                CourseCancelled: handlers.on_course_cancelled,
                SessionScheduled: handlers.on_session_scheduled,
                SessionChanged: handlers.on_session_scheduled,
                SessionCancelled: handlers.on_session_cancelled,
            },
        ),
        description="Courses and sessions from the activities service.",
    )
