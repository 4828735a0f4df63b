"""The catalogue read model's handlers: `handler(uow, event, meta)` for each catalogue event.

A service merges `HANDLERS` into its own table. When it reacts further to an event (enrolment
cancels enrolments, notify queues notices), its own handler replaces the entry and calls the one
here first, so the read model is the same in every service whatever else they do.
"""

from __future__ import annotations

from shared.bus.decoding import Incoming
from shared.bus.dispatch import Handlers
from shared.catalogue import repository
from shared.db.uow import UnitOfWork
from shared.events.catalogue import (
    CourseCancelled,
    CourseCreated,
    CourseUpdated,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
    VenueClosed,
    VenueRegistered,
    VenueReopened,
)


async def on_venue_registered(uow: UnitOfWork, event: VenueRegistered, meta: Incoming | None) -> None:
    await repository.upsert_venue(uow.conn, event)


async def on_venue_closed(uow: UnitOfWork, event: VenueClosed, meta: Incoming | None) -> None:
    await repository.close_venue(uow.conn, event)


async def on_venue_reopened(uow: UnitOfWork, event: VenueReopened, meta: Incoming | None) -> None:
    await repository.reopen_venue(uow.conn, event)


async def on_course_created(uow: UnitOfWork, event: CourseCreated, meta: Incoming | None) -> None:
    """CourseCreated and CourseUpdated."""
    await repository.upsert_course(uow.conn, event)


async def on_course_cancelled(uow: UnitOfWork, event: CourseCancelled, meta: Incoming | None) -> None:
    await repository.cancel_course(uow.conn, event.course_id, event.reason)


async def on_session_scheduled(uow: UnitOfWork, event: SessionScheduled, meta: Incoming | None) -> None:
    """SessionScheduled and SessionChanged."""
    await repository.upsert_session(uow.conn, event)


async def on_session_cancelled(uow: UnitOfWork, event: SessionCancelled, meta: Incoming | None) -> None:
    await repository.cancel_session(uow.conn, event.session_id, event.course_id, event.starts_at)


HANDLERS: Handlers = {
    VenueRegistered: on_venue_registered,
    VenueClosed: on_venue_closed,
    VenueReopened: on_venue_reopened,
    CourseCreated: on_course_created,
    CourseUpdated: on_course_created,
    CourseCancelled: on_course_cancelled,
    SessionScheduled: on_session_scheduled,
    SessionChanged: on_session_scheduled,
    SessionCancelled: on_session_cancelled,
}
