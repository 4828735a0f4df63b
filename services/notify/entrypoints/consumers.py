"""Which events the notify service consumes, and the handler of each.

Each handler only records rows in the batch's transaction (with the inbox); after a batch is
committed the delivery worker is woken so messages go out without waiting for its next poll."""

from __future__ import annotations

from collections.abc import Callable

from services.notify.service_layer.handlers import EventHandlers
from shared.bus.consumer import BatchHandler
from shared.bus.dispatch import batch_dispatcher
from shared.events import topics
from shared.events.catalogue import (
    CourseCancelled,
    CourseCreated,
    CourseUpdated,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    ResidentContactChanged,
    ResidentRegistered,
    ResidentUpdated,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
    VenueRegistered,
)
from shared.runtime import Runtime


def _then(handle: BatchHandler, after: Callable[[], None]) -> BatchHandler:
    async def wrapped(events) -> None:
        await handle(events)
        after()

    return wrapped


def register(runtime: Runtime, handlers: EventHandlers, wake: Callable[[], None]) -> None:
    h = handlers
    routes = {
        topics.CATALOGUE.name: (
            {
                VenueRegistered: h.on_venue_registered,
                CourseCreated: h.on_course_created,
                CourseUpdated: h.on_course_created,
                CourseCancelled: h.on_course_cancelled,
                SessionScheduled: h.on_session_scheduled,
                SessionChanged: h.on_session_changed,
                SessionCancelled: h.on_session_cancelled,
            },
            "Venues, courses and sessions: names, titles, times, changes and cancellations.",
        ),
        topics.RESIDENTS.name: (
            {ResidentRegistered: h.on_resident, ResidentUpdated: h.on_resident},
            "Residents' language (until their contact says otherwise).",
        ),
        topics.CONTACTS.name: (
            {ResidentContactChanged: h.on_contact_changed},
            "Residents' contact data, channel, consent, opt-outs and quiet hours (personal data).",
        ),
        topics.ENROLMENTS.name: (
            {
                EnrolmentConfirmed: h.on_enrolment_confirmed,
                EnrolmentWaitlisted: h.on_enrolment_waitlisted,
                EnrolmentPromoted: h.on_enrolment_promoted,
                EnrolmentCancelled: h.on_enrolment_cancelled,
            },
            "Enrolments: confirmation, waitlist, promotion and cancellation notices, reminders.",
        ),
        topics.HONOURS.name: ({HonourAwarded: h.on_honour_awarded}, "Honours awarded to residents."),
    }
    # One consumer for all five topics: one group member joins (one rebalance) instead of five, so
    # the service is ready in seconds after a restart; notify's volume fits one batch loop.
    table = {cls: handler for handlers_of_topic, _ in routes.values() for cls, handler in handlers_of_topic.items()}
    runtime.consume(
        *routes,
        handle=_then(batch_dispatcher(runtime.uow, table), wake),
        description=" ".join(f"{topic}: {description}" for topic, (_, description) in routes.items()),
    )
