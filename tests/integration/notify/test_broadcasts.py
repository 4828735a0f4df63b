"""Broadcasts (宣传, issue 15): an operator's learning-week announcement reaches the residents it
targets, by SMS or e-mail in their language, respecting consent and opt-outs, with a report; a
retried request sends nothing twice; bad requests are refused with the field and the reason.

Other tests' residents may match the same audience (a community of the reference data), so the test
follows its own residents one by one and checks the report's arithmetic, not absolute totals."""

from __future__ import annotations

import uuid

import pytest

from shared.events.catalogue import CourseCreated, ResidentRegistered
from shared.reference import load_reference
from tests.integration.notify import helpers
from tests.integration.notify.helpers import confirmed, contact, mailbox, phone, publish, sms_to, wait_status
from tests.support import client, eventually, unique

pytestmark = pytest.mark.integration

REFERENCE = load_reference()
COMMUNITY = sorted(REFERENCE.communities)[-1]
MESSAGE_ZH = "全民终身学习活动周下周一开幕，欢迎到社区党群服务中心参加讲座和读书分享"
MESSAGE_EN = "Learning week opens next Monday: talks and reading circles at your community centre."


async def _resident(*, language: str = "zh-CN", theme_course: str, no_contact: bool = False, **contact_fields) -> dict:
    resident_id = unique("bc")
    await publish(
        "enrolment",
        ResidentRegistered(
            resident_id=resident_id, community_id=COMMUNITY, audience_group="special", language=language
        ),
    )
    if not no_contact:
        await publish("enrolment", contact(resident_id, language=language, **contact_fields))
    await publish("enrolment", confirmed(resident_id, course_id=theme_course))
    return {"resident_id": resident_id, **contact_fields}


async def _notify_knows(resident_ids: list[str]) -> None:
    from tests.integration.notify.helpers import notify_pool

    pool = await notify_pool()
    try:

        async def known() -> bool:
            n = await pool.fetchval(
                """SELECT count(*) FROM residents r JOIN enrolments e USING (resident_id)
                     JOIN courses c ON c.course_id = e.course_id AND c.theme = 'law'
                    WHERE r.resident_id = ANY($1) AND r.community_id IS NOT NULL""",
                resident_ids,
            )
            return n == len(resident_ids)

        await eventually(known, timeout_s=30)
    finally:
        await pool.close()


