"""Which events the scoring service consumes, and the handler of each."""

from __future__ import annotations

from services.scoring.service_layer import handlers
from shared.bus.dispatch import batch_dispatcher
from shared.events import topics
from shared.events.catalogue import CourseCreated
from shared.runtime import Runtime


def register(runtime: Runtime) -> None:
    runtime.consume(
        topics.CATALOGUE.name,
        handle=batch_dispatcher(runtime.uow, {CourseCreated: handlers.on_course_created}),
        description="Courses and sessions from the activities service.",
    )
