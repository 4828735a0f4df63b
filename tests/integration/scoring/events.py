"""Publishing the inputs of the scoring service the way the activities and enrolment services do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.events.catalogue import AttendanceAdjusted, AttendanceRecorded, CourseCreated, ResidentRegistered
from shared.events.envelope import Envelope, envelop
from tests.support import env


def attendance(
    resident_id: str, *, community: str = "pinghu", minutes: int = 60, session_id: str | None = None,
    course_id: str = "c-scoring-test", at: datetime | None = None, audience: str = "adult",
) -> Envelope:  # fmt: skip
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    session_id = session_id or f"s-{uuid.uuid4().hex[:10]}"
    attendance_id = f"att:{resident_id}:{session_id}"
    data = AttendanceRecorded(
        attendance_id=attendance_id, checkin_id=uuid.uuid5(uuid.NAMESPACE_URL, attendance_id),
        resident_id=resident_id, session_id=session_id, course_id=course_id, venue_id=f"v-{community}",
        community_id=community, resident_community_id=community, audience_group=audience, theme="reading",
        minutes=minutes, scanned_at=at,
    )  # fmt: skip
    # Activities derives the event id from the attendance, so re-publishing yields the same id.
    return envelop(data, source="learnstreet/activities", event_id=uuid.uuid5(uuid.NAMESPACE_URL, attendance_id))


def adjustment(recorded: Envelope, minutes: int) -> Envelope:
    d = recorded.data
    data = AttendanceAdjusted(
        attendance_id=d.attendance_id, resident_id=d.resident_id, session_id=d.session_id,
        community_id=d.community_id, minutes=minutes,
    )  # fmt: skip
    return envelop(data, source="learnstreet/activities")


def resident(resident_id: str, community: str, **kw) -> Envelope:
    return envelop(
        ResidentRegistered(resident_id=resident_id, community_id=community, audience_group="adult", **kw),
        source="learnstreet/enrolment",
    )


def course(course_id: str, **kw) -> Envelope:
    data = CourseCreated(course_id=course_id, title_zh="测试", title_en="Test", theme="reading", **kw)
    return envelop(data, source="learnstreet/activities")


async def send(producer: AIOKafkaProducer, *envelopes: Envelope) -> None:
    futures = [
        await producer.send(e.topic, e.body(), key=e.key, headers=[(k, v.encode()) for k, v in e.headers().items()])
        for e in envelopes
    ]
    for f in futures:
        await f


async def scoring_db() -> asyncpg.Connection:
    return await asyncpg.connect(env()["SCORING_DATABASE_URL"])
