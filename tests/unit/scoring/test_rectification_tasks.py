"""The rectification task's state machine (services/scoring/domain/rectification.py), pure."""

from __future__ import annotations

from datetime import date

import pytest

from services.scoring.domain import rectification as r

COMMUNITIES = {"hehua", "xinmu"}  # workstations; the street has departments


def test_the_owner_starts_and_finishes_and_an_assessor_verifies():
    s = r.move(r.OPEN, r.IN_PROGRESS, role="community_worker", is_owner=True, reason=None)
    s = r.move(s, r.DONE, role="community_worker", is_owner=True, reason=None)
    assert r.move(s, r.VERIFIED, role="assessor", is_owner=False, reason=None) == r.VERIFIED


OUT_OF_ORDER = [(r.OPEN, r.DONE), (r.OPEN, r.VERIFIED), (r.IN_PROGRESS, r.VERIFIED), (r.VERIFIED, r.OPEN),
                (r.DONE, r.IN_PROGRESS), (r.OPEN, r.OPEN)]  # fmt: skip


@pytest.mark.parametrize(("status", "to"), OUT_OF_ORDER)
def test_steps_out_of_order_are_conflicts_on_status(status, to):
    with pytest.raises(r.TaskRefused) as e:
        r.move(status, to, role="operator", is_owner=True, reason="x")
    assert (e.value.field, e.value.conflict) == ("status", True)


def test_an_unknown_status_is_invalid_not_a_conflict():
    with pytest.raises(r.TaskRefused) as e:
        r.move(r.OPEN, "closed", role="operator", is_owner=True, reason=None)
    assert (e.value.field, e.value.conflict) == ("status", False)


def test_only_the_owner_moves_the_work_and_only_a_verifier_verifies():
    with pytest.raises(r.NotPermitted):
        r.move(r.OPEN, r.IN_PROGRESS, role="community_worker", is_owner=False, reason=None)
    with pytest.raises(r.NotPermitted):  # the owner cannot verify its own work
        r.move(r.DONE, r.VERIFIED, role="community_worker", is_owner=True, reason=None)
    with pytest.raises(r.NotPermitted):
        r.move(r.DONE, r.OPEN, role="community_worker", is_owner=True, reason="not convincing")


def test_reopening_needs_a_reason():
    with pytest.raises(r.TaskRefused) as e:
        r.move(r.DONE, r.OPEN, role="assessor", is_owner=False, reason="  ")
    assert (e.value.field, e.value.conflict) == ("reason", False)
    assert r.move(r.DONE, r.OPEN, role="assessor", is_owner=False, reason="no evidence of the new classes") == r.OPEN


def test_who_owns_a_task():
    assert r.owns(r.COMMUNITY, "hehua", "community_worker", "hehua")
    assert not r.owns(r.COMMUNITY, "hehua", "community_worker", "xinmu")
    assert not r.owns(r.DEPARTMENT, "宣传办", "community_worker", "hehua")
    assert r.owns(r.DEPARTMENT, "宣传办", "operator", None)
    assert not r.owns(r.COMMUNITY, "hehua", "assessor", None)


def test_a_workstation_owns_only_its_own_communitys_items():
    r.check_owner(r.COMMUNITY, "hehua", COMMUNITIES, "hehua")
    r.check_owner(r.DEPARTMENT, "文体办", COMMUNITIES, "hehua")
    r.check_owner(r.COMMUNITY, "hehua", COMMUNITIES, "street")  # the street's item, given to a workstation
    for kind, owner, field in [(r.COMMUNITY, "xinmu", "owner"), (r.COMMUNITY, "nowhere", "owner"),
                               ("team", "x", "owner_kind"), (r.DEPARTMENT, " ", "owner")]:  # fmt: skip
        with pytest.raises(r.TaskRefused) as e:
            r.check_owner(kind, owner, COMMUNITIES, "hehua")
        assert (e.value.field, e.value.conflict) == (field, False)


def test_a_verified_task_is_final():
    r.reassignable(r.DONE)
    with pytest.raises(r.TaskRefused):
        r.reassignable(r.VERIFIED)


def test_overdue_means_past_the_deadline_day_and_not_done():
    deadline = date(2026, 12, 5)
    assert not r.is_overdue(r.OPEN, deadline, date(2026, 12, 5))
    assert r.is_overdue(r.OPEN, deadline, date(2026, 12, 6))
    assert r.is_overdue(r.IN_PROGRESS, deadline, date(2026, 12, 6))
    assert not r.is_overdue(r.DONE, deadline, date(2027, 1, 1))
    assert not r.is_overdue(r.VERIFIED, deadline, date(2027, 1, 1))
