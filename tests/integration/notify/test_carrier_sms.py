"""notify in carrier mode (NOTIFY_SMS_PROVIDER=carrier) against the local SMS gateway acting as a
Chinese carrier (POST /carrier/SendSms): a confirmation goes as template code, parameters and
signature and the carrier renders it with the venue; a template code the carrier does not know is
a permanent failure in the dead letters with the carrier's reason; the carrier's throttling is
retried.

Design: as in test_worker_clock.py, notify's handlers and delivery worker run in-process on the
real notify database (with the shared catalogue read model) and the real gateway, with a FakeClock
days ahead of real time and limited to this test's residents, so the service's own worker (the
local stack runs notify in generic mode, ADR 0018) leaves these rows alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from services.notify.adapters.carrier_sms import SmsRegistry
from services.notify.service_layer import handlers
from shared.events.catalogue import CourseCreated, SessionScheduled, VenueRegistered
from shared.reference import resolve
from tests.integration.notify.helpers import (
    GATEWAY,
    SMS_TOKEN,
    FakeClock,
    InProcess,
    confirmed,
    contact,
    future_shanghai,
    gateway,
    phone,
    sms_to,
)
from tests.support import unique

pytestmark = pytest.mark.integration

REGISTRY_FILE = resolve("reference/pinghu") / "sms_templates.yaml"
VENUE_ZH = "辅城坳老年大学教学点6"
TITLE_ZH = "平湖文化客厅·摄影（第17期）"


def carrier_app(pool, clock: FakeClock, resident: str, **overrides) -> InProcess:
    return InProcess(
        pool, clock, [resident], sms_provider="carrier", sms_carrier_url=f"{GATEWAY}/carrier/SendSms",
        sms_carrier_key=SMS_TOKEN, **overrides,
    )  # fmt: skip


async def enrol(app: InProcess, resident: str, number: str):
    """A course at a venue with a session, then the resident's confirmed seat in it."""
    course, session, venue = unique("course"), unique("sess"), unique("venue")
    starts = future_shanghai(19, 30, days_ahead=6)
    await app.apply(
        handlers.on_catalogue_names,
        VenueRegistered(venue_id=venue, community_id="fuchengao", name_zh=VENUE_ZH, name_en="Fuchengao Elderly 6",
                        venue_type="elderly_university", capacity=40),
    )  # fmt: skip
    await app.apply(
        handlers.on_catalogue_names,
        CourseCreated(course_id=course, title_zh=TITLE_ZH, title_en="Photography", theme="arts"),
    )
    await app.apply(
        handlers.on_session_scheduled,
        SessionScheduled(session_id=session, course_id=course, venue_id=venue, community_id="fuchengao",
                         starts_at=starts, ends_at=starts + timedelta(hours=2), capacity=30),
    )  # fmt: skip
    await app.apply(handlers.on_contact_changed, contact(resident, phone=number))
    await app.apply(handlers.on_enrolment_confirmed, confirmed(resident, session_id=session, course_id=course))


async def test_a_confirmation_reaches_the_carrier_as_template_code_parameters_and_signature(pool):
    resident, number = unique("res"), phone()
    app = carrier_app(pool, FakeClock(future_shanghai(10, 0)), resident)
    await enrol(app, resident, number)
    await app.worker.run_once()

    row = await app.row(resident, "enrolment_confirmed")
    assert row["status"] == "sent", (row["status"], row["status_reason"], row["last_error"])
    [sms] = await sms_to(number)
    registration = SmsRegistry.load(REGISTRY_FILE).get("enrolment_confirmed", "zh-CN")
    assert (sms["channel"], sms["sign_name"], sms["template_code"]) == ("carrier", "平湖街道", registration.code)
    assert sms["template_param"] == {
        "course_title": TITLE_ZH,
        "session_time": sms["template_param"]["session_time"],
        "venue_name": VENUE_ZH,
    }
    assert "19:30" in sms["template_param"]["session_time"]
    # the carrier's rendering is the text notify stored and shows residents, signature included
    assert sms["text"] == row["rendered_body"] and sms["text"].startswith("【平湖街道】您已成功报名")
    assert VENUE_ZH in sms["text"] and sms["segments"] == 1 and len(sms["text"]) <= 70
    assert sms["idempotency_key"] == row["idempotency_key"] and row["provider_id"] == sms["response"]["BizId"]


async def test_a_template_code_the_carrier_does_not_know_is_a_permanent_failure_in_the_dead_letters(pool, tmp_path):
    data = yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))
    data["templates"]["enrolment_confirmed"]["zh-CN"]["code"] = "SMS_000000000"  # a typo, or withdrawn
    wrong = tmp_path / "sms_templates.yaml"
    wrong.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    resident, number = unique("res"), phone()
    app = carrier_app(pool, FakeClock(future_shanghai(10, 0)), resident, sms_templates=wrong)
    await enrol(app, resident, number)
    await app.worker.run_once()

    row = await app.row(resident, "enrolment_confirmed")
    assert (row["status"], row["status_reason"], row["attempts"]) == ("failed", "carrier_sms_template_illegal", 1)
    dead = await pool.fetchrow("SELECT * FROM dead_letters WHERE notification_id = $1", row["notification_id"])
    assert dead["reason"] == "carrier_sms_template_illegal" and "isv.SMS_TEMPLATE_ILLEGAL" in dead["detail"]
    assert await sms_to(number) == []


async def test_the_carriers_throttling_is_retried_with_backoff(pool):
    resident, number = unique("res"), phone()
    clock = FakeClock(future_shanghai(10, 0))
    app = carrier_app(pool, clock, resident)
    await enrol(app, resident, number)
    armed = await gateway("POST", "/admin/fail", json={"mode": "429", "times": 1, "to": number})
    assert armed.status_code == 200
    await app.worker.run_once()
    row = await app.row(resident, "enrolment_confirmed")
    assert (row["status"], row["status_reason"], row["attempts"]) == ("queued", "retrying", 1)
    assert "isv.BUSINESS_LIMIT_CONTROL" in row["last_error"] and await sms_to(number) == []

    clock.set(row["due_at"])
    await app.worker.run_once()
    assert (await app.row(resident, "enrolment_confirmed"))["status"] == "sent"
    [sms] = await sms_to(number)
    assert VENUE_ZH in sms["text"]
