"""Which events the enrolment service consumes, and the handler of each."""

from __future__ import annotations

from services.enrolment.service_layer import handlers
from shared.bus.dispatch import Handlers
from shared.catalogue import projection as catalogue
from shared.events import topics
from shared.events.catalogue import CourseCancelled, SessionCancelled, SessionChanged, SessionScheduled
from shared.runtime import Runtime

# The catalogue read model, with enrolment's own reactions where a change affects enrolments.
HANDLERS: Handlers = {
    **catalogue.HANDLERS,
    CourseCancelled: handlers.on_course_cancelled,
    SessionScheduled: handlers.on_session_scheduled,
    SessionChanged: handlers.on_session_scheduled,
    SessionCancelled: handlers.on_session_cancelled,
}


def register(runtime: Runtime) -> None:
    runtime.consume(
        topics.CATALOGUE.name,
        handlers=HANDLERS,
        description="Venues, courses and sessions from the activities service.",
    )
