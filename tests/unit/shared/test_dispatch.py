"""The handler contract (shared/bus/dispatch.py) driven with the real unit of work on a fake
connection: inbox dedup, the projector's share of a batch, stored offsets, and what runs after
the commit."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest

from shared.bus.decoding import DeadLetter, Incoming
from shared.bus.dispatch import Dispatcher
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev


class FakeConnection:
    """Just enough of asyncpg for the unit of work: a transaction, and the inbox as a set that
    only keeps what was committed."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.inbox: set[uuid.UUID] = set()
        self.claimed: set[uuid.UUID] = set()

    def transaction(self) -> FakeConnection:
        return self

    async def start(self) -> None:
        self.claimed = set()
        self.log.append("begin")

    async def commit(self) -> None:
        self.inbox |= self.claimed
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")

    async def fetch(self, sql: str, ids: list[uuid.UUID], types: list[str]) -> list[dict]:
        assert "INSERT INTO inbox" in sql
        new = [i for i in dict.fromkeys(ids) if i not in self.inbox and i not in self.claimed]
        self.claimed.update(new)
        return [{"event_id": i} for i in new]

    async def execute(self, sql: str, *args) -> None:
        self.log.append("outbox")


class FakePool:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.conn = FakeConnection(self.log)

    async def acquire(self) -> FakeConnection:
        return self.conn

    async def release(self, conn: FakeConnection) -> None:
        return None


def course(course_id: str, *, event_id: uuid.UUID | None = None, topic: str = "activities.catalogue", offset: int = 0):
    data = ev.CourseCreated(course_id=course_id, title_zh="课", title_en="course", theme="reading")
    return _incoming(data, event_id or uuid.uuid4(), topic, offset)


def attendance(minutes: int, *, offset: int = 0):
    data = ev.AttendanceAdjusted(
        attendance_id="a1", resident_id="r1", session_id="s1", community_id="c", minutes=minutes
    )
    return _incoming(data, uuid.uuid4(), "activities.attendance", offset)


def _incoming(data, event_id: uuid.UUID, topic: str, offset: int) -> Incoming:
    record = SimpleNamespace(topic=topic, partition=0, offset=offset)
    return Incoming(event_id=event_id, type_name=type(data).type_name, data=data, record=record)


class RecordingProjector:
    event_types = frozenset({ev.AttendanceAdjusted.type_name})

    def __init__(self, log: list[str], *, lock: asyncio.Lock | None = None) -> None:
        self.log = log
        self.lock = lock
        self.seen: list[int] = []

    async def project(self, uow: UnitOfWork, events: list[Incoming]) -> None:
        for e in events:
            if e.data.minutes < 0:
                raise DeadLetter("invalid_minutes", "negative")
        self.seen.extend(e.data.minutes for e in events)
        uow.after_commit(lambda: self.log.append(f"projected {len(events)} (locked: {self.lock.locked()})"))


class MemoryOffsets:
    def __init__(self, stored: dict[tuple[str, int], int]) -> None:
        self.stored = dict(stored)

    async def applied(self, uow, partitions):
        return {p: self.stored[p] for p in partitions if p in self.stored}

    async def store(self, uow, offsets):
        self.stored.update(offsets)


@pytest.fixture
def pool() -> FakePool:
    return FakePool()


def dispatcher(pool: FakePool, handlers, **kwargs) -> Dispatcher:
    return Dispatcher(lambda: UnitOfWork(pool, deps="the deps"), handlers, **kwargs)


async def test_a_redelivered_event_is_skipped_by_the_inbox(pool):
    applied: list[str] = []

    async def on_course(uow, event, meta):
        applied.append(event.course_id)

    dispatch = dispatcher(pool, {ev.CourseCreated: on_course})
    first = course("c1")
    await dispatch([first, course("c2")])
    await dispatch([first, course("c3")])
    assert applied == ["c1", "c2", "c3"]


async def test_the_same_event_twice_in_one_batch_applies_once(pool):
    applied: list[str] = []

    async def on_course(uow, event, meta):
        applied.append(event.course_id)

    same = uuid.uuid4()
    await dispatcher(pool, {ev.CourseCreated: on_course})([course("c1", event_id=same), course("c1", event_id=same)])
    assert applied == ["c1"]


async def test_handlers_get_the_unit_of_work_with_its_deps_the_event_data_and_its_meta(pool):
    calls = []

    async def on_course(uow, event, meta):
        calls.append((uow.deps, event.course_id, meta.topic))

    await dispatcher(pool, {ev.CourseCreated: on_course})([course("c1")])
    assert calls == [("the deps", "c1", "activities.catalogue")]


