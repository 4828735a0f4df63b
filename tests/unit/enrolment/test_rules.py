"""The enrolment rules that SQL also applies (under the session's lock, or because they pick
rows): the model's version of each, and a check that the statement named in its docstring still
says the same, so that a change to one side points at the other."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

from services.enrolment.adapters import repository
from services.enrolment.domain import model
from services.enrolment.domain.model import SessionState

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def sql(function) -> str:
    return " ".join(inspect.getsource(function).split())


@pytest.mark.parametrize(("confirmed", "capacity", "seat"), [(0, 1, True), (1, 2, True), (2, 2, False), (0, 0, False)])
def test_a_seat_while_fewer_are_confirmed_than_there_are_seats(confirmed, capacity, seat):
    assert model.has_free_seat(confirmed, capacity) is seat


def test_a_new_waitlisted_resident_joins_the_end():
    assert [model.next_waitlist_position(n) for n in (0, 1, 7)] == [1, 2, 8]


def test_seat_and_position_are_decided_again_under_the_lock_by_the_same_rule():
    statement = sql(repository.place_enrolment)
    assert "confirmed_count < capacity AS seat" in statement  # model.has_free_seat
    assert "l.waitlist_count + 1" in statement  # model.next_waitlist_position
    assert "FOR UPDATE" in statement


def test_waitlist_is_first_come_first_served_by_arrival_number():
    assert model.waitlist_order([7, 3, 12, 5]) == [3, 5, 7, 12]


def test_position_counts_the_waitlisted_residents_ahead():
    waitlisted = [3, 5, 7, 12]
    assert [model.waitlist_position(seq, waitlisted) for seq in waitlisted] == [1, 2, 3, 4]
    assert model.waitlist_position(4, [3, 5]) == 2  # a promoted or cancelled arrival no longer counts


def test_promotion_takes_the_head_of_the_waitlist_as_far_as_seats_are_free():
    session = SessionState("s-1", "c-1", NOW + timedelta(days=1), capacity=3, confirmed=1, waitlisted=4)
    seats = model.seats_to_promote(session, now=NOW)
    assert seats == 2
    assert model.waitlist_order([9, 4, 6, 2])[:seats] == [2, 4]


@pytest.mark.parametrize(
    "statement", [repository.promote_and_count, repository.cancel_and_promote, repository.cancel_if_unchanged]
)
def test_promotions_in_sql_follow_the_waitlist_order_and_take_the_models_count(statement):
    text = sql(statement)
    assert "status = 'waitlisted'" in text
    assert "ORDER BY e.seq LIMIT" in text or "ORDER BY seq LIMIT" in text  # model.waitlist_order


def test_positions_in_sql_count_the_waitlisted_residents_up_to_this_one():
    view = " ".join(repository._ENROLMENT_VIEW.split())
    assert "w.status = 'waitlisted' AND w.seq <= e.seq" in view  # model.waitlist_position


@pytest.mark.parametrize(
    ("audiences", "group", "eligible"),
    [((), "adult", True), (("adult",), "adult", True), (("child", "elderly"), "adult", False)],
)
def test_audience_eligibility(audiences, group, eligible):
    assert model.audience_eligible(audiences, group) is eligible


def test_elderly_priority_window_excludes_others_until_it_ends():
    until = NOW + timedelta(hours=1)
    session = SessionState("s-1", "c-1", NOW + timedelta(days=1), 2, 0, 0, elderly_priority_until=until)
    assert model.elderly_priority_excludes(session, "adult", NOW)
    assert not model.elderly_priority_excludes(session, model.ELDERLY, NOW)
    assert not model.elderly_priority_excludes(session, "adult", until)
    no_window = SessionState("s-1", "c-1", NOW + timedelta(days=1), 2, 0, 0)
    assert not model.elderly_priority_excludes(no_window, "adult", NOW)
