"""Issue 13 through the real broker and the running notify service: events of several topics
sent in the order Kafka may deliver them (the "bad" one), and facts that recur. Each test names
the rule of services/notify/domain/model.py it holds the service to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify.service_layer import handlers
from shared.events.catalogue import (
    CourseCreated,
    EnrolmentCancelled,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    HonourRevoked,
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
    notifications,
    notify_pool,
    phone,
    publish,
    sms_to,
    wait_status,
)
from tests.support import eventually, unique

pytestmark = pytest.mark.integration


async def _kinds(resident: str) -> list[tuple[str, str]]:
    return sorted((n["kind"], n["status"]) for n in await notifications(resident))


async def _reason(resident: str, kind: str, reason: str) -> dict | None:
    for n in await notifications(resident):
        if n["kind"] == kind and n["status_reason"] == reason:
            return n
    return None


async def _session_cancelled_in_notify(session_id: str) -> bool:
    pool = await notify_pool()
    try:
        return bool(await pool.fetchval("SELECT cancelled FROM sessions WHERE session_id = $1", session_id))
    finally:
        await pool.close()


# --- truthful_enrolment_notice: a cancelled session is the last word ---------------------------------


async def test_confirmation_arriving_after_the_session_was_cancelled_tells_the_cancellation():
    resident, number = unique("res"), phone()
    await publish("enrolment", contact(resident, phone=number, language="en"))
    enrolment = confirmed(resident, starts_in=timedelta(days=4))
    cancel = SessionCancelled(session_id=enrolment.session_id, course_id=enrolment.course_id, reason="flooded")
    await publish("activities", cancel)
    await eventually(lambda: _session_cancelled_in_notify(enrolment.session_id))
    await publish("enrolment", enrolment)
    await wait_status(resident, "session_cancelled", "sent")
    kinds = await _kinds(resident)
    assert ("enrolment_confirmed", "sent") not in kinds, kinds
    assert not any(k.startswith("reminder") and s == "queued" for k, s in kinds), kinds
    [sms] = await sms_to(number)
    assert "cancelled" in sms["text"] and "flooded" in sms["text"]


async def test_a_confirmation_still_queued_is_dropped_when_the_session_is_cancelled():
    resident, number = unique("res"), phone()
    enrolment = confirmed(resident, starts_in=timedelta(days=4))
    await publish("enrolment", enrolment)  # no contact yet: the confirmation waits in the queue
    await eventually(lambda: _reason(resident, "enrolment_confirmed", "awaiting_contact"))
    await publish("activities", SessionCancelled(session_id=enrolment.session_id, course_id=enrolment.course_id))
    await eventually(lambda: _reason(resident, "session_cancelled", "awaiting_contact"))
    await publish("enrolment", contact(resident, phone=number))
    await wait_status(resident, "session_cancelled", "sent")
    statuses = {n["kind"]: (n["status"], n["status_reason"]) for n in await notifications(resident)}
    assert statuses["enrolment_confirmed"] == ("cancelled", "session_cancelled")
    assert len(await sms_to(number)) == 1


# --- promotion_supersedes_waitlist / newer_enrolment_fact ---------------------------------------------


async def test_a_queued_waitlisted_notice_is_dropped_when_the_resident_is_promoted():
    resident, number = unique("res"), phone()
    base = confirmed(resident, starts_in=timedelta(days=4))
    fields = base.model_dump()
    waitlisted = EnrolmentWaitlisted(**{**fields, "position": 2})
    promoted = EnrolmentPromoted(**{**fields, "at": base.at + timedelta(minutes=5)})
    await publish("enrolment", waitlisted)
    await eventually(lambda: _reason(resident, "enrolment_waitlisted", "awaiting_contact"))
    await publish("enrolment", promoted)
    await eventually(lambda: _reason(resident, "enrolment_waitlisted", "promoted"))
    await publish("enrolment", contact(resident, phone=number))
    await wait_status(resident, "enrolment_promoted", "sent")
    assert [n["status"] for n in await notifications(resident) if n["kind"] == "enrolment_waitlisted"] == ["cancelled"]
    assert len([m for m in await sms_to(number) if ":enrolment_waitlisted:" in m["idempotency_key"]]) == 0


async def test_an_older_waitlisted_event_after_the_promotion_is_never_sent():
    resident, number = unique("res"), phone()
    await publish("enrolment", contact(resident, phone=number))
    base = confirmed(resident, starts_in=timedelta(days=4))
    fields = base.model_dump()
    promoted = EnrolmentPromoted(**{**fields, "at": base.at + timedelta(minutes=5)})
    stale = EnrolmentWaitlisted(**{**fields, "position": 1})
    # a later event on the same partition (same session) proves the stale one was consumed
    marker_resident = unique("res")
    marker = confirmed(marker_resident, session_id=base.session_id, course_id=base.course_id)
    await publish("enrolment", contact(marker_resident, phone=phone()))
    await publish("enrolment", promoted, stale, marker)
    await wait_status(resident, "enrolment_promoted", "sent")
    await wait_status(marker_resident, "enrolment_confirmed", "sent")
    assert not [n for n in await notifications(resident) if n["kind"] == "enrolment_waitlisted"]


# --- honour_revocation ---------------------------------------------------------------------------------


async def test_a_revoked_honour_is_told_to_residents_already_told_and_dropped_for_the_others():
    told, waiting, number = unique("res"), unique("res"), phone()
    await publish("enrolment", contact(told, phone=number, language="en"))
    honour = HonourAwarded(
        honour_id=unique("hon"), kind="learning_star", period="2026", recipient_kind="family",
        recipient_id=unique("fam"), resident_ids=[told, waiting],
    )  # fmt: skip
    await publish("scoring", honour)
    await wait_status(told, "honour_awarded", "sent")
    await eventually(lambda: _reason(waiting, "honour_awarded", "awaiting_contact"))
    await publish("scoring", HonourRevoked(honour_id=honour.honour_id, reason="double counted"))
    await wait_status(told, "honour_revoked", "sent")
    assert (await wait_status(waiting, "honour_awarded", "cancelled"))["status_reason"] == "honour_revoked"
    assert not [n for n in await notifications(waiting) if n["kind"] == "honour_revoked"]
    texts = [m["text"] for m in await sms_to(number)]
    assert len(texts) == 2 and "revoked" in texts[1] and "double counted" in texts[1]


# --- names_known: a message waits for the catalogue event it needs --------------------------------------


async def test_a_message_waits_for_the_course_title_instead_of_showing_the_id():
    resident, number = unique("res"), phone()
    await publish("enrolment", contact(resident, phone=number, language="en"))
    enrolment = confirmed(resident, starts_in=timedelta(days=4))
    await publish("enrolment", enrolment, known_courses=False)
    await eventually(lambda: _reason(resident, "enrolment_confirmed", "awaiting_catalogue"))
    title = f"Tea culture {unique('t')}"
    await publish(
        "activities", CourseCreated(course_id=enrolment.course_id, title_zh="茶文化", title_en=title, theme="culture")
    )
    await wait_status(resident, "enrolment_confirmed", "sent")
    [sms] = await sms_to(number)
    assert title in sms["text"] and enrolment.course_id not in sms["text"]


async def test_at_its_bound_a_message_goes_with_words_instead_of_the_missing_names():
    resident, number = unique("res"), phone()
    pool = await notify_pool()
    try:
        clock = FakeClock(future_shanghai(12, 0))
        app = InProcess(pool, clock, [resident], catalogue_wait_s=60)
        await app.apply(handlers.on_contact_changed, contact(resident, phone=number, language="en"))
        enrolment = confirmed(resident)  # neither its course nor its session is known to the catalogue
        await app.apply(handlers.on_enrolment_confirmed, enrolment)
        await app.worker.run_once()
        waiting = await app.row(resident, "enrolment_confirmed")
        assert (waiting["status"], waiting["status_reason"]) == ("queued", "awaiting_catalogue")
        assert waiting["due_at"] == clock.now() + timedelta(seconds=60)
        clock.advance(seconds=60)
        await app.worker.run_once()
        assert (await app.row(resident, "enrolment_confirmed"))["status"] == "sent"
    finally:
        await pool.close()
    [sms] = await sms_to(number)
    assert '"your course"' in sms["text"] and "time to be announced" in sms["text"]
    assert enrolment.course_id not in sms["text"] and enrolment.session_id not in sms["text"]


# --- message identity -------------------------------------------------------------------------------


async def test_a_resident_who_cancels_and_enrols_again_gets_reminders_again():
    resident = unique("res")
    await publish("enrolment", contact(resident, phone=phone()))
    first = confirmed(resident, starts_in=timedelta(days=4))
    await publish("enrolment", first, EnrolmentCancelled(**{**first.model_dump(), "reason": "resident"}))
    await wait_status(resident, "enrolment_cancelled", "sent")
    again = confirmed(resident, session_id=first.session_id, course_id=first.course_id,
                      session_starts_at=first.session_starts_at)  # fmt: skip
    await publish("enrolment", again)
    await eventually(lambda: _queued_reminders(resident, again.enrolment_id, 2))


async def _queued_reminders(resident: str, enrolment_id: str, n: int) -> bool:
    rows = [x for x in await notifications(resident) if x["kind"].startswith("reminder") and x["status"] == "queued"]
    return len([x for x in rows if x["enrolment_id"] == enrolment_id]) == n


async def test_a_session_moved_a_b_a_b_gives_a_notice_for_each_change():
    resident, number = unique("res"), phone()
    await publish("enrolment", contact(resident, phone=number))
    course, session, venue = unique("course"), unique("sess"), unique("venue")
    a = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    b = a + timedelta(days=1)
    venue_event = VenueRegistered(venue_id=venue, community_id="c1", name_zh="图书馆", name_en="Library",
                                  venue_type="library", capacity=40)  # fmt: skip
    scheduled = SessionScheduled(session_id=session, course_id=course, venue_id=venue, community_id="c1",
                                 starts_at=a, ends_at=a + timedelta(hours=2), capacity=30)  # fmt: skip
    await publish("activities", venue_event, scheduled)
    await publish("enrolment", confirmed(resident, session_id=session, course_id=course, session_starts_at=a))
    await wait_status(resident, "enrolment_confirmed", "sent")
    for n, starts in enumerate((b, a, b), start=1):
        times = {"starts_at": starts, "ends_at": starts + timedelta(hours=2)}
        moved = SessionChanged(**{**scheduled.model_dump(), **times})
        await publish("activities", moved)
        await eventually(lambda n=n: _sent(resident, "session_changed", n))
    assert len([m for m in await sms_to(number) if ":session_changed:" in m["idempotency_key"]]) == 3


async def _sent(resident: str, kind: str, n: int) -> bool:
    return len([x for x in await notifications(resident) if x["kind"] == kind and x["status"] == "sent"]) == n
