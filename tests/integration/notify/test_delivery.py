"""Notify end to end through Kafka and the running service: events in, e-mail and SMS out at the
real local SMTP sink and SMS gateway, statuses over the API, `notification.sent` on Kafka."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.events import topics
from shared.events.catalogue import EnrolmentCancelled, HonourAwarded, SessionCancelled
from shared.events.envelope import envelop
from tests.integration.notify.helpers import (
    confirmed,
    contact,
    gateway_requests,
    mailbox,
    mails_to,
    notifications,
    phone,
    publish,
    sms_to,
    wait_status,
)
from tests.support import eventually, headers_of, read_topic, unique

pytestmark = pytest.mark.integration


async def test_confirmed_enrolment_gives_one_email_in_the_residents_language():
    english, chinese = unique("res-en"), unique("res-zh")
    en_mail, zh_mail = mailbox(), mailbox()
    await publish(
        "enrolment",
        contact(english, email=en_mail, language="en", preferred_channel="email"),
        contact(chinese, email=zh_mail, language="zh-CN", preferred_channel="email"),
    )
    await publish(
        "enrolment",
        confirmed(english, starts_in=timedelta(days=5)),
        confirmed(chinese, starts_in=timedelta(days=5)),
    )
    sent = await wait_status(english, "enrolment_confirmed", "sent")
    await wait_status(chinese, "enrolment_confirmed", "sent")
    [en] = await eventually(lambda: mails_to(en_mail) or None)
    [zh] = await eventually(lambda: mails_to(zh_mail) or None)
    assert en["Subject"].startswith("You are enrolled")
    assert "Your place in" in en.get_content() and en["Content-Language"] == "en"
    assert zh["Subject"].startswith("报名成功")
    assert "您已成功报名" in zh.get_content() and zh["Content-Language"] == "zh-CN"
    assert sent["channel"] == "email" and sent["attempts"] == 1 and sent["sent_at"]

    records = await read_topic(
        topics.NOTIFICATIONS.name,
        until=lambda rs: any(sent["notification_id"].encode() in r.value for r in rs),
    )
    [event] = [r for r in records if sent["notification_id"].encode() in r.value]
    assert headers_of(event)["ce_type"] == "learnstreet.notify.notification.sent.v2"
    # v2 names no resident (ADR 10): keyed by the notification, no card number anywhere in the record
    assert event.key == sent["notification_id"].encode()
    assert english.encode() not in event.value and english not in str(headers_of(event))
    assert json.loads(event.value)["channel"] == "email" and "resident_id" not in json.loads(event.value)


async def test_same_event_three_times_and_a_replayed_fact_give_one_message():
    resident, number = unique("res"), phone()
    await publish("enrolment", contact(resident, phone=number))
    fact = confirmed(resident, starts_in=timedelta(days=5))
    original = envelop(fact, source="tests/notify")
    # three deliveries of one event, then the same fact under a new event id (a republished event)
    await publish("enrolment", original, original, original, envelop(fact, source="tests/notify"))
    # a later event for the same resident and session (same partition) proves all four were consumed
    marker = confirmed(resident, session_id=fact.session_id, course_id=fact.course_id)
    await publish("enrolment", marker)
    await eventually(lambda: _sent_count(resident, 2), timeout_s=30)
    messages = await sms_to(number)
    keys = [m["idempotency_key"] for m in messages]
    assert keys.count(f"{resident}:enrolment_confirmed:{fact.enrolment_id}") == 1
    assert len(messages) == 2
    assert len([n for n in await notifications(resident) if n["kind"] == "enrolment_confirmed"]) == 2
    assert await gateway_requests(f"{resident}:enrolment_confirmed:{fact.enrolment_id}") == 1


async def _sent_count(resident: str, n: int) -> bool:
    return len([x for x in await notifications(resident) if x["status"] == "sent"]) >= n


async def test_opted_out_resident_gets_nothing_of_that_category():
    resident, number = unique("res"), phone()
    await publish("enrolment", contact(resident, phone=number, opted_out_categories=["enrolment"]))
    enrolment = confirmed(resident, starts_in=timedelta(days=5))
    await publish("enrolment", enrolment)
    suppressed = await wait_status(resident, "enrolment_confirmed", "suppressed")
    assert suppressed["status_reason"] == "opted_out" and suppressed["attempts"] == 0
    # the categories not opted out of still arrive (so the channel works for this resident)
    honour = HonourAwarded(
        honour_id=unique("hon"), kind="learning_star", period="2026", recipient_kind="resident",
        recipient_id=resident, resident_ids=[resident],
    )  # fmt: skip
    await publish("scoring", honour)
    await wait_status(resident, "honour_awarded", "sent")
    texts = [m["text"] for m in await sms_to(number)]
    assert len(texts) == 1 and "百姓学习之星" in texts[0]
    assert await gateway_requests(f"{resident}:enrolment_confirmed:{enrolment.enrolment_id}") == 0


async def test_without_consent_nothing_is_sent():
    resident, number = unique("res"), phone()
    await publish("enrolment", contact(resident, phone=number, consent=False), confirmed(resident))
    suppressed = await wait_status(resident, "enrolment_confirmed", "suppressed")
    assert suppressed["status_reason"] == "no_consent"
    assert await sms_to(number) == []


async def test_contact_arriving_after_the_enrolment_releases_the_waiting_message():
    resident, number = unique("res"), phone()
    await publish("enrolment", confirmed(resident, starts_in=timedelta(days=5)))
    waiting = await wait_status(resident, "enrolment_confirmed", "queued")
    await eventually(lambda: _reason(resident, "awaiting_contact"))
    assert waiting["attempts"] == 0
    await publish("enrolment", contact(resident, phone=number, language="en"))
    await wait_status(resident, "enrolment_confirmed", "sent")
    [sms] = await sms_to(number)
    assert sms["text"].startswith("Hello! Your place in")


async def _reason(resident: str, reason: str) -> bool:
    return any(n["status_reason"] == reason for n in await notifications(resident))


async def test_reminders_are_scheduled_and_dropped_when_the_enrolment_is_cancelled():
    resident = unique("res")
    await publish("enrolment", contact(resident, phone=phone()))
    enrolment = confirmed(resident, starts_in=timedelta(days=3))
    await publish("enrolment", enrolment)
    await wait_status(resident, "enrolment_confirmed", "sent")
    rows = {n["kind"]: n for n in await notifications(resident)}
    starts = enrolment.session_starts_at
    for kind, before in (("reminder_24h", timedelta(hours=24)), ("reminder_2h", timedelta(hours=2))):
        assert rows[kind]["status"] == "queued"
        assert abs(_parse(rows[kind]["due_at"]) - (starts - before)) < timedelta(seconds=1)
    cancel = EnrolmentCancelled(**{**enrolment.model_dump(), "reason": "resident"})
    await publish("enrolment", cancel)
    await wait_status(resident, "enrolment_cancelled", "sent")
    statuses = {n["kind"]: (n["status"], n["status_reason"]) for n in await notifications(resident)}
    assert statuses["reminder_24h"] == ("cancelled", "enrolment_cancelled")
    assert statuses["reminder_2h"] == ("cancelled", "enrolment_cancelled")


async def test_session_cancelled_tells_everyone_enrolled_and_drops_their_reminders():
    session, course = unique("sess"), unique("course")
    residents = [unique("res") for _ in range(3)]
    numbers = [phone() for _ in residents]
    await publish("enrolment", *(contact(r, phone=n) for r, n in zip(residents, numbers, strict=True)))
    enrolments = [confirmed(r, session_id=session, course_id=course, starts_in=timedelta(days=4)) for r in residents]
    await publish("enrolment", *enrolments)
    for r in residents:
        await wait_status(r, "reminder_24h", "queued")
    cancelled = SessionCancelled(session_id=session, course_id=course, reason="venue closed")
    await publish("activities", cancelled)
    for r, number in zip(residents, numbers, strict=True):
        await wait_status(r, "session_cancelled", "sent")
        texts = [m["text"] for m in await sms_to(number)]
        assert any("已取消" in t and "venue closed" in t for t in texts)
        kinds = {n["kind"]: n["status"] for n in await notifications(r)}
        assert kinds["reminder_24h"] == "cancelled" and kinds["reminder_2h"] == "cancelled"


def _parse(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value)
