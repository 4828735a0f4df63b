"""Several activities instances (issue 12): what one instance learns from the others (change
announcements, a batch's misses looked up in the database) and walk-in seats decided on the
database's count, not on this instance's memory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson

from services.activities.adapters import cache_sync
from services.activities.adapters.cache import Caches, ResidentInfo
from services.activities.domain.model import Session
from services.activities.service_layer.checkins import CheckinProcessor
from shared.events import catalogue as ev

NOW = datetime(2026, 5, 1, 11, 30, tzinfo=UTC)
SESSION = Session(
    session_id="s1",
    course_id="c1",
    venue_id="v1",
    community_id="pinghu",
    starts_at=NOW - timedelta(minutes=30),
    ends_at=NOW + timedelta(minutes=60),
    capacity=3,
)


def processor(caches: Caches) -> CheckinProcessor:
    ctx = SimpleNamespace(caches=caches)
    return CheckinProcessor(ctx, None, grace=timedelta(minutes=10), late_sync=timedelta(minutes=15), sweep_every_s=30)


def scan(resident: str, kiosk: str = "k1") -> ev.KioskCheckin:
    return ev.KioskCheckin(checkin_id=uuid.uuid4(), kiosk_id=kiosk, venue_id="v1", resident_id=resident, scanned_at=NOW)


def known_world() -> Caches:
    caches = Caches()
    caches.kiosk_venue["k1"] = "v1"
    caches.put_session(SESSION)
    for r in "abcd":
        caches.residents[r] = ResidentInfo("pinghu", ev.AudienceGroup("adult"), False)
    return caches


def test_announcements_fit_the_notify_limit_and_carry_every_id_once():
    ids = [f"resident-{i:06d}" for i in range(3000)] + ["resident-000001"]
    out = cache_sync.payloads("resident", ids)
    assert len(out) > 1
    assert all(len(p.encode()) < 8000 for p in out)
    got = [i for p in out for i in orjson.loads(p)["ids"]]
    assert got == list(dict.fromkeys(ids))
    assert {orjson.loads(p)["kind"] for p in out} == {"resident"}


def test_the_listener_collects_announced_ids_per_kind_and_ignores_garbage():
    sync = cache_sync.CacheSync(lambda: None, Caches())
    sync._on_notify(None, 1, cache_sync.CHANNEL, '{"kind": "venue", "ids": ["v1"]}')
    sync._on_notify(None, 1, cache_sync.CHANNEL, '{"kind": "venue", "ids": ["v2", "v1"]}')
    sync._on_notify(None, 1, cache_sync.CHANNEL, "not json")
    assert dict(sync._changed) == {"venue": {"v1", "v2"}}
    assert sync._wake.is_set()


def test_walk_ins_are_decided_on_the_database_count_and_seats_not_on_this_instances_memory():
    caches = known_world()  # this instance has learnt no seat and no walk-in
    p = processor(caches)
    scans = [scan("a"), scan("b"), scan("c")]
    work = [(s, NOW, False) for s in scans]
    verdicts = p._judge(work, NOW)
    # The database: "a" holds a confirmed seat (learnt by another instance), one walk-in taken.
    fold = p._fold(work, verdicts, {}, {"s1": (1, {"a"})}, NOW)
    outcomes = [fold.outcomes[s.checkin_id][:2] for s in scans]
    assert outcomes == [("recorded", ""), ("recorded", ""), ("rejected", "no_seats")]
    assert fold.new[("a", "s1")].walk_in is False and fold.new[("b", "s1")].walk_in is True
    assert fold.new_walk_ins == {"s1": 1}


async def test_a_batch_asks_the_database_before_rejecting_an_unknown_kiosk_or_resident(monkeypatch):
    caches = known_world()
    asked: list[tuple[str, list[str]]] = []

    async def lookup_kiosks(conn, ids):
        asked.append(("kiosks", ids))
        caches.kiosk_venue["k2"] = "v1"  # added through another instance

    async def lookup_residents(conn, ids):
        asked.append(("residents", ids))
        caches.residents["new"] = ResidentInfo("pinghu", ev.AudienceGroup("adult"), False)

    async def lookup_sessions(conn, ids):
        asked.append(("sessions", ids))

    monkeypatch.setattr(caches, "lookup_kiosks", lookup_kiosks)
    monkeypatch.setattr(caches, "lookup_residents", lookup_residents)
    monkeypatch.setattr(caches, "lookup_sessions", lookup_sessions)
    p = processor(caches)
    work = [(scan("a", kiosk="k2"), NOW, False), (scan("new"), NOW, False), (scan("b"), NOW, False)]
    verdicts = p._judge(work, NOW)
    assert [(v.kind, v.reason) for v in verdicts] == [
        ("reject", "unknown_kiosk"), ("park", "unknown_resident"), ("attend", "")
    ]  # fmt: skip
    await p._look_up(None, work, verdicts, NOW)
    assert [v.kind for v in verdicts] == ["attend", "attend", "attend"]
    assert asked == [("kiosks", ["k2"]), ("residents", ["new"]), ("sessions", ["s1"])]


async def test_a_session_cancelled_by_another_instance_is_seen_before_its_announcement(monkeypatch):
    caches = known_world()

    async def lookup_sessions(conn, ids):
        from dataclasses import replace

        caches.put_session(replace(SESSION, cancelled=True))

    monkeypatch.setattr(caches, "lookup_sessions", lookup_sessions)
    p = processor(caches)
    work = [(scan("a").model_copy(update={"session_id": "s1"}), NOW, False), (scan("b"), NOW, False)]
    verdicts = p._judge(work, NOW)
    assert [v.kind for v in verdicts] == ["attend", "attend"]
    await p._look_up(None, work, verdicts, NOW)
    assert [(v.kind, v.reason) for v in verdicts] == [("reject", "session_cancelled"), ("park", "no_session_in_window")]
