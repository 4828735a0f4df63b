"""Pure rules of closing and reopening a venue (issue 14): one closing at a time, sessions refused
on closed days, check-ins of sessions on closed days rejected with `venue_closed`."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.activities.domain import model
from services.activities.domain.model import Closing, RuleViolated, Session
from shared.events.catalogue import KioskCheckin

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)  # 09:00 in Pinghu, 1 May
MAY_1, MAY_2 = date(2026, 5, 1), date(2026, 5, 2)


def session(start=T0) -> Session:
    return Session("s1", "c1", "v1", "pinghu", start, start + timedelta(minutes=90), 10)


def judge(closing: Closing | None, start=T0):
    s = session(start)
    scan = KioskCheckin(checkin_id=uuid.uuid4(), kiosk_id="k1", venue_id="v1", resident_id="r1", session_id="s1",
                        scanned_at=start, direction="in")  # fmt: skip
    return model.judge(
        scan, kiosk_venue="v1", resident_known=True, session_by_id={"s1": s}.get, sessions_near=lambda v, at: [s],
        enrolled=lambda sid: False, waited=timedelta(0), grace=timedelta(minutes=10), received_at=start,
        closing_of={"v1": closing}.get,
    )  # fmt: skip


def test_a_venue_closes_once_and_reopens_on_a_later_day():
    closing = model.close_venue(None, MAY_1, "renovation")
    assert closing.closed_at(MAY_1) and not closing.closed_at(date(2026, 4, 30))
    with pytest.raises(RuleViolated, match="closed since 2026-05-01"):
        model.close_venue(closing, MAY_2, "again")
    with pytest.raises(RuleViolated, match="later day"):
        model.reopen_venue(closing, MAY_1)
    reopened = model.reopen_venue(closing, MAY_2)
    assert reopened.closed_at(MAY_1) and not reopened.closed_at(MAY_2)
    with pytest.raises(RuleViolated, match="not closed"):
        model.reopen_venue(reopened, date(2026, 5, 3))
    with pytest.raises(RuleViolated, match="on or after"):
        model.close_venue(reopened, MAY_1, "back in time")
    assert model.close_venue(reopened, MAY_2, "flood").closed_at(MAY_2)
    with pytest.raises(RuleViolated, match="why"):
        model.close_venue(None, MAY_1, " ")


def test_no_session_on_a_closed_day_by_the_streets_calendar():
    closing = Closing(MAY_2)
    model.check_venue_open_for(session(), closing)  # 1 May is open
    # 16:30 UTC on 1 May is 00:30 on 2 May in Pinghu: closed.
    with pytest.raises(RuleViolated, match="closed from 2026-05-02"):
        model.check_venue_open_for(session(datetime(2026, 5, 1, 16, 30, tzinfo=UTC)), closing)
    model.check_venue_open_for(session(), None)


def test_checkins_of_a_session_on_a_closed_day_are_rejected_with_a_reason():
    assert judge(None).kind == "attend"
    assert judge(Closing(MAY_2)).kind == "attend"
    v = judge(Closing(MAY_1, reason="renovation"))
    assert (v.kind, v.reason) == ("reject", "venue_closed")
    assert "closed from 2026-05-01" in v.detail
    assert judge(Closing(date(2026, 4, 1), reopened_on=MAY_1)).kind == "attend"