async def test_unknown_types_are_skipped_and_a_batch_of_only_those_opens_no_transaction(pool):
    applied: list[str] = []

    async def on_course(uow, event, meta):
        applied.append(event.course_id)

    dispatch = dispatcher(pool, {ev.CourseCreated: on_course})
    await dispatch([attendance(5)])
    assert pool.log == []
    await dispatch([attendance(5), course("c1")])
    assert applied == ["c1"]
    assert pool.log == ["begin", "commit"]


async def test_the_projector_gets_only_its_types_and_the_table_the_rest(pool):
    applied: list[str] = []

    async def on_course(uow, event, meta):
        applied.append(event.course_id)

    projector = RecordingProjector(pool.log, lock=asyncio.Lock())
    await dispatcher(pool, {ev.CourseCreated: on_course}, projector=projector)(
        [attendance(5), course("c1"), attendance(7)]
    )
    assert projector.seen == [5, 7]
    assert applied == ["c1"]
    assert pool.log == ["begin", "commit", "projected 2 (locked: True)"]


async def test_offsets_skip_records_at_or_below_the_stored_ones_and_store_the_new_ones(pool):
    projector = RecordingProjector(pool.log, lock=asyncio.Lock())
    offsets = MemoryOffsets({("activities.attendance", 0): 11})
    batch = [attendance(minutes, offset=offset) for minutes, offset in ((10, 10), (11, 11), (12, 12), (13, 13))]
    await dispatcher(pool, {}, projector=projector, offsets=offsets)(batch)
    assert projector.seen == [12, 13]
    assert offsets.stored == {("activities.attendance", 0): 13}


async def test_offsets_are_stored_for_a_batch_of_types_nobody_handles(pool):
    offsets = MemoryOffsets({})
    await dispatcher(pool, {}, offsets=offsets)([course("c1", offset=4)])
    assert offsets.stored == {("activities.catalogue", 0): 4}
    assert pool.log == ["begin", "commit"]


async def test_after_commit_callbacks_run_after_the_commit_and_never_on_rollback(pool):
    async def on_course(uow, event, meta):
        uow.after_commit(lambda: pool.log.append(f"cache {event.course_id}"))
        if event.course_id == "bad":
            raise DeadLetter("cannot_apply", "bad course")

    dispatch = dispatcher(pool, {ev.CourseCreated: on_course})
    await dispatch([course("c1")])
    assert pool.log == ["begin", "commit", "cache c1"]
    pool.log.clear()
    with pytest.raises(DeadLetter):
        await dispatch([course("c2"), course("bad")])
    assert pool.log == ["begin", "rollback"]


async def test_a_failing_projection_rolls_back_the_whole_batch_and_stores_no_offsets(pool):
    projector = RecordingProjector(pool.log, lock=asyncio.Lock())
    offsets = MemoryOffsets({})
    with pytest.raises(DeadLetter):
        await dispatcher(pool, {}, projector=projector, offsets=offsets)([attendance(5), attendance(-1, offset=1)])
    assert offsets.stored == {}
    assert pool.log == ["begin", "rollback"]


async def test_the_projector_lock_is_held_through_commit_and_callbacks_and_released_after(pool):
    lock = asyncio.Lock()
    projector = RecordingProjector(pool.log, lock=lock)
    await dispatcher(pool, {}, projector=projector)([attendance(5)])
    assert pool.log == ["begin", "commit", "projected 1 (locked: True)"]
    assert not lock.locked()


async def test_batches_wait_for_the_projector_lock_held_elsewhere(pool):
    lock = asyncio.Lock()
    projector = RecordingProjector(pool.log, lock=lock)
    await lock.acquire()  # the parked check-in sweeper, say
    batch = asyncio.create_task(dispatcher(pool, {}, projector=projector)([attendance(5)]))
    await asyncio.sleep(0.01)
    assert pool.log == []
    lock.release()
    await batch
    assert projector.seen == [5]


async def test_on_applied_hears_the_topics_of_applied_events_after_the_commit(pool):
    heard: list[set[str]] = []

    async def on_course(uow, event, meta):
        return None

    offsets = MemoryOffsets({("activities.attendance", 0): 3})
    dispatch = dispatcher(
        pool,
        {ev.CourseCreated: on_course},
        projector=RecordingProjector(pool.log),
        offsets=offsets,
        on_applied=lambda topics: heard.append(topics),
    )
    await dispatch([attendance(5, offset=3), course("c1", offset=8)])
    assert heard == [{"activities.catalogue"}]
    await dispatch([attendance(5, offset=3)])  # nothing new: no notice
    assert heard == [{"activities.catalogue"}]
