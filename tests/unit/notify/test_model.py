"""Pure rules of the notify domain: quiet hours, delivery decisions, backoff, reminders, templates."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.notify.adapters.channels import Outgoing, SmtpMailer, message_id
from services.notify.adapters.templates import LANGUAGES, Templates
from services.notify.config import TEMPLATES
from services.notify.domain import model
from services.notify.domain.model import Contact, Pending, QuietHours

SH = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours.parse("22:00", "08:00", SH)


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


def pending(kind: str = "enrolment_confirmed", **kw) -> Pending:
    base = dict(
        notification_id="n1",
        resident_id="r1",
        kind=kind,
        attempts=0,
        created_at=sh(1, 12),
        contact_deadline=sh(1, 13),
    )
    return Pending(**{**base, **kw})


def contact(**kw) -> Contact:
    return Contact(**{"resident_id": "r1", "phone": "+8613800000000", "consent": True, **kw})


@pytest.mark.parametrize(
    ("at", "inside"),
    [(sh(1, 21, 59), False), (sh(1, 22), True), (sh(1, 23, 59), True), (sh(2, 0), True), (sh(2, 7, 59), True),
     (sh(2, 8), False), (sh(2, 12), False)],
)  # fmt: skip
def test_quiet_hours_cross_midnight(at, inside):
    assert QUIET.contains(at) is inside


def test_window_end_is_next_morning_before_midnight_and_same_morning_after():
    assert QUIET.window_end(sh(1, 23)) == sh(2, 8)
    assert QUIET.window_end(sh(2, 3)) == sh(2, 8)
    assert QUIET.window_end(sh(2, 12)) == sh(2, 12)  # outside: now


def test_daytime_window_and_empty_window():
    lunch = QuietHours.parse("12:00", "14:00", SH)
    assert lunch.contains(sh(1, 13)) and not lunch.contains(sh(1, 14)) and not lunch.contains(sh(1, 11))
    assert lunch.window_end(sh(1, 12, 30)) == sh(1, 14)
    none = QuietHours.parse("00:00", "00:00", SH)
    assert not none.contains(sh(1, 3))


def test_quiet_hours_are_in_shanghai_time_whatever_the_timestamp_zone():
    assert QUIET.contains(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    assert not QUIET.contains(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # 11:00 in Shanghai


def test_bad_quiet_hours_name_the_field():
    with pytest.raises(model.RuleViolated) as e:
        QuietHours.parse("25:00", "08:00", SH)
    assert e.value.field == "quiet_hours_start"


def test_send_on_preferred_channel_by_day():
    decision = model.decide(pending(), contact(email="a@b.cn", preferred_channel="email"), sh(1, 12), QUIET, 8)
    assert decision == model.Send("email", "a@b.cn")


def test_falls_back_to_the_channel_with_an_address_and_keeps_a_locked_channel():
    assert model.decide(pending(), contact(preferred_channel="email"), sh(1, 12), QUIET, 8) == model.Send(
        "sms", "+8613800000000"
    )
    both = contact(email="a@b.cn", preferred_channel="email")
    assert model.decide(pending(channel="sms"), both, sh(1, 12), QUIET, 8) == model.Send("sms", "+8613800000000")


def test_quiet_hours_defer_non_urgent_until_window_end():
    assert model.decide(pending(), contact(), sh(1, 23), QUIET, 8) == model.Defer(sh(2, 8))


def test_resident_quiet_hours_override_the_street_default():
    own = contact(quiet_hours_start="21:00", quiet_hours_end="07:00")
    assert model.decide(pending(), own, sh(1, 21, 30), QUIET, 8) == model.Defer(sh(2, 7))
    off = contact(quiet_hours_start="00:00", quiet_hours_end="00:00")
    assert isinstance(model.decide(pending(), off, sh(1, 23), QUIET, 8), model.Send)


def test_session_cancelled_today_is_urgent_but_cancelled_next_week_waits():
    today = pending("session_cancelled", session_starts_at=sh(2, 10))
    assert isinstance(model.decide(today, contact(), sh(2, 6), QUIET, 8), model.Send)
    # cancelled at 23:00 for 07:00 the next morning: after the window would be too late
    early = pending("session_cancelled", session_starts_at=sh(2, 7))
    assert isinstance(model.decide(early, contact(), sh(1, 23), QUIET, 8), model.Send)
    later = pending("session_cancelled", session_starts_at=sh(9, 10))
    assert model.decide(later, contact(), sh(1, 23), QUIET, 8) == model.Defer(sh(2, 8))


def test_two_hour_reminder_for_an_early_session_goes_in_quiet_hours():
    reminder = pending("reminder_2h", session_starts_at=sh(2, 7, 30))
    assert isinstance(model.decide(reminder, contact(), sh(2, 5, 30), QUIET, 8), model.Send)
    confirmed = pending("enrolment_confirmed", session_starts_at=sh(9, 9))
    assert isinstance(model.decide(confirmed, contact(), sh(2, 5, 30), QUIET, 8), model.Defer)


def test_opt_out_and_missing_consent_suppress():
    assert model.decide(pending(), contact(opted_out_categories=("enrolment",)), sh(1, 12), QUIET, 8) == (
        model.Suppress("opted_out")
    )
    assert isinstance(
        model.decide(pending("honour_awarded"), contact(opted_out_categories=("enrolment",)), sh(1, 12), QUIET, 8),
        model.Send,
    )
    assert model.decide(pending(), contact(consent=False), sh(1, 12), QUIET, 8) == model.Suppress("no_consent")


def test_no_contact_waits_until_the_deadline_then_fails():
    assert model.decide(pending(), None, sh(1, 12), QUIET, 8) == model.AwaitContact(sh(1, 13))
    assert model.decide(pending(), contact(phone=None), sh(1, 12), QUIET, 8) == model.AwaitContact(sh(1, 13))
    assert model.decide(pending(), None, sh(1, 13), QUIET, 8) == model.Fail("no_contact")


def test_exhausted_attempts_fail():
    assert model.decide(pending(attempts=8), contact(), sh(1, 12), QUIET, 8) == model.Fail("retries_exhausted")


def test_backoff_grows_is_jittered_and_bounded_to_about_half_an_hour_over_8_attempts():
    rnd = random.Random(7)
    delays = [model.retry_delay(n, 15, 600, rnd) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        step = min(600, 15 * 2 ** (n - 1))
        assert step / 2 <= delay <= step
    assert 15 * 60 <= sum(delays) <= 35 * 60
    assert model.retry_delay(30, 15, 600, rnd) <= 600


def test_reminders_skip_moments_already_past():
    starts = sh(5, 19)
    assert model.reminder_times(starts, sh(1, 12)) == {"reminder_24h": sh(4, 19), "reminder_2h": sh(5, 17)}
    assert model.reminder_times(starts, sh(5, 10)) == {"reminder_2h": sh(5, 17)}
    assert model.reminder_times(starts, sh(5, 18)) == {}


def test_idempotency_key_is_per_resident_kind_and_subject():
    assert model.idempotency_key("r1", "enrolment_confirmed", "e1") == "r1:enrolment_confirmed:e1"
    assert model.reminder_subject("e1", sh(5, 19), 0) != model.reminder_subject("e1", sh(5, 20), 0)
    with pytest.raises(model.RuleViolated):
        model.idempotency_key("r1", "spam", "x")


def test_render_fills_fields_and_blanks_unknown_ones():
    rendered = model.render("Subject: Hi {name}\n\nBody {name} {missing}", {"name": "Li"})
    assert rendered == model.Rendered("Hi Li", "Body Li -")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", model.KINDS)
def test_every_shipped_template_renders_with_subject_and_all_fields(language, kind):
    templates = Templates(TEMPLATES)
    params = {"course_title": "T", "session_time": "S", "venue_name": "V", "position": 3, "reason": "R",
              "honour_name": "H", "period": "P", "code": "042917", "minutes": 5}  # fmt: skip
    zh = language == "zh-CN"
    params |= {"street_name": "平湖街道" if zh else "Pinghu Street", "message": "学习周开幕" if zh else "Learning week"}
    rendered = model.render(templates.text(language, kind), params)
    assert rendered.subject and rendered.body
    assert " - " not in rendered.body and "{" not in rendered.body
    if language == "zh-CN":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in rendered.body)
    else:
        assert rendered.body.isascii()


def test_honour_names_in_both_languages():
    templates = Templates(TEMPLATES)
    assert templates.honour_name("learning_star", "zh-CN") == "百姓学习之星"
    assert templates.honour_name("learning_star", "en") == "Learning Star of the People"
    assert templates.honour_name("new_kind", "en") == "new kind"


def test_email_is_identical_on_resend_with_message_id_from_the_key():
    mailer = SmtpMailer(host="h", port=1, sender="s@x.cn", domain="d.local", timeout_s=1)
    out = Outgoing("n1", "r1", "r1:enrolment_confirmed:e1", "a@b.cn", "主题", "正文", "zh-CN", sh(1, 12))
    first, second = mailer.build(out), mailer.build(out)
    assert first.as_bytes() == second.as_bytes()
    assert first["Message-ID"] == message_id("r1:enrolment_confirmed:e1", "d.local")
    assert first["Message-ID"] != message_id("r1:enrolment_confirmed:e2", "d.local")
    assert first["Content-Language"] == "zh-CN"


# --- broadcasts ----------------------------------------------------------------------------

KNOWN = ({"c1", "c2"}, {"elderly", "youth"}, {"health"})


@pytest.mark.parametrize(
    ("audience", "field"),
    [
        (model.Audience(), "audience"),  # a forgotten filter must not message the whole street
        (model.Audience(community_ids=("c1",), everyone=True), "audience"),
        (model.Audience(community_ids=("c9",)), "audience.community_ids"),
        (model.Audience(audience_groups=("robots",)), "audience.audience_groups"),
        (model.Audience(themes=("c1",)), "audience.themes"),
    ],
)
def test_a_broadcast_audience_names_who_it_is_for(audience: model.Audience, field: str):
    with pytest.raises(model.RuleViolated) as refused:
        audience.check(*KNOWN)
    assert refused.value.field == field


def test_a_broadcast_audience_may_be_everyone_or_narrowed():
    model.Audience(everyone=True).check(*KNOWN)
    model.Audience(community_ids=("c1",), audience_groups=("elderly",), themes=("health",)).check(*KNOWN)


def test_a_chinese_broadcast_fits_one_sms_segment_with_the_signature():
    signature = "【平湖街道】"
    model.check_broadcast_texts("学" * (70 - len(signature)), "ok", signature)
    with pytest.raises(model.RuleViolated) as refused:
        model.check_broadcast_texts("学" * (71 - len(signature)), "ok", signature)
    assert refused.value.field == "message_zh" and "at most 64" in refused.value.reason
    with pytest.raises(model.RuleViolated):
        model.check_broadcast_texts("   ", "ok", signature)


def test_a_broadcast_is_spread_out_at_its_rate():
    assert [model.broadcast_offset_s(i, 200.0) for i in (0, 1, 200, 100_000)] == [0.0, 0.005, 1.0, 500.0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_rendered_chinese_broadcast_sms_with_the_street_signature_is_one_segment(language):
    templates = Templates(TEMPLATES)
    message = "平湖街道全民终身学习活动周12月8日开幕，欢迎到社区党群服务中心参加讲座、展览和读书分享"
    rendered = model.render(templates.text(language, "announcement"), {"street_name": "平湖街道", "message": message})
    if language == "zh-CN":
        assert rendered.body.strip().startswith("【平湖街道】") and len(rendered.body.strip()) <= 70
