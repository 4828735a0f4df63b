"""Enrolment flows against the running service, Kafka and PostgreSQL: events that follow a
cancellation, contact data kept to enrolment.contacts, catalogue changes, dead letters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.bus.dead_letters import REASON
from shared.events.catalogue import CourseCancelled, SessionCancelled, SessionChanged
from tests.integration.enrolment.helpers import (
    events_of,
    publish,
    register,
    register_many,
    schedule,
    session_event,
    session_known,
)
from tests.support import client, eventually, headers_of, read_topic, unique

pytestmark = pytest.mark.integration


async def _enrol(http, session_id: str, resident_id: str) -> dict:
    response = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": resident_id})
    assert response.status_code == 201, response.text
    return response.json()


async def test_cancellation_promotes_the_next_resident_and_publishes_the_events_in_order():
    _, session_id = await schedule(1)
    first, second, third = await register_many(3)
    async with client("enrolment") as http:
        a = await _enrol(http, session_id, first)
        b = await _enrol(http, session_id, second)
        c = await _enrol(http, session_id, third)
        assert (a["status"], b["status"], b["position"], c["position"]) == ("confirmed", "waitlisted", 1, 2)
        # The resident themself cancels.
        async with client("enrolment", "resident", first) as own:
            response = await own.delete(f"/v1/enrolments/{a['enrolment_id']}")
        assert response.status_code == 200, response.text
        assert response.json()["promoted"] == [{"enrolment_id": b["enrolment_id"], "resident_id": second}]
        assert response.json()["was_status"] == "confirmed"
        assert (await http.get(f"/v1/enrolments/{c['enrolment_id']}")).json()["position"] == 1

    def done(records):
        return len(events_of(records, session_id, "session_id", session_id)) >= 5

    records = await read_topic("enrolment.enrolments", until=done)
    events = events_of(records, session_id, "session_id", session_id)
    assert [(kind, body["resident_id"]) for kind, body in events] == [
        ("confirmed", first),
        ("waitlisted", second),
        ("waitlisted", third),
        ("cancelled", first),
        ("promoted", second),
    ]
    assert events[1][1]["position"] == 1 and events[2][1]["position"] == 2
    assert events[3][1]["was_confirmed"] is True
    assert all(body["community_id"] == "pinghu" and body["session_starts_at"] for _, body in events)


async def test_contact_data_travels_only_on_enrolment_contacts():
    phone = "+86 138" + str(int(datetime.now(UTC).timestamp() * 1000))[-8:]
    email = f"{unique('mail')}@example.org"
    _, session_id = await schedule(5)
    async with client("enrolment") as http:
        resident = await register(
            http, phone=phone, email=email, consent=True, preferred_channel="email", opted_out_categories=["marketing"]
        )
        rid = resident["resident_id"]
        await _enrol(http, session_id, rid)
        patched = await http.patch(f"/v1/residents/{rid}", json={"phone": "+86 13900000000", "volunteer": True})
        assert patched.status_code == 200, patched.text
    contacts = await read_topic("enrolment.contacts", until=lambda rs: len(events_of(rs, rid, "resident_id", rid)) >= 2)
    changes = events_of(contacts, rid, "resident_id", rid)
    assert [kind for kind, _ in changes] == ["contact_changed", "contact_changed"]
    assert changes[0][1]["phone"] == phone and changes[0][1]["email"] == email
    assert changes[0][1]["opted_out_categories"] == ["marketing"] and changes[0][1]["preferred_channel"] == "email"
    assert changes[1][1]["phone"] == "+86 13900000000"
    residents = await read_topic(
        "enrolment.residents", until=lambda rs: len(events_of(rs, rid, "resident_id", rid)) >= 3
    )
    enrolments = await read_topic(
        "enrolment.enrolments", until=lambda rs: events_of(rs, session_id, "resident_id", rid)
    )
    public = events_of(residents, rid, "resident_id", rid)
    # consent to notifications is announced (purposes only) ahead of the registration it came with
    assert [kind for kind, _ in public] == ["consents_changed", "registered", "updated"]
    assert public[0][1]["purposes"] == ["notifications"]
    assert public[2][1]["volunteer"] is True
    for record in [r for r in residents + enrolments if rid.encode() in (r.value or b"")]:
        body = record.value.decode()
        assert phone not in body and email not in body and "13900000000" not in body
        assert not {"phone", "email"} & set(orjson.loads(record.value))


async def test_capacity_increase_promotes_from_the_waitlist():
    course_id, session_id = await schedule(1)
    residents = await register_many(4)
    async with client("enrolment") as http:
        made = [await _enrol(http, session_id, r) for r in residents]
    changed = session_event(course_id, capacity=3, session_id=session_id)
    await publish(SessionChanged(**changed.model_dump()))
    summary = await eventually(lambda: _with(session_id, capacity=3))
    assert (summary["confirmed"], summary["waitlisted"]) == (3, 1)
    async with client("enrolment") as http:
        statuses = [(await http.get(f"/v1/enrolments/{e['enrolment_id']}")).json()["status"] for e in made]
    assert statuses == ["confirmed", "confirmed", "confirmed", "waitlisted"]


async def _with(session_id: str, **expected) -> dict | None:
    summary = await session_known(session_id)
    return summary if summary and all(summary[k] == v for k, v in expected.items()) else None


async def test_session_cancelled_cancels_every_enrolment_with_the_reason():
    course_id, session_id = await schedule(1)
    residents = await register_many(2)
    async with client("enrolment") as http:
        for r in residents:
            await _enrol(http, session_id, r)
    await publish(SessionCancelled(session_id=session_id, course_id=course_id, reason="typhoon"))
    await eventually(lambda: _with(session_id, cancelled=True))
    records = await read_topic(
        "enrolment.enrolments",
        until=lambda rs: sum(k == "cancelled" for k, _ in events_of(rs, session_id, "session_id", session_id)) >= 2,
    )
    cancelled = [b for k, b in events_of(records, session_id, "session_id", session_id) if k == "cancelled"]
    assert {b["resident_id"] for b in cancelled} == set(residents)
    assert {b["reason"] for b in cancelled} == {"session_cancelled: typhoon"}
    assert sorted(b["was_confirmed"] for b in cancelled) == [False, True]
    async with client("enrolment") as http:
        again = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": residents[0]})
    assert again.status_code == 409 and "cancelled" in again.text


async def test_course_cancelled_cancels_the_enrolments_of_all_its_sessions():
    course_id, first = await schedule(2)
    second = session_event(course_id, capacity=2)
    await publish(second)
    await eventually(lambda: session_known(second.session_id))
    (resident,) = await register_many(1)
    async with client("enrolment") as http:
        for s in (first, second.session_id):
            await _enrol(http, s, resident)
    await publish(CourseCancelled(course_id=course_id, reason="teacher ill"))
    for s in (first, second.session_id):
        summary = await eventually(lambda s=s: _with(s, cancelled=True))
        assert summary["confirmed"] == 0
    async with client("enrolment") as http:
        rows = (await http.get(f"/v1/residents/{resident}/enrolments")).json()
    assert {r["status"] for r in rows} == {"cancelled"}
    assert {r["cancel_reason"] for r in rows} == {"course_cancelled: teacher ill"}


async def test_cancellation_before_the_schedule_keeps_the_session_cancelled():
    course_id = unique("course")
    late = session_event(course_id, capacity=5)
    await publish(SessionCancelled(session_id=late.session_id, course_id=course_id), late)
    marker_course, marker = await schedule(1)  # a later event proves the two above were consumed
    assert marker_course != course_id
    async with client("enrolment") as http:
        await eventually(lambda: session_known(marker))
        summary = await http.get(f"/v1/sessions/{late.session_id}")
    assert summary.status_code == 200 and summary.json()["cancelled"] is True


async def test_no_promotion_once_the_session_has_started():
    _, session_id = await schedule(1, starts_in=timedelta(seconds=4))
    first, second = await register_many(2)
    async with client("enrolment") as http:
        a = await _enrol(http, session_id, first)
        await _enrol(http, session_id, second)
        await asyncio.sleep(4.5)
        response = await http.delete(f"/v1/enrolments/{a['enrolment_id']}")
        assert response.status_code == 200, response.text
        assert response.json()["promoted"] == []
        late = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": first})
    assert late.status_code == 409 and "started" in late.text
    summary = await session_known(session_id)
    assert (summary["confirmed"], summary["waitlisted"]) == (0, 1)


async def test_an_inapplicable_session_event_is_dead_lettered_with_a_reason():
    bad = session_event(unique("course"), capacity=-3)
    await publish(bad)

    def found(records):
        return [r for r in records if bad.session_id.encode() in (r.value or b"")]

    records = await read_topic("activities.catalogue.dlq", until=found)
    mine = [headers_of(r) for r in found(records)]
    assert any(h.get(REASON) == "invalid_session" and "negative" in h.get("dlq_error_message", "") for h in mine), mine
    assert await session_known(bad.session_id) is None
