"""Pure rules of kiosk check-ins: window, session choice, walk-in seats, one attendance, minutes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.activities.domain import model
from services.activities.domain.model import Attendance, RuleViolated, Session
from shared.events.catalogue import KioskCheckin

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)


def session(sid="s1", venue="v1", start=T0, minutes=90, capacity=10, cancelled=False) -> Session:
    return Session(sid, "c1", venue, "pinghu", start, start + timedelta(minutes=minutes), capacity, cancelled=cancelled)


def scan(at, *, session_id=None, direction="in", kiosk="k1", venue="v1", resident="r1") -> KioskCheckin:
    return KioskCheckin(
        checkin_id=uuid.uuid4(), kiosk_id=kiosk, venue_id=venue, resident_id=resident, session_id=session_id,
        scanned_at=at, direction=direction,
    )  # fmt: skip


def judge(s, sessions, *, kiosks=None, residents=("r1",), enrolled=(), waited=timedelta(0)):
    by_id = {x.session_id: x for x in sessions}
    return model.judge(
        s,
        kiosk_venue=(kiosks or {"k1": "v1"}).get(s.kiosk_id),
        resident_known=s.resident_id in residents,
        session_by_id=by_id.get,
        sessions_near=lambda v, at: [x for x in sessions if x.venue_id == v],
        enrolled=lambda sid: sid in enrolled,
        waited=waited,
        grace=GRACE,
        received_at=s.scanned_at,  # arrived as scanned: the time rule is tested on its own
    )


@pytest.mark.parametrize(
    ("offset_min", "inside"),
    [(-31, False), (-30, True), (0, True), (90, True), (91, False)],
)
def test_checkin_window_opens_30_minutes_before_and_closes_at_the_end(offset_min, inside):
    assert session().window_contains(T0 + timedelta(minutes=offset_min)) is inside


def test_session_without_id_is_picked_by_window_enrolled_first_then_nearest_start():
    early = session("early", start=T0)
    late = session("late", start=T0 + timedelta(minutes=80))  # window opens at +50
    at = T0 + timedelta(minutes=60)
    assert model.pick_session([early, late], at, enrolled=lambda s: False).session_id == "late"
    assert model.pick_session([early, late], at, enrolled=lambda s: s == "early").session_id == "early"
    assert model.pick_session([early, late], T0 - timedelta(hours=1), enrolled=lambda s: False) is None


def test_cancelled_sessions_are_never_picked():
    assert model.pick_session([session(cancelled=True)], T0, enrolled=lambda s: False) is None


def test_unknown_kiosk_and_kiosk_at_another_venue_are_rejected_at_once():
    assert judge(scan(T0, kiosk="nope"), [session()]).reason == "unknown_kiosk"
    v = judge(scan(T0, venue="v2"), [session(venue="v2")])
    assert (v.kind, v.reason) == ("reject", "kiosk_not_at_venue")


def test_unknown_resident_is_parked_then_rejected_after_the_grace_period():
    s = scan(T0)
    assert judge(s, [session()], residents=()).kind == "park"
    v = judge(s, [session()], residents=(), waited=GRACE)
    assert (v.kind, v.reason) == ("reject", "unknown_resident")


def test_a_scan_whose_card_was_erased_is_rejected_at_once_and_names_no_one():
    # The service masks an erased card before judging (ADR 10); the masked scan is never parked,
    # whatever the grace, and its reason and detail carry no card.
    v = judge(scan(T0 + timedelta(minutes=5), resident=model.ERASED_CARD), [session()], residents=())
    assert (v.kind, v.reason) == ("reject", "resident_erased")
    assert model.ERASED_CARD not in v.detail and "r1" not in v.detail


def test_scan_without_session_in_window_is_parked_then_rejected():
    s = scan(T0 + timedelta(hours=5))
    assert judge(s, [session()]).kind == "park"
    assert judge(s, [session()], waited=GRACE + timedelta(seconds=1)).reason == "no_session_in_window"


def test_named_session_must_be_at_the_venue_and_not_cancelled():
    assert judge(scan(T0, session_id="s1"), [session(cancelled=True)]).reason == "session_cancelled"
    assert judge(scan(T0, session_id="s9"), [session()]).kind == "park"
    v = judge(scan(T0, session_id="s1"), [session()])
    assert v.kind == "attend" and v.session.session_id == "s1"


def test_late_scan_synced_hours_later_still_counts():
    v = judge(scan(T0 + timedelta(minutes=5)), [session()], waited=timedelta(0))
    assert v.kind == "attend"


@pytest.mark.parametrize(
    ("capacity", "confirmed", "walk_ins", "left"),
    [(10, 4, 3, 3), (10, 10, 0, 0), (10, 8, 5, 0), (1, 0, 0, 1)],
)
def test_walk_in_seats_are_capacity_minus_confirmed_minus_walk_ins(capacity, confirmed, walk_ins, left):
    assert model.walk_in_seats_left(capacity, confirmed, walk_ins) == left


def test_minutes_are_the_session_length_without_a_check_out():
    assert model.attended_minutes(session(minutes=90), T0, None) == 90


def test_minutes_from_check_in_to_check_out_within_the_session():
    s = session(minutes=90)
    assert model.attended_minutes(s, T0 + timedelta(minutes=10), T0 + timedelta(minutes=70)) == 60
    # An early check-in counts from the start; a late check-out stops at the end.
    assert model.attended_minutes(s, T0 - timedelta(minutes=20), T0 + timedelta(minutes=200)) == 90
    # Check-out only (its check-in lost or still to come): from the start.
    assert model.attended_minutes(s, None, T0 + timedelta(minutes=45)) == 45


def test_one_attendance_whatever_arrives_and_in_any_order():
    s = session(minutes=90)
    a = Attendance.start("r1", s, uuid.uuid4(), walk_in=False)
    assert a.apply("out", T0 + timedelta(minutes=60))  # check-out first
    assert a.minutes == 60
    assert a.apply("in", T0 + timedelta(minutes=15))  # its check-in later
    assert a.minutes == 45
    assert not a.apply("in", T0 + timedelta(minutes=20))  # a second check-in changes nothing
    assert not a.apply("out", T0 + timedelta(minutes=30))  # an earlier check-out neither
    assert a.minutes == 45


def test_ids_are_deterministic_per_resident_and_session():
    assert model.attendance_id("r1", "s1") == model.attendance_id("r1", "s1")
    assert model.attendance_id("r1", "s1") != model.attendance_id("r1", "s2")
    assert model.recorded_event_id("r1", "s1") == model.recorded_event_id("r1", "s1")
    assert model.recorded_event_id("r1", "s1") != model.attendance_id("r1", "s1")
    c = uuid.uuid4()
    assert model.rejected_event_id(c) == model.rejected_event_id(c)


def test_session_rules():
    with pytest.raises(RuleViolated) as e:
        Session("s", "c", "v", "x", T0, T0, 5)
    assert e.value.field == "ends_at"
    with pytest.raises(RuleViolated):
        model.check_session_fits_venue(session(capacity=50), model.Venue("v1", "pinghu", "馆", "Hall", "library", 20))


def test_needs_ranking_most_votes_first_with_courses():
    ranked = model.rank_needs({"health": 3, "safety": 5, "arts": 3}, {"health": ["c2", "c1"]})
    assert [(n.theme, n.votes) for n in ranked] == [("safety", 5), ("arts", 3), ("health", 3)]
    assert ranked[2].has_course and ranked[2].course_ids == ("c1", "c2")
    assert not ranked[0].has_course


def test_a_parked_check_in_waits_the_grace_period_then_is_rejected():
    assert model.still_parked(GRACE - timedelta(microseconds=1), GRACE)
    assert not model.still_parked(GRACE, GRACE)


def test_a_scan_synced_later_than_the_threshold_is_late_and_one_at_the_threshold_is_not():
    from datetime import UTC, datetime, timedelta

    from services.activities.domain.model import is_late_sync

    scanned = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)
    after = timedelta(minutes=15)
    assert not is_late_sync(scanned, scanned + after, after)
    assert is_late_sync(scanned, scanned + after + timedelta(seconds=1), after)
