"""The lease rule: a worker sends a claimed message only while its lease holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify.domain.model import lease_holds

CLAIMED = datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
LEASE_UNTIL = CLAIMED + timedelta(seconds=120)


def test_a_lease_holds_from_the_claim_until_just_before_it_runs_out():
    assert lease_holds(CLAIMED, LEASE_UNTIL)
    assert lease_holds(LEASE_UNTIL - timedelta(microseconds=1), LEASE_UNTIL)


def test_a_lease_that_ran_out_no_longer_holds():
    # `claim_due` lets another worker take a `sending` row whose due_at (the lease) is <= its now.
    assert not lease_holds(LEASE_UNTIL, LEASE_UNTIL)
    assert not lease_holds(LEASE_UNTIL + timedelta(hours=1), LEASE_UNTIL)
