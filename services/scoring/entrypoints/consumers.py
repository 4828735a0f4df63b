"""Which events the scoring service consumes, and the handler of each.

Every topic goes through one projector: per batch ONE transaction that skips records at or below
the offsets stored in `consumer_offsets`, applies the rest (attendance as multi-row upserts of
aggregates, the low-volume topics event by event with inbox dedup), and stores the new offsets
in the same transaction. A crash between the database commit and the Kafka offset commit
therefore neither loses nor doubles anything, and the rebuild reuses the same code.
"""

from __future__ import annotations

from collections.abc import Callable

from services.scoring.adapters import repository
from services.scoring.service_layer import handlers
from shared import metrics
from shared.bus.consumer import BatchHandler
from shared.bus.decoding import DeadLetter, Incoming
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev
from shared.events import topics
from shared.runtime import Runtime

TOPICS = (
    topics.ATTENDANCE.name, topics.CATALOGUE.name, topics.RESIDENTS.name, topics.ENROLMENTS.name, topics.NEEDS.name
)  # fmt: skip
ATTENDANCE_TYPES = {ev.AttendanceRecorded.type_name, ev.AttendanceAdjusted.type_name}
HANDLERS = {
    ev.CourseCreated: handlers.on_course,
    ev.CourseUpdated: handlers.on_course,
    ev.CourseCancelled: handlers.on_course_cancelled,
    ev.VenueRegistered: handlers.on_venue,
    ev.SessionScheduled: handlers.on_session,
    ev.SessionChanged: handlers.on_session,
    ev.SessionCancelled: handlers.on_session_cancelled,
    ev.ResidentRegistered: handlers.on_resident,
    ev.ResidentUpdated: handlers.on_resident,
    ev.EnrolmentConfirmed: handlers.on_enrolment,
    ev.EnrolmentPromoted: handlers.on_enrolment,
    ev.EnrolmentWaitlisted: handlers.on_enrolment,
    ev.EnrolmentCancelled: handlers.on_enrolment,
    ev.NeedVoted: handlers.on_need,
}
BY_TYPE = {cls.type_name: h for cls, h in HANDLERS.items()}


def _check(event: Incoming) -> None:
    data = event.data
    if event.type_name in ATTENDANCE_TYPES and data.minutes < 0:
        raise DeadLetter("invalid_minutes", f"attendance {data.attendance_id} has negative minutes {data.minutes}")


def projector(
    uow_factory: Callable[[], UnitOfWork], *, live: bool = True, on_applied: Callable[[set[str]], None] | None = None
) -> BatchHandler:
    """A batch handler for every scoring topic (see the module docstring)."""

    async def handle(events: list[Incoming]) -> None:
        for e in events:
            _check(e)
        touched: set[str] = set()
        async with uow_factory() as uow:
            if live:
                # The rebuild takes this lock exclusively to swap tables in between two batches.
                await repository.lock_projections_shared(uow.conn)
            done = await repository.stored_offsets(uow.conn, {e.topic for e in events})
            todo = [e for e in events if e.record.offset > done.get((e.topic, e.record.partition), -1)]
            attendance = [e for e in todo if e.type_name in ATTENDANCE_TYPES]
            others = [e for e in todo if e.type_name in BY_TYPE]
            if attendance:
                await handlers.apply_attendance(uow, attendance)
                touched.add(topics.ATTENDANCE.name)
            if others:
                fresh = await uow.claim_many((e.event_id, e.type_name) for e in others)
                for e in others:
                    if e.event_id in fresh:
                        fresh.discard(e.event_id)
                        await BY_TYPE[e.type_name](uow, e.data, e)
                        touched.add(e.topic)
            offsets: dict[tuple[str, int], int] = {}
            for e in events:
                key = (e.topic, e.record.partition)
                offsets[key] = max(offsets.get(key, -1), e.record.offset)
            await repository.store_offsets(uow.conn, offsets)
            await uow.commit()
        skipped = len(events) - len(todo)
        if live:
            if skipped:
                metrics.EVENTS_APPLIED.labels("scoring.batch", "duplicate").inc(skipped)
            if todo:
                metrics.EVENTS_APPLIED.labels("scoring.batch", "applied").inc(len(todo))
        if on_applied and touched:
            on_applied(touched)

    return handle


def register(runtime: Runtime, on_applied: Callable[[set[str]], None]) -> None:
    runtime.consume(
        *TOPICS,
        handle=projector(runtime.uow, on_applied=on_applied),
        description="Attendance, catalogue, residents, enrolments and needs: the inputs of the learning index.",
    )
