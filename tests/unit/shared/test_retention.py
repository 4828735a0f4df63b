"""Bounded state (shared/db/retention.py): when the safe-before time may advance, and the
dispatcher skipping records below a group's mark even when their inbox rows were pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.bus.dispatch import Dispatcher
from shared.db.retention import Sweep, covered, earliest, next_sweep
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev
from tests.unit.shared.test_dispatch import FakePool, course

T0 = datetime(2026, 12, 1, tzinfo=UTC)
A0, A1 = ("kiosk.checkins", 0), ("kiosk.checkins", 1)


def test_the_first_round_only_reads_the_ends():
    sweep = next_sweep(None, {A0: 10}, T0, {A0: 10})
    assert sweep == Sweep(T0, {A0: 10}, None)


def test_rows_before_a_reading_are_safe_once_every_mark_reaches_its_ends():
    previous = Sweep(T0, {A0: 10, A1: 7}, None)
    assert next_sweep(previous, {A0: 10, A1: 7}, T0 + timedelta(minutes=10), {A0: 12, A1: 7}).safe_before == T0


def test_one_partition_behind_keeps_the_old_safe_time():
    earlier = T0 - timedelta(minutes=10)
    previous = Sweep(T0, {A0: 10, A1: 7}, earlier)
    sweep = next_sweep(previous, {A0: 10, A1: 6}, T0 + timedelta(minutes=10), {A0: 10, A1: 9})
    assert sweep.safe_before == earlier
    assert sweep.pending_at == T0 + timedelta(minutes=10) and sweep.pending_ends == {A0: 10, A1: 9}


def test_a_partition_without_a_mark_is_covered_only_while_empty():
    assert covered({A0: 0}, {})
    assert not covered({A0: 1}, {})


def test_the_safe_time_never_moves_back():
    later = T0 + timedelta(hours=1)
    assert next_sweep(Sweep(T0, {}, later), {}, later + timedelta(minutes=1), {}).safe_before == later


def test_a_group_without_a_safe_time_blocks_pruning_of_shared_tables():
    assert earliest([T0, None]) is None
    assert earliest([]) is None
    assert earliest([T0, T0 - timedelta(days=1)]) == T0 - timedelta(days=1)


class FakeMarks:
    def __init__(self, marks: dict[tuple[str, int], int]) -> None:
        self.marks = marks
        self.asked: list[set[tuple[str, int]]] = []

    async def read(self, conn, partitions):
        self.asked.append(set(partitions))
        return {p: self.marks[p] for p in partitions if p in self.marks}


async def test_records_below_the_mark_are_skipped_though_their_inbox_rows_are_gone():
    # The group's offsets were reset to earliest after the inbox was pruned: records 3 and 4 come
    # again, and nothing in the (empty) inbox recognises them.
    pool = FakePool()
    applied: list[str] = []

    async def on_course(uow, event, meta):
        applied.append(event.course_id)

    marks = FakeMarks({("activities.catalogue", 0): 5})
    dispatch = Dispatcher(lambda: UnitOfWork(pool), {ev.CourseCreated: on_course}, marks=marks)
    await dispatch([course(f"c{o}", offset=o) for o in (3, 4, 5, 6)])
    assert applied == ["c5", "c6"]
    assert marks.asked == [{("activities.catalogue", 0)}]


async def test_without_marks_a_pruned_inbox_would_apply_them_again():
    pool = FakePool()
    applied: list[str] = []

    async def on_course(uow, event, meta):
        applied.append(event.course_id)

    dispatch = Dispatcher(lambda: UnitOfWork(pool), {ev.CourseCreated: on_course}, marks=FakeMarks({}))
    await dispatch([course(f"c{o}", offset=o) for o in (3, 4)])
    assert applied == ["c3", "c4"]
