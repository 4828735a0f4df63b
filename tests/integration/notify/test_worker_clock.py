"""The delivery worker driven by a fake clock: quiet hours, retries with backoff, permanent
failures, dead letters and their replay.

Design: the worker runs in-process against the real notify database, the real SMTP sink and the
real SMS gateway, with an injected `FakeClock` set days ahead of real time and limited to this
test's residents. The service's own worker runs on real time, so rows due in the fake future are
never due for it; nothing here sleeps to pass time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notify.service_layer import handlers
from shared.catalogue import projection as catalogue
from shared.events.catalogue import (
    CourseCancelled,
    HonourAwarded,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
    VenueRegistered,
)
from tests.integration.notify.helpers import (
    FakeClock,
    InProcess,
    confirmed,
    contact,
    future_shanghai,
    gateway,
    gateway_requests,
    mailbox,
    mails_to,
    phone,
    sms_to,
)
from tests.support import client, eventually, unique

pytestmark = pytest.mark.integration


async def test_message_in_quiet_hours_waits_and_goes_at_the_windows_end(pool):
    resident, address = unique("res"), mailbox()
    clock = FakeClock(future_shanghai(23, 30))
    app = InProcess(pool, clock, [resident])
    # street default quiet hours (22:00-08:00): the contact sets none of its own
    street_default = {"quiet_hours_start": None, "quiet_hours_end": None}
    await app.apply(
        handlers.on_contact_changed, contact(resident, email=address, preferred_channel="email", **street_default)
    )
    await app.apply(handlers.on_enrolment_confirmed, confirmed(resident))
    await app.worker.run_once()
    row = await app.row(resident, "enrolment_confirmed")
    morning = future_shanghai(8, 0, days_ahead=4)
    assert (row["status"], row["status_reason"], row["attempts"]) == ("deferred", "quiet_hours", 0)
    assert row["due_at"] == morning and row["deferred_at"] == clock.now()

    clock.set(morning - timedelta(minutes=1))
    await app.worker.run_once()
    assert await mails_to(address) == []

    clock.set(morning)
    await app.worker.run_once()
    row = await app.row(resident, "enrolment_confirmed")
    assert row["status"] == "sent" and row["sent_at"] == morning
    [mail] = await mails_to(address)
    assert mail["Subject"].startswith("报名成功")


async def test_urgent_cancellation_for_early_tomorrow_goes_at_once_in_quiet_hours(pool):
    resident, number = unique("res"), phone()
    clock = FakeClock(future_shanghai(23, 0))
    app = InProcess(pool, clock, [resident])
    session, course = unique("sess"), unique("course")
    street_default = {"quiet_hours_start": None, "quiet_hours_end": None}
    await app.apply(handlers.on_contact_changed, contact(resident, phone=number, **street_default))
    starts = future_shanghai(7, 30, days_ahead=4)
    enrolment = confirmed(resident, session_id=session, course_id=course)
    await app.apply(handlers.on_enrolment_confirmed, enrolment.model_copy(update={"session_starts_at": starts}))
    await app.apply(handlers.on_session_cancelled, SessionCancelled(session_id=session, course_id=course))
    await app.worker.run_once()
    assert (await app.row(resident, "session_cancelled"))["status"] == "sent"
    assert (await app.row(resident, "reminder_2h"))["status"] == "cancelled"
    [sms] = [m for m in await sms_to(number) if ":session_cancelled:" in m["idempotency_key"]]
    assert "已取消" in sms["text"] and "07:30" in sms["text"]


async def test_gateway_failing_twice_then_succeeding_gives_one_sms_after_retries(pool):
    resident, number = unique("res"), phone()
    clock = FakeClock(future_shanghai(10, 0))
    app = InProcess(pool, clock, [resident])
    assert (await gateway("POST", "/admin/fail", json={"mode": "500", "times": 1, "to": number})).status_code == 200
    assert (await gateway("POST", "/admin/fail", json={"mode": "429", "times": 1, "to": number})).status_code == 200
    await app.apply(handlers.on_contact_changed, contact(resident, phone=number, language="en"))
    enrolment = confirmed(resident)
    await app.apply(handlers.on_enrolment_confirmed, enrolment)
    key = f"{resident}:enrolment_confirmed:{enrolment.enrolment_id}"

    await app.worker.run_once()
    first = await app.row(resident, "enrolment_confirmed")
    assert (first["status"], first["status_reason"], first["attempts"]) == ("queued", "retrying", 1)
    assert "HTTP 500" in first["last_error"]
    wait = first["due_at"] - clock.now()
    assert timedelta(seconds=7.5) <= wait <= timedelta(seconds=15)  # base 15 s, equal jitter

    clock.set(first["due_at"] - timedelta(seconds=1))
    await app.worker.run_once()
    assert (await app.row(resident, "enrolment_confirmed"))["attempts"] == 1  # not due yet

    clock.set(first["due_at"])
    await app.worker.run_once()
    second = await app.row(resident, "enrolment_confirmed")
    assert (second["attempts"], "HTTP 429" in second["last_error"]) == (2, True)
    assert timedelta(seconds=15) <= second["due_at"] - clock.now() <= timedelta(seconds=30)

    clock.set(second["due_at"])
    await app.worker.run_once()
    third = await app.row(resident, "enrolment_confirmed")
    assert (third["status"], third["attempts"]) == ("sent", 3)
    messages = await sms_to(number)
    assert len(messages) == 1 and messages[0]["idempotency_key"] == key
    assert messages[0]["text"].startswith("Hello! Your place in")
    assert await gateway_requests(key) == 3


async def test_permanent_failure_is_dead_lettered_and_an_operator_replays_it(pool):
    resident, number = unique("res"), phone()
    clock = FakeClock(future_shanghai(10, 0))
    app = InProcess(pool, clock, [resident])
    assert (await gateway("POST", "/admin/fail", json={"mode": "400", "times": 1, "to": number})).status_code == 200
    await app.apply(handlers.on_contact_changed, contact(resident, phone=number))
    honour = HonourAwarded(honour_id=unique("hon"), kind="excellent_volunteer", period="2026-Q4",
                           recipient_kind="resident", recipient_id=resident, resident_ids=[resident])  # fmt: skip
    await app.apply(handlers.on_honour_awarded, honour)
    await app.worker.run_once()
    row = await app.row(resident, "honour_awarded")
    assert (row["status"], row["status_reason"], row["attempts"]) == ("failed", "http_400", 1)
    nid = str(row["notification_id"])

    async with client("notify") as http:
        listed = (await http.get("/v1/dead-letters", params={"limit": 1000})).json()
        [dead] = [d for d in listed if d["notification_id"] == nid]
        assert dead["reason"] == "http_400" and dead["resident_id"] == resident and dead["replayed_at"] is None
        replayed = await http.post(f"/v1/dead-letters/{nid}/replay")
        assert replayed.status_code == 200, replayed.text
        again = await http.post(f"/v1/dead-letters/{nid}/replay")
        assert again.status_code == 409
        assert (await http.post(f"/v1/dead-letters/{unique('x').replace('x-', '')}/replay")).status_code == 422
    # replayed "now" in real time: the service's own worker delivers it
    await eventually(lambda: _status(pool, nid, "sent"), timeout_s=30)
    [sms] = await sms_to(number)
    assert "优秀志愿者" in sms["text"] and "2026-Q4" in sms["text"]
    async with client("notify") as http:
        listed = (await http.get("/v1/dead-letters", params={"include_replayed": "true", "limit": 1000})).json()
    assert [d["replayed_by"] for d in listed if d["notification_id"] == nid] == ["test-user"]


async def _status(pool, nid: str, status: str) -> bool:
    return await pool.fetchval("SELECT status FROM notifications WHERE notification_id = $1::uuid", nid) == status


async def test_without_a_contact_the_message_fails_after_the_bounded_wait(pool):
    resident = unique("res")
    clock = FakeClock(future_shanghai(10, 0))
    app = InProcess(pool, clock, [resident], contact_wait_s=600)
    await app.apply(handlers.on_enrolment_confirmed, confirmed(resident))
    await app.worker.run_once()
    row = await app.row(resident, "enrolment_confirmed")
    assert (row["status"], row["status_reason"]) == ("queued", "awaiting_contact")
    assert row["due_at"] == clock.now() + timedelta(seconds=600)
    clock.advance(seconds=600)
    await app.worker.run_once()
    row = await app.row(resident, "enrolment_confirmed")
    assert (row["status"], row["status_reason"]) == ("failed", "no_contact")
    dead = await pool.fetchrow("SELECT * FROM dead_letters WHERE notification_id = $1", row["notification_id"])
    assert dead["reason"] == "no_contact"


async def test_reminder_goes_at_its_time_with_the_session_time(pool):
    resident, number = unique("res"), phone()
    clock = FakeClock(future_shanghai(12, 0))
    app = InProcess(pool, clock, [resident])
    street_default = {"quiet_hours_start": None, "quiet_hours_end": None}
    await app.apply(handlers.on_contact_changed, contact(resident, phone=number, language="en", **street_default))
    starts = future_shanghai(19, 0, days_ahead=5)
    await app.apply(
        handlers.on_enrolment_confirmed, confirmed(resident).model_copy(update={"session_starts_at": starts})
    )
    await app.worker.run_once()
    assert (await app.row(resident, "reminder_24h"))["status"] == "queued"
    clock.set(starts - timedelta(hours=24, seconds=1))
    await app.worker.run_once()
    assert (await app.row(resident, "reminder_24h"))["status"] == "queued"
    clock.set(starts - timedelta(hours=24))
    await app.worker.run_once()
    assert (await app.row(resident, "reminder_24h"))["status"] == "sent"
    assert (await app.row(resident, "reminder_2h"))["status"] == "queued"
    texts = [m["text"] for m in await sms_to(number)]
    assert any(t.startswith("Reminder:") and "19:00" in t for t in texts)


async def test_session_known_after_enrolment_gets_reminders_and_a_change_moves_them(pool):
    resident, number = unique("res"), phone()
    clock = FakeClock(future_shanghai(12, 0))
    app = InProcess(pool, clock, [resident])
    await app.apply(handlers.on_contact_changed, contact(resident, phone=number))
    session, course = unique("sess"), unique("course")
    enrolment = confirmed(resident, session_id=session, course_id=course)  # no start time: session unknown yet
    await app.apply(handlers.on_enrolment_confirmed, enrolment)
    assert await app.row(resident, "reminder_24h") is None
    starts, ends = future_shanghai(19, 0, days_ahead=6), future_shanghai(21, 0, days_ahead=6)
    venue = unique("venue")
    await app.apply(
        catalogue.on_venue_registered,
        VenueRegistered(venue_id=venue, community_id="c1", name_zh="平湖图书馆", name_en="Pinghu Library",
                        venue_type="library", capacity=50),
    )  # fmt: skip
    scheduled = SessionScheduled(session_id=session, course_id=course, venue_id=venue, community_id="c1",
                                 starts_at=starts, ends_at=ends, capacity=30)  # fmt: skip
    await app.apply(handlers.on_session_scheduled, scheduled)
    first = await app.row(resident, "reminder_24h")
    assert first["due_at"] == starts - timedelta(hours=24) and first["status"] == "queued"
    await app.apply(handlers.on_session_scheduled, scheduled)  # a replayed schedule changes nothing
    assert (await app.row(resident, "reminder_24h"))["status"] == "queued"

    moved = SessionChanged(**{**scheduled.model_dump(), "starts_at": starts + timedelta(days=1),
                              "ends_at": ends + timedelta(days=1)})  # fmt: skip
    await app.apply(handlers.on_session_scheduled, moved)
    rows = await pool.fetch(
        "SELECT kind, status, due_at FROM notifications WHERE resident_id = $1 AND kind = 'reminder_24h'", resident
    )
    assert sorted((r["status"], r["due_at"]) for r in rows) == [
        ("cancelled", starts - timedelta(hours=24)),
        ("queued", starts + timedelta(hours=0)),
    ]
    await app.worker.run_once()
    change = await app.row(resident, "session_changed")
    assert change["status"] == "sent"
    texts = [m["text"] for m in await sms_to(number) if ":session_changed:" in m["idempotency_key"]]
    assert len(texts) == 1 and "19:00" in texts[0] and "平湖图书馆" in texts[0]
    # a capacity-only change is not news for residents
    await app.apply(handlers.on_session_scheduled, moved.model_copy(update={"capacity": 40}))
    count = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE resident_id = $1 AND kind = 'session_changed'", resident
    )
    assert count == 1


async def test_course_cancelled_tells_each_resident_once_and_replaces_pending_session_notices(pool):
    residents = [unique("res"), unique("res")]
    clock = FakeClock(future_shanghai(12, 0))
    app = InProcess(pool, clock, residents)
    course = unique("course")
    sessions = [unique("sess"), unique("sess")]
    for r in residents:
        await app.apply(handlers.on_contact_changed, contact(r, phone=phone()))
        for s in sessions:
            enrolment = confirmed(r, session_id=s, course_id=course)
            starts = future_shanghai(19, 0, days_ahead=7)
            await app.apply(handlers.on_enrolment_confirmed, enrolment.model_copy(update={"session_starts_at": starts}))
    await app.apply(handlers.on_course_cancelled, CourseCancelled(course_id=course, reason="teacher ill"))
    await app.apply(handlers.on_session_cancelled, SessionCancelled(session_id=sessions[0], course_id=course))
    await app.worker.run_once()
    for r in residents:
        kinds = [
            (x["kind"], x["status"])
            for x in await pool.fetch("SELECT kind, status FROM notifications WHERE resident_id = $1", r)
        ]
        assert kinds.count(("course_cancelled", "sent")) == 1
        assert not any(k == "session_cancelled" for k, _ in kinds)
        assert all(s == "cancelled" for k, s in kinds if k.startswith("reminder"))
