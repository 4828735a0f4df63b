"""Residents and seats from enrolment: plain table handlers that collect a batch, written in one
upsert per batch before the commit, learnt by the caches only after it (driven by the shared
dispatcher and the real unit of work, with the SQL replaced by recorders)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from services.activities.adapters import repository
from services.activities.adapters.cache import Caches, ResidentInfo
from services.activities.entrypoints.consumers import HANDLERS
from services.activities.service_layer.handlers import Context
from shared.bus.decoding import Incoming
from shared.bus.dispatch import Dispatcher
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev

AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


class FakeConnection:
    def __init__(self, log: list) -> None:
        self.log = log

    def transaction(self) -> FakeConnection:
        return self

    async def start(self) -> None:
        self.log.append("begin")

    async def commit(self) -> None:
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")

    async def fetch(self, sql: str, ids, types) -> list[dict]:  # the inbox: every event is new
        return [{"event_id": i} for i in ids]


class FakePool:
    def __init__(self) -> None:
        self.log: list = []

    async def acquire(self) -> FakeConnection:
        return FakeConnection(self.log)

    async def release(self, conn) -> None:
        return None


@pytest.fixture
def world(monkeypatch):
    pool = FakePool()
    ctx = Context(uow=None, caches=Caches(), reference=None)

    async def upsert_residents(conn, rows):
        pool.log.append(("residents", sorted(rows)))
        assert "ph1" not in ctx.caches.residents  # not before the commit

    async def upsert_seats(conn, rows):
        pool.log.append(("seats", sorted(rows)))

    async def enrolled_residents(conn, sessions):
        return {s: {"ph1"} for s in sessions}

    monkeypatch.setattr(repository, "upsert_residents", upsert_residents)
    monkeypatch.setattr(repository, "upsert_seats", upsert_seats)
    monkeypatch.setattr(repository, "enrolled_residents", enrolled_residents)
    dispatch = Dispatcher(lambda: UnitOfWork(pool, deps=ctx), HANDLERS)
    return SimpleNamespace(pool=pool, ctx=ctx, dispatch=dispatch)


def incoming(data) -> Incoming:
    record = SimpleNamespace(topic=data.topic, partition=0, offset=0)
    return Incoming(event_id=uuid.uuid4(), type_name=data.type_name, data=data, record=record)


def resident(resident_id: str, community_id: str, cls=ev.ResidentRegistered):
    return incoming(cls(resident_id=resident_id, community_id=community_id, audience_group="elderly"))


def seat(cls, enrolment_id: str, session_id: str = "s1", **extra):
    data = cls(enrolment_id=enrolment_id, session_id=session_id, course_id="c1", resident_id="ph1", at=AT, **extra)
    return incoming(data)


async def test_a_batch_of_residents_is_one_upsert_the_latest_wins_and_caches_learn_after_commit(world):
    await world.dispatch(
        [resident("ph1", "pinghu"), resident("ph2", "pinghu"), resident("ph1", "nanwan", ev.ResidentUpdated)]
    )
    assert world.pool.log == [
        "begin",
        ("residents", [("ph1", "nanwan", "elderly", False), ("ph2", "pinghu", "elderly", False)]),
        "commit",
    ]
    assert world.ctx.caches.residents["ph1"] == ResidentInfo("nanwan", ev.AudienceGroup("elderly"), False)
    assert world.ctx.pending_signal.is_set()  # parked check-ins may have waited for them


async def test_cancelled_is_terminal_within_a_batch_and_seats_are_one_upsert(world):
    await world.dispatch(
        [
            seat(ev.EnrolmentConfirmed, "e1"),
            seat(ev.EnrolmentCancelled, "e1"),
            seat(ev.EnrolmentPromoted, "e1"),
            seat(ev.EnrolmentPromoted, "e2", "s2"),
            seat(ev.EnrolmentWaitlisted, "e3", position=1),  # not in the table: no seat
        ]
    )
    assert world.pool.log == [
        "begin",
        ("seats", [("e1", "s1", "ph1", "cancelled"), ("e2", "s2", "ph1", "confirmed")]),
        "commit",
    ]
    assert world.ctx.caches.enrolled == {"s1": {"ph1"}, "s2": {"ph1"}}


async def test_a_failed_batch_leaves_the_caches_alone(world, monkeypatch):
    async def upsert_residents(conn, rows):
        raise RuntimeError("database gone")

    monkeypatch.setattr(repository, "upsert_residents", upsert_residents)
    with pytest.raises(RuntimeError):
        await world.dispatch([resident("ph1", "pinghu")])
    assert world.pool.log == ["begin", "rollback"]
    assert world.ctx.caches.residents == {}
    assert not world.ctx.pending_signal.is_set()
