"""Any interleaving, batching and duplication of the same attendance events folds to the same
aggregates as a from-scratch computation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain.attendance import (
    Aggregates,
    AttendanceFact,
    apply_batch,
    fold_attendance,
    merge,
    normalised,
    recompute,
)

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
GROUP_OF = {"r1": "adult", "r2": "elderly", "r3": "child"}  # a resident's audience group is one fact


@st.composite
def histories(draw):
    """Facts for a few attendances: each has one recording and 0-3 adjustments (distinct times)."""
    facts = []
    for n in range(draw(st.integers(1, 6))):
        aid = f"a{n}"
        resident = draw(st.sampled_from(["r1", "r2", "r3"]))
        session = f"s{n}"  # one attendance per resident per session
        community = draw(st.sampled_from(["pinghu", "xinnan"]))
        day = date(2026, 3, 1) + timedelta(days=draw(st.integers(0, 40)))
        facts.append(
            AttendanceFact(
                attendance_id=aid, resident_id=resident, session_id=session, minutes=draw(st.integers(0, 180)),
                at=T0, event_id=f"{aid}-rec", recorded=True, course_id=f"c{n % 2}", community_id=community,
                home_community_id=draw(st.sampled_from([None, "pinghu"])),
                audience_group=draw(st.sampled_from([None, GROUP_OF[resident]])), day=day,
            )
        )  # fmt: skip
        offsets = draw(st.lists(st.integers(1, 1000), max_size=3, unique=True))
        for k, offset in enumerate(offsets):
            facts.append(
                AttendanceFact(
                    attendance_id=aid, resident_id=resident, session_id=session, minutes=draw(st.integers(0, 240)),
                    at=T0 + timedelta(seconds=offset), event_id=f"{aid}-adj{k}", recorded=False,
                    community_id=community,
                )
            )  # fmt: skip
    return facts


@st.composite
def deliveries(draw):
    """A history, delivered shuffled, with duplicates, cut into batches."""
    facts = draw(histories())
    delivered = facts + draw(st.lists(st.sampled_from(facts), max_size=len(facts) * 2))
    delivered = draw(st.permutations(delivered))
    cuts = sorted(draw(st.lists(st.integers(0, len(delivered)), max_size=5)))
    batches, start = [], 0
    for cut in [*cuts, len(delivered)]:
        batches.append(delivered[start:cut])
        start = cut
    return facts, batches


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_batched_fold_equals_recompute(case):
    facts, batches = case
    states: dict = {}
    total = Aggregates()
    for batch in batches:
        changed, agg = apply_batch(states, batch)
        states.update(changed)
        merge(total, agg)
    assert normalised(total) == normalised(recompute(facts))


@settings(max_examples=200, deadline=None)
@given(histories(), st.randoms())
def test_replaying_everything_again_changes_nothing(facts, rnd):
    states: dict = {}
    changed, _ = apply_batch(states, facts)
    states.update(changed)
    replay = list(facts)
    rnd.shuffle(replay)
    changed_again, second = apply_batch(states, replay)
    assert changed_again == {}
    assert normalised(second) == normalised(Aggregates())


def test_adjustment_before_recording_keeps_the_adjusted_minutes():
    rec = AttendanceFact("a", "r", "s", 60, T0, "e1", True, "c", "pinghu", None, "adult", date(2026, 3, 1))
    adj = AttendanceFact("a", "r", "s", 95, T0 + timedelta(minutes=5), "e2", False, community_id="pinghu")
    state = fold_attendance(fold_attendance(None, adj), rec)
    assert state.recorded and state.minutes == 95
    assert fold_attendance(fold_attendance(None, rec), adj) == state


def test_an_older_adjustment_never_overrides_a_newer_one():
    rec = AttendanceFact("a", "r", "s", 60, T0, "e1", True, "c", "pinghu", None, None, date(2026, 3, 1))
    newer = AttendanceFact("a", "r", "s", 30, T0 + timedelta(minutes=9), "e3", False)
    older = AttendanceFact("a", "r", "s", 90, T0 + timedelta(minutes=5), "e2", False)
    state = fold_attendance(fold_attendance(fold_attendance(None, rec), newer), older)
    assert state.minutes == 30
