"""The demo's kiosks (deploy/demo/simulate.py): a second street on the same stack (`--run`) sends
scans of its own, never check-in ids of the first street's scans."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from deploy.demo import simulate
from deploy.demo.dataset import generate


def scans_of(run: str) -> list[dict]:
    street = generate(residents=200, courses=12, run=run)
    p = simulate.plan(street, datetime(2026, 11, 2, 9, tzinfo=UTC))
    rng = random.Random(17)  # the seed `simulate.scan` uses
    return [simulate.checkin(resident, s, s["starts_at"], rng) for resident, s in p.attendance[:200]]


def test_two_streets_on_one_stack_send_different_checkin_ids() -> None:
    first, second = scans_of("pinghu"), scans_of("pinghu2")
    assert {c["kiosk_id"] for c in second}.isdisjoint(c["kiosk_id"] for c in first)
    assert {c["checkin_id"] for c in second}.isdisjoint(c["checkin_id"] for c in first)


def test_a_rerun_of_one_street_sends_the_same_checkin_ids() -> None:
    assert [c["checkin_id"] for c in scans_of("pinghu")] == [c["checkin_id"] for c in scans_of("pinghu")]
