"""A need vote's id travels on activities.needs (need.voted.v2, ADR 10): random, never derived from
the resident, so a card number cannot find its vote there; and new for every vote (a cached id once
gave every vote the same one, and every vote after the first was refused as already cast)."""

from __future__ import annotations

import uuid

from services.activities.domain import model


def test_every_vote_gets_a_new_random_id():
    ids = {model.new_vote_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_the_check_in_ids_stay_derived_and_cached():
    first = model.attendance_id("r-000123", "s-1")
    assert model.attendance_id("r-000123", "s-1") == first == uuid.uuid5(model.ATTENDANCE_NS, "r-000123\x1fs-1")
    assert model.attendance_id.cache_info().hits >= 1