async def test_a_broadcast_reaches_its_audience_in_their_language_respecting_consent_and_opt_outs():
    course_id = unique("law-course")
    helpers.known_course(course_id)  # so publish() does not announce it again with a theme of its own
    await publish(
        "activities", CourseCreated(course_id=course_id, title_zh="法律讲座", title_en="Law talk", theme="law")
    )
    sms_number, sms_en_mail = phone(), mailbox()
    texted = await _resident(theme_course=course_id, phone=sms_number, preferred_channel="sms")
    mailed = await _resident(language="en", theme_course=course_id, email=sms_en_mail, preferred_channel="email")
    no_consent = await _resident(theme_course=course_id, phone=phone(), consent=False)
    opted_out = await _resident(theme_course=course_id, phone=phone(), opted_out_categories=["announcements"])
    silent = await _resident(theme_course=course_id, no_contact=True)
    ours = [texted, mailed, no_consent, opted_out, silent]
    await _notify_knows([r["resident_id"] for r in ours])

    broadcast_id = str(uuid.uuid4())
    request = {
        "broadcast_id": broadcast_id,
        "category": "learning_week",
        "message_zh": MESSAGE_ZH,
        "message_en": MESSAGE_EN,
        "audience": {"community_ids": [COMMUNITY], "audience_groups": ["special"], "themes": ["law"]},
    }
    async with client("notify") as http:
        created = await http.post("/v1/broadcasts", json=request)
        assert created.status_code == 201, created.text
        assert created.json()["targeted"] >= len(ours) and created.json()["without_contact"] >= 1
        retried = await http.post("/v1/broadcasts", json=request)  # a client retrying after a timeout
        assert retried.status_code == 201 and retried.json() == created.json()

    sent_sms = await wait_status(texted["resident_id"], "announcement", "sent", timeout_s=60)
    assert sent_sms["channel"] == "sms" and sent_sms["text"].strip() == f"【{REFERENCE.street.name_zh}】{MESSAGE_ZH}"
    assert len(sent_sms["text"].strip()) <= 70
    sent_mail = await wait_status(mailed["resident_id"], "announcement", "sent", timeout_s=60)
    assert sent_mail["channel"] == "email" and sent_mail["text"].strip() == MESSAGE_EN
    assert (await wait_status(no_consent["resident_id"], "announcement", "suppressed"))["status_reason"] == "no_consent"
    assert (await wait_status(opted_out["resident_id"], "announcement", "suppressed"))["status_reason"] == "opted_out"
    messages = await sms_to(sms_number)
    assert len([m for m in messages if MESSAGE_ZH in m["text"]]) == 1  # the retried request sent nothing more

    async def settled():
        async with client("notify") as http:
            report = (await http.get(f"/v1/broadcasts/{broadcast_id}")).json()
        return report if report["pending"] == 0 else None

    report = await eventually(settled, timeout_s=120, every_s=1)
    assert report["targeted"] == report["sent"] + report["failed"] + report["suppressed"]
    assert report["sent"] >= 2 and report["suppressed"] >= 3
    assert {"no_consent", "opted_out", "no_contact"} <= set(report["suppressed_by_reason"])
    async with client("notify") as http:
        listed = (await http.get("/v1/broadcasts")).json()
    assert broadcast_id in [b["broadcast_id"] for b in listed]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"audience": {}}, "audience"),
        ({"audience": {"everyone": True, "community_ids": [COMMUNITY]}}, "audience"),
        ({"audience": {"community_ids": ["atlantis"]}}, "audience.community_ids"),
        ({"audience": {"themes": ["astrology"]}}, "audience.themes"),
        ({"audience": {"audience_groups": ["robots"]}}, "audience.audience_groups"),
        ({"message_zh": "学" * 65}, "message_zh"),
        ({"message_zh": "   "}, "message_zh"),
        ({"category": "spam"}, "category"),
        ({"send_to_all_phones": True}, "send_to_all_phones"),
    ],
)
async def test_a_bad_broadcast_is_refused_with_the_field_and_the_reason(change: dict, field: str):
    body = {"category": "course_promotion", "message_zh": "新课程开放报名", "message_en": "New course open",
            "audience": {"community_ids": [COMMUNITY]}} | change  # fmt: skip
    async with client("notify") as http:
        response = await http.post("/v1/broadcasts", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_only_operators_broadcast_or_read_reports():
    body = {"category": "course_promotion", "message_zh": "新课程", "message_en": "New course",
            "audience": {"community_ids": [COMMUNITY]}}  # fmt: skip
    for role in ("resident", "kiosk", "assessor"):
        async with client("notify", role=role) as http:
            assert (await http.post("/v1/broadcasts", json=body)).status_code == 403
            assert (await http.get(f"/v1/broadcasts/{uuid.uuid4()}")).status_code == 403
    async with client("notify") as http:
        assert (await http.get(f"/v1/broadcasts/{uuid.uuid4()}")).status_code == 404


async def test_a_retry_that_changes_the_message_is_refused_not_sent_as_the_first():
    """A client reusing a broadcast_id for another text must not get the first broadcast's 201 (its
    residents would never see the new text) nor a second broadcast: 409 naming broadcast_id."""
    first = {"broadcast_id": str(uuid.uuid4()), "category": "course_promotion", "message_zh": "新课程开放报名",
             "message_en": "New course open",
             "audience": {"community_ids": [COMMUNITY], "audience_groups": ["infant"], "themes": ["law"]}}  # fmt: skip
    async with client("notify") as http:
        assert (await http.post("/v1/broadcasts", json=first)).status_code == 201
        changed = await http.post("/v1/broadcasts", json=first | {"message_zh": "另一条消息"})
    assert changed.status_code == 409, changed.text
    assert changed.json()["detail"][0]["loc"][-1] == "broadcast_id"
