"""Pure enrolment rules: capacity, waitlist order, promotion, eligibility, priority window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.enrolment.domain import model
from services.enrolment.domain.model import EnrolmentRefused, SessionState, Status

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def session(**overrides) -> SessionState:
    values = dict(
        session_id="s-1", course_id="c-1", starts_at=NOW + timedelta(days=1), capacity=2, confirmed=0, waitlisted=0
    )
    values.update(overrides)
    return SessionState(**values)


def test_seat_while_capacity_left():
    assert model.place(session(confirmed=1), "adult", already_enrolled=False, now=NOW) == model.Placement(
        Status.CONFIRMED, None
    )


def test_full_session_waitlists_with_next_position():
    placement = model.place(session(confirmed=2, waitlisted=3), "adult", already_enrolled=False, now=NOW)
    assert placement == model.Placement(Status.WAITLISTED, 4)


def test_zero_capacity_waitlists_first_comer_at_position_one():
    assert model.place(session(capacity=0), "adult", already_enrolled=False, now=NOW).position == 1


def test_double_enrolment_refused():
    with pytest.raises(EnrolmentRefused) as refused:
        model.place(session(), "adult", already_enrolled=True, now=NOW)
    assert refused.value.code == "already_enrolled" and refused.value.field == "resident_id"


@pytest.mark.parametrize("audiences", [(), ("adult",), ("child", "adult")])
def test_eligible_audiences(audiences):
    assert (
        model.place(session(audiences=audiences), "adult", already_enrolled=False, now=NOW).status is Status.CONFIRMED
    )


def test_ineligible_audience_refused():
    with pytest.raises(EnrolmentRefused) as refused:
        model.place(session(audiences=("child", "infant")), "elderly", already_enrolled=False, now=NOW)
    assert refused.value.code == "audience_not_eligible"
    assert "child" in refused.value.reason and "不面向" in refused.value.reason


def test_priority_window_admits_only_elderly_before_its_end():
    s = session(elderly_priority_until=NOW + timedelta(hours=1))
    assert model.place(s, "elderly", already_enrolled=False, now=NOW).status is Status.CONFIRMED
    with pytest.raises(EnrolmentRefused) as refused:
        model.place(s, "adult", already_enrolled=False, now=NOW)
    assert refused.value.code == "elderly_priority_window"
    assert model.place(s, "adult", already_enrolled=False, now=NOW + timedelta(hours=1)).status is Status.CONFIRMED


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"cancelled": True}, "session_cancelled"),
        ({"course_cancelled": True}, "session_cancelled"),
        ({"starts_at": NOW}, "session_started"),
        ({"starts_at": NOW - timedelta(minutes=5)}, "session_started"),
    ],
)
def test_no_enrolment_in_cancelled_or_started_session(overrides, code):
    with pytest.raises(EnrolmentRefused) as refused:
        model.place(session(**overrides), "adult", already_enrolled=False, now=NOW)
    assert refused.value.code == code


def test_cancelling_a_seat_frees_one_promotion():
    after = model.after_cancellation(session(capacity=2, confirmed=2, waitlisted=5), Status.CONFIRMED)
    assert (after.confirmed, after.waitlisted) == (1, 5)
    assert model.seats_to_promote(after, now=NOW) == 1


def test_cancelling_a_waitlisted_enrolment_promotes_nobody():
    after = model.after_cancellation(session(capacity=2, confirmed=2, waitlisted=5), Status.WAITLISTED)
    assert (after.confirmed, after.waitlisted) == (2, 4)
    assert model.seats_to_promote(after, now=NOW) == 0


def test_no_promotion_after_the_session_started():
    s = session(capacity=2, confirmed=1, waitlisted=3, starts_at=NOW - timedelta(seconds=1))
    assert model.seats_to_promote(s, now=NOW) == 0


def test_capacity_increase_promotes_up_to_the_new_free_seats():
    assert model.seats_to_promote(session(capacity=5, confirmed=2, waitlisted=10), now=NOW) == 3
    assert model.seats_to_promote(session(capacity=5, confirmed=2, waitlisted=1), now=NOW) == 1


def test_capacity_decrease_below_confirmed_promotes_nobody():
    assert model.seats_to_promote(session(capacity=1, confirmed=3, waitlisted=4), now=NOW) == 0


def test_no_promotion_in_cancelled_session():
    assert model.seats_to_promote(session(capacity=5, confirmed=0, waitlisted=2, cancelled=True), now=NOW) == 0


def test_waitlist_positions_follow_arrival_order():
    s = session(capacity=1)
    statuses = []
    for _ in range(4):
        placement = model.place(s, "adult", already_enrolled=False, now=NOW)
        statuses.append((placement.status, placement.position))
        if placement.status is Status.CONFIRMED:
            s = SessionState(**{**s.__dict__, "confirmed": s.confirmed + 1})
        else:
            s = SessionState(**{**s.__dict__, "waitlisted": s.waitlisted + 1})
    assert statuses == [
        (Status.CONFIRMED, None),
        (Status.WAITLISTED, 1),
        (Status.WAITLISTED, 2),
        (Status.WAITLISTED, 3),
    ]


def test_changed_topics_separate_contact_from_public_attributes():
    assert model.changed_topics({"phone": "1"}) == (False, True)
    assert model.changed_topics({"community_id": "x"}) == (True, False)
    assert model.changed_topics({"language": "en"}) == (True, True)


def test_resident_may_change_contact_but_not_community():
    assert model.forbidden_for_resident({"phone": "1", "consent": True, "volunteer": True}) == []
    assert model.forbidden_for_resident({"community_id": "x", "phone": "1"}) == ["community_id"]


@pytest.mark.parametrize(
    "resident, changes, blamed",
    [
        ({"consent": True, "preferred_channel": "sms", "phone": "+86 138"}, {"email"}, None),
        ({"consent": False, "preferred_channel": "email", "email": None}, {"preferred_channel"}, None),
        ({"consent": True, "preferred_channel": "email", "email": None}, {"preferred_channel"}, "preferred_channel"),
        ({"consent": True, "preferred_channel": "sms", "phone": None}, {"phone"}, "phone"),
        ({"consent": True, "preferred_channel": "email", "email": None}, {"email", "preferred_channel"}, "email"),
        ({"consent": True, "preferred_channel": "sms", "phone": None}, {"consent"}, "consent"),
        ({"consent": True, "preferred_channel": "sms", "phone": ""}, set(), "phone"),
    ],
)
def test_a_consenting_residents_channel_must_have_its_address_and_the_change_that_broke_it_is_named(
    resident, changes, blamed
):
    assert model.channel_without_address(resident, changes) == blamed
