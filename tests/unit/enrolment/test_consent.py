"""Consent per purpose, without a database: the street's notice file, decisions, the latest wins."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.enrolment.adapters.consents import load_notice
from services.enrolment.domain import consent
from services.enrolment.domain.consent import Decision, Notice

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def decision(purpose: str, granted: bool, minutes: int) -> Decision:
    return Decision(purpose, granted, "v1", T0 + timedelta(minutes=minutes), "resident")


def test_the_streets_notice_declares_every_purpose_in_both_languages():
    notice = load_notice("reference/pinghu")
    assert isinstance(notice.published, date) and notice.version
    assert set(notice.purposes) == set(consent.PURPOSES)
    assert all(texts["zh-CN"] and texts["en"] for texts in notice.purposes.values())


@pytest.mark.parametrize("purposes", [{"surveys": {}}, {p: {} for p in (*consent.PURPOSES, "marketing")}])
def test_a_notice_that_misses_or_invents_a_purpose_stops_the_start(purposes):
    with pytest.raises(ValueError, match="exactly"):
        consent.check_notice(Notice("v1", date(2026, 12, 1), purposes))


def test_the_latest_decision_per_purpose_wins_in_the_notices_order():
    history = [decision("surveys", True, 0), decision("notifications", True, 1), decision("surveys", False, 2),
               decision("learning_record", True, 3)]  # fmt: skip
    assert consent.granted(history) == ["learning_record", "notifications"]
    assert consent.current(history)["surveys"].granted is False
    assert consent.granted([]) == []


def test_only_the_current_notice_and_declared_purposes_can_be_agreed_to():
    notice = Notice("v2", date(2026, 12, 1), {p: {} for p in consent.PURPOSES})
    assert consent.stale_notice(notice, "v2") is None
    assert "v2" in consent.stale_notice(notice, "v1")
    assert consent.unknown_purpose("surveys") is None
    assert "marketing" in consent.unknown_purpose("marketing")


def test_a_decision_identical_to_the_state_changes_nothing_but_a_newer_notice_or_a_first_refusal_does():
    agreed, withdrawn = decision("surveys", True, 0), decision("surveys", False, 1)
    assert consent.changes_nothing(agreed, True, "v1")
    assert not consent.changes_nothing(agreed, True, "v2")  # the resident read a newer notice
    assert not consent.changes_nothing(agreed, False, "v1")
    assert consent.changes_nothing(withdrawn, False, "v1")
    assert not consent.changes_nothing(withdrawn, True, "v1")
    assert not consent.changes_nothing(None, False, "v1")  # never asked, now refused: recorded
    assert not consent.changes_nothing(None, True, "v1")


def test_agreements_wait_once_a_purpose_changed_the_limit_within_the_hour():
    now = T0 + timedelta(hours=2)
    changes = [now - timedelta(minutes=50 - 2 * i) for i in range(20)]  # 50, 48, ... 12 minutes ago
    assert consent.agreement_wait(now, changes[1:], 20) is None
    wait = consent.agreement_wait(now, changes, 20)
    assert wait == timedelta(minutes=10)  # when the oldest of the 20 leaves the hour
    assert consent.wait_seconds(wait) == 600
    older = [now - timedelta(hours=1, seconds=1)] * 50  # beyond the hour: not counted
    assert consent.agreement_wait(now, older + changes[1:], 20) is None
    assert consent.wait_seconds(timedelta(milliseconds=10)) == 1
    message = consent.too_many_changes("surveys", 20, wait)
    assert "surveys" in message and "10 min" in message and "10分钟" in message
