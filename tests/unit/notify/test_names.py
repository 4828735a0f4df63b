"""A message waits (bounded) for the catalogue names it shows, then goes with words, never ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.notify.adapters.templates import Templates
from services.notify.config import TEMPLATES
from services.notify.domain import model
from services.notify.domain.model import Contact, Pending, QuietHours
from services.notify.service_layer.delivery import NAMELESS, nameless

NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, outside quiet hours
QUIET = QuietHours.parse("22:00", "08:00", timezone(timedelta(hours=8)))
CONTACT = Contact(resident_id="r1", phone="+8613800000000", consent=True)


def pending(missing=frozenset({"course_title"}), deadline=NOON + timedelta(minutes=10)) -> Pending:
    return Pending(notification_id="n1", resident_id="r1", kind="enrolment_confirmed", attempts=0,
                   created_at=NOON, contact_deadline=NOON + timedelta(hours=1), names_missing=missing,
                   catalogue_deadline=deadline)  # fmt: skip


def test_a_message_missing_a_name_waits_until_its_bound_then_goes():
    assert model.decide(pending(), CONTACT, NOON, QUIET, 8) == model.AwaitCatalogue(NOON + timedelta(minutes=10))
    assert isinstance(model.decide(pending(), CONTACT, NOON + timedelta(minutes=10), QUIET, 8), model.Send)


def test_a_message_with_every_name_or_without_a_bound_goes_at_once():
    assert isinstance(model.decide(pending(missing=frozenset()), CONTACT, NOON, QUIET, 8), model.Send)
    assert isinstance(model.decide(pending(deadline=None), CONTACT, NOON, QUIET, 8), model.Send)


def test_consent_and_opt_out_are_decided_before_waiting_for_names():
    no_consent = Contact(resident_id="r1", phone="+8613800000000", consent=False)
    assert model.decide(pending(), no_consent, NOON, QUIET, 8) == model.Suppress("no_consent")


def test_each_kind_declares_the_names_its_templates_show():
    templates = Templates(TEMPLATES)
    assert templates.fields("enrolment_confirmed") >= {"course_title", "session_time"}
    assert "venue_name" in templates.fields("session_changed")
    assert "course_title" not in templates.fields("honour_revoked")
    assert model.template_fields("Subject: {a}\n\n{b} {a}") == {"a", "b"}


def test_a_name_never_known_reads_as_words_in_each_language():
    for field in ("course_title", "venue_name", "session_time"):
        assert set(NAMELESS[field]) == {"zh-CN", "en"}
        assert nameless(field, "fr") == NAMELESS[field]["zh-CN"]
