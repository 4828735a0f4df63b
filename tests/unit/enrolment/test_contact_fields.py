"""Quiet hours are contact preferences: notify-only (enrolment.contacts), changeable by the resident."""

from __future__ import annotations

from services.enrolment.domain import model


def test_quiet_hours_go_to_the_contacts_topic_only():
    assert model.changed_topics({"quiet_hours_start": "22:00", "quiet_hours_end": "07:00"}) == (False, True)
    assert "quiet_hours_start" not in model.PUBLIC_FIELDS


def test_a_resident_may_set_their_own_quiet_hours_but_not_their_community():
    assert model.forbidden_for_resident({"quiet_hours_start": "22:00", "quiet_hours_end": "07:00"}) == []
    assert model.forbidden_for_resident({"quiet_hours_start": "22:00", "community_id": "x"}) == ["community_id"]
