"""Making sessions (as the activities service would: events on activities.catalogue) and
residents (over HTTP) for the enrolment integration tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import orjson

from shared.events.catalogue import CourseCreated, SessionScheduled
from shared.events.envelope import EventData, envelop
from tests.integration.scoring.events import send
from tests.support import client, eventually, headers_of, producer, unique


async def publish(*datas: EventData) -> None:
    kafka = await producer("activities")
    try:
        for data in datas:
            envelope = envelop(data, source="tests/enrolment")
            await kafka.send_and_wait(
                envelope.topic,
                envelope.body(),
                key=envelope.key,
                headers=[(k, v.encode()) for k, v in envelope.headers().items()],
            )
    finally:
        await kafka.stop()


def session_event(
    course_id: str, *, capacity: int, starts_in: timedelta = timedelta(days=3), **extra
) -> SessionScheduled:
    starts = datetime.now(UTC) + starts_in
    return SessionScheduled(
        session_id=extra.pop("session_id", unique("sess")),
        course_id=course_id,
        venue_id="v-test",
        community_id="pinghu",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        capacity=capacity,
        **extra,
    )


async def session_known(session_id: str) -> dict | None:
    async with client("enrolment") as http:
        response = await http.get(f"/v1/sessions/{session_id}")
    return response.json() if response.status_code == 200 else None


async def schedule(
    capacity: int, *, audiences: list[str] | None = None, starts_in: timedelta = timedelta(days=3), **extra
) -> tuple[str, str]:
    """A course and one session of it; returns (course_id, session_id) once enrolment knows it."""
    course_id = unique("course")
    session = session_event(course_id, capacity=capacity, starts_in=starts_in, **extra)
    course = CourseCreated(
        course_id=course_id, title_zh="测试课", title_en="Test", theme="reading", audiences=audiences or []
    )
    await publish(course, session)  # same key: the course arrives first
    await eventually(lambda: session_known(session.session_id))
    return course_id, session.session_id


# What a registration form ticks for residents whose learning passport, certificates or credentials
# a test reads: they are served only with the learning_record purpose (ADR 0019, amendment).
LEARNER = {"consents": ["learning_record"]}


async def register(http: httpx.AsyncClient, **overrides) -> dict:
    body = {"community_id": "pinghu", "audience_group": "adult", **overrides}
    body.setdefault("resident_id", unique("res"))
    response = await http.post("/v1/residents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def register_many(n: int, **overrides) -> list[str]:
    async with client("enrolment") as http:
        residents = await asyncio.gather(*(register(http, **overrides) for _ in range(n)))
    return [r["resident_id"] for r in residents]


def events_of(records, key: str, field: str, value: str) -> list[tuple[str, dict]]:
    """(ce_type, body) of the records of `key` whose body has `field` == value, in offset order."""
    out = []
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.key != key.encode():
            continue
        body = orjson.loads(record.value)
        if body.get(field) == value:
            out.append((headers_of(record)["ce_type"].split(".")[-2], body))
    return out


async def published(principal: str, *envelopes) -> None:
    """`envelopes` sent to their topics as `principal` (activities' attendance, scoring's honours)."""
    kafka = await producer(principal)
    try:
        await send(kafka, *envelopes)
    finally:
        await kafka.stop()
