"""A resident's sign-in code (kind `sign_in_code`): requested by the resident, so sent at once by
SMS to their registered phone whatever their consent, opt-outs and quiet hours, never by e-mail and
never once expired; its text names the street and the code."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.adapters.templates import LANGUAGES, Templates
from services.notify.config import TEMPLATES
from services.notify.domain import model
from services.notify.domain.model import Contact, Pending, QuietHours

SH = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours.parse("22:00", "08:00", SH)
NIGHT = datetime(2026, 12, 5, 23, 30, tzinfo=SH)


def code(**kw) -> Pending:
    base = dict(
        notification_id="n1", resident_id="r1", kind="sign_in_code", attempts=0, created_at=NIGHT,
        contact_deadline=NIGHT + timedelta(minutes=5),
        params={"code": "042917", "expires_at": (NIGHT + timedelta(minutes=5)).isoformat(), "minutes": 5},
    )  # fmt: skip
    return Pending(**{**base, **kw})


def contact(**kw) -> Contact:
    return Contact(**{"resident_id": "r1", "phone": "+8613800000000", "consent": False, **kw})


def test_the_code_goes_at_night_without_consent_and_despite_opt_outs():
    resident = contact(opted_out_categories=("all", "sign_in"), quiet_hours_start="20:00", quiet_hours_end="09:00")
    assert model.decide(code(), resident, NIGHT, QUIET, 8) == model.Send("sms", "+8613800000000")


def test_only_to_the_registered_phone_never_by_email():
    by_mail = contact(phone=None, email="r1@example.org", preferred_channel="email", consent=True)
    assert model.decide(code(), by_mail, NIGHT, QUIET, 8) == model.Fail("no_phone")
    assert model.decide(code(channel="email"), contact(email="r1@example.org"), NIGHT, QUIET, 8) == model.Send(
        "sms", "+8613800000000"
    )


def test_an_expired_code_is_not_sent():
    later = NIGHT + timedelta(minutes=5)
    assert model.decide(code(), contact(), later, QUIET, 8) == model.Suppress("expired")


def test_without_a_contact_it_waits_no_longer_than_the_code_lives():
    assert model.decide(code(), None, NIGHT, QUIET, 8) == model.AwaitContact(NIGHT + timedelta(minutes=5))
    assert isinstance(model.decide(code(params={}), None, NIGHT + timedelta(minutes=6), QUIET, 8), model.Fail)


def test_announcements_still_need_consent():
    # the exemption is the sign-in code's alone
    assert model.decide(code(kind="announcement", params={}), contact(), NIGHT, QUIET, 8) == model.Suppress(
        "no_consent"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_message_names_the_street_and_carries_the_code(language):
    templates = Templates(TEMPLATES)
    street = templates.street_name(language)
    rendered = model.render(
        templates.text(language, "sign_in_code"), {"code": "042917", "minutes": 5, "street_name": street}
    )
    assert "042917" in rendered.body and "5" in rendered.body and street in rendered.body
    if language == "zh-CN":
        assert rendered.body.startswith("【平湖街道】") and len(rendered.body) <= 70
