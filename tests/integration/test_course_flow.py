"""The first flow across the whole system: a course created over HTTP in activities reaches
enrolment, scoring and notify through the outbox and Kafka, and each stores it once."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.events.catalogue import CourseCreated
from shared.events.envelope import envelop
from tests.support import client, env, eventually, producer, unique

pytestmark = pytest.mark.integration

CONSUMERS = ("enrolment", "scoring", "notify")


async def _stored(service: str, course_id: str) -> dict | None:
    async with client(service) as http:
        response = await http.get(f"/v1/courses/{course_id}")
    return response.json() if response.status_code == 200 else None


async def _inbox_count(service: str, event_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(env()[f"{service.upper()}_DATABASE_URL"])
    try:
        return await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event_id)
    finally:
        await conn.close()


async def test_course_created_over_http_reaches_every_service():
    course_id = unique("course")
    async with client("activities") as http:
        response = await http.post(
            "/v1/courses",
            json={
                "course_id": course_id,
                "title_zh": "家庭急救",
                "title_en": "First aid at home",
                "theme": "health",
                "audiences": ["adult", "elderly"],
                "provider_kind": "doctor",
            },
        )
    assert response.status_code == 201, response.text
    for service in CONSUMERS:
        stored = await eventually(lambda s=service: _stored(s, course_id))
        assert stored["title_zh"] == "家庭急救"
        assert stored["audiences"] == ["adult", "elderly"]


async def test_same_event_delivered_twice_is_applied_once():
    course_id = unique("course")
    first = envelop(
        CourseCreated(course_id=course_id, title_zh="书法", title_en="Calligraphy", theme="traditional_culture"),
        source="tests",
    )
    # Same event id, different content: if the second delivery were applied, the title would change.
    replay = first.model_copy(update={"data": first.data.model_copy(update={"title_en": "CHANGED BY A DUPLICATE"})})
    kafka = await producer("activities")
    try:
        for envelope in (first, replay):
            await kafka.send_and_wait(
                envelope.topic,
                envelope.body(),
                key=envelope.key,
                headers=[(k, v.encode()) for k, v in envelope.headers().items()],
            )
        # A later marker event proves each consumer has moved past both deliveries.
        marker = envelop(CourseCreated(course_id=unique("marker"), title_zh="标", title_en="m", theme="x"), source="t")
        await kafka.send_and_wait(
            marker.topic, marker.body(), key=first.key,  # same key -> same partition -> after the replay
            headers=[(k, v.encode()) for k, v in marker.headers().items()],
        )  # fmt: skip
    finally:
        await kafka.stop()
    for service in CONSUMERS:
        await eventually(lambda s=service: _stored(s, marker.data.course_id))
        stored = await _stored(service, course_id)
        assert stored is not None and stored["title_en"] == "Calligraphy", (service, stored)
        assert await _inbox_count(service, first.id) == 1


async def test_create_course_rejects_bad_input_with_field_and_reason():
    async with client("activities") as http:
        response = await http.post("/v1/courses", json={"title_zh": "", "theme": "safety", "audiences": ["martian"]})
    assert response.status_code == 422
    fields = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert ("body", "title_zh") in fields
    assert ("body", "title_en") in fields
    assert ("body", "audiences", 0) in fields


async def test_duplicate_course_id_is_a_conflict():
    course_id = unique("course")
    body = {"course_id": course_id, "title_zh": "摄影", "title_en": "Photography", "theme": "arts"}
    async with client("activities") as http:
        assert (await http.post("/v1/courses", json=body)).status_code == 201
        again = await http.post("/v1/courses", json=body)
    assert again.status_code == 409
    assert again.json()["detail"][0]["loc"] == ["body", "course_id"]


@pytest.mark.parametrize(
    ("role", "token_override", "expected"),
    [(None, None, 401), ("resident", None, 403), ("operator", "not-a-jwt", 401)],
)
async def test_operator_endpoint_refuses_missing_wrong_role_and_invalid_tokens(role, token_override, expected):
    async with client("activities", role=role) as http:
        if token_override:
            http.headers["Authorization"] = f"Bearer {token_override}"
        response = await http.post("/v1/courses", json={"title_zh": "a", "title_en": "b", "theme": "c"})
    assert response.status_code == expected
