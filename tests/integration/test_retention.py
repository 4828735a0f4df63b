"""Bounded state on the real stack (shared/db/retention.py): activities prunes inbox and check-in
ledger rows that are old and below its consumer group's marks; then its group's offsets are reset
to the earliest retained records (what happens when committed offsets expire) and it starts again.
Nothing pruned is applied a second time, and what arrived meanwhile is applied."""

from __future__ import annotations

import re
import signal
import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared.events.catalogue import ResidentRegistered
from shared.events.envelope import envelop
from shared.events.topics import group_id
from tests.integration.activities.helpers import Tail, body, checkin, make_place, now, outcome, send_checkins
from tests.support import env, eventually, kafka_auth, producer, service_url, start_service, stop_service, unique

pytestmark = pytest.mark.integration

GROUP = group_id("activities")
SCAN_TOPIC = "kiosk.checkins"


async def _register(*resident_ids: str) -> list[uuid.UUID]:
    """ResidentRegistered as enrolment publishes it; returns the event ids (activities' inbox rows)."""
    kafka = await producer("enrolment")
    ids = []
    try:
        for r in resident_ids:
            data = ResidentRegistered(resident_id=r, community_id="xinnan", audience_group="adult")
            e = envelop(data, source="tests")
            await kafka.send_and_wait(
                e.topic, e.body(), key=e.key, headers=[(k, v.encode()) for k, v in e.headers().items()]
            )
            ids.append(e.id)
    finally:
        await kafka.stop()
    return ids


async def _db() -> asyncpg.Connection:
    return await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])


async def _ledger(db: asyncpg.Connection, checkin_ids: list[str]) -> set[str]:
    rows = await db.fetch("SELECT checkin_id::text FROM checkins WHERE checkin_id = ANY($1::uuid[])", checkin_ids)
    return {r["checkin_id"] for r in rows}


async def _inbox(db: asyncpg.Connection, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await db.fetch("SELECT event_id FROM inbox WHERE event_id = ANY($1::uuid[])", event_ids)
    return {r["event_id"] for r in rows}


def _metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


async def _group_offsets() -> tuple[dict, dict]:
    """(committed, ends) of every partition the group has committed."""
    admin = AIOKafkaAdminClient(**kafka_auth("activities"))
    await admin.start()
    consumer = AIOKafkaConsumer(**kafka_auth("activities"), group_id=None, isolation_level="read_committed")
    await consumer.start()
    try:
        committed = {tp: m.offset for tp, m in (await admin.list_consumer_group_offsets(GROUP)).items()}
        ends = await consumer.end_offsets(list(committed))
    finally:
        await consumer.stop()
        await admin.close()
    return committed, ends


async def _reset_group_to_earliest() -> None:
    """What `kafka-consumer-groups --reset-offsets --to-earliest` does; the group must be empty."""
    committed, _ = await _group_offsets()
    consumer = AIOKafkaConsumer(**kafka_auth("activities"), group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(committed))
        beginnings = await consumer.beginning_offsets(list(committed))
        await consumer.commit(beginnings)
    finally:
        await consumer.stop()
    after, _ = await _group_offsets()
    assert after == beginnings and any(after[tp] < committed[tp] for tp in after), "the reset moved nothing back"


async def test_state_pruned_below_the_marks_is_not_applied_again_when_the_group_restarts_from_earliest():
    await stop_service("activities", signal.SIGTERM)
    await start_service("activities", extra_env={"LS_RETENTION_INTERVAL_SECONDS": "0.5"})
    db = await _db()
    restored = False
    try:
        place = await make_place()
        old_residents = [unique("r-old") for _ in range(3)]
        kept_resident, *new_residents = [unique("r-new") for _ in range(3)]
        old_events = await _register(*old_residents)
        await _register(kept_resident, *new_residents)
        await eventually(lambda: _all_in(db, old_events), timeout_s=30)
        old = [checkin(place, r, now()) for r in old_residents]
        kept = checkin(place, kept_resident, now())
        await send_checkins(*old, kept)
        for scan in (*old, kept):
            assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
        old_ids = [s["checkin_id"] for s in old]

        # Older than any retention: the next rounds of the running service's task prune them.
        await db.execute(
            "UPDATE checkins SET received_at = received_at - interval '400 days' WHERE checkin_id = ANY($1::uuid[])",
            old_ids,
        )
        await db.execute(
            "UPDATE inbox SET received_at = received_at - interval '400 days' WHERE event_id = ANY($1::uuid[])",
            old_events,
        )

        # The access audit is kept for its own retention (3 years by default), then goes too.
        audited = unique("r-audited")
        old_audit, young_audit = await db.fetch(
            """INSERT INTO access_audit(at, actor, actor_role, method, route, resident_id)
               VALUES (now() - interval '1200 days', 'op-retention', 'operator', 'GET', '/v1/test', $1),
                      (now() - interval '1000 days', 'op-retention', 'operator', 'GET', '/v1/test', $1)
               RETURNING id""",
            audited,
        )

        async def audit_ids() -> set[int]:
            rows = await db.fetch("SELECT id FROM access_audit WHERE resident_id = $1", audited)
            return {r["id"] for r in rows}

        async def pruned() -> bool:
            return (
                not await _ledger(db, old_ids)
                and not await _inbox(db, old_events)
                and old_audit["id"] not in await audit_ids()
            )

        await eventually(pruned, timeout_s=60, every_s=0.5)
        assert await _ledger(db, [kept["checkin_id"]]) == {kept["checkin_id"]}, "a young ledger row was pruned"
        async with httpx.AsyncClient(base_url=service_url("activities"), timeout=5.0) as http:
            text = (await http.get("/metrics")).text
        assert _metric(text, "learnstreet_rows_pruned_total", service="activities", table="checkins") >= 3
        assert _metric(text, "learnstreet_rows_pruned_total", service="activities", table="inbox") >= 3
        assert _metric(text, "learnstreet_rows_pruned_total", service="activities", table="access_audit") >= 1
        assert await audit_ids() == {young_audit["id"]}, "an audit row younger than its retention was pruned"
        assert _metric(text, "learnstreet_table_size_bytes", service="activities", table="checkins") > 0
        assert _metric(text, "learnstreet_table_rows", service="activities", table="inbox") is not None
        marks = await _marks(db)
        assert marks and all(offset >= 0 for offset in marks.values())

        # The group's offsets expire (here: are reset) while activities is down, and scans arrive.
        await stop_service("activities", signal.SIGTERM)
        await _reset_group_to_earliest()
        new = [checkin(place, r, now()) for r in new_residents]
        await send_checkins(*new)
        async with Tail("activities.attendance") as attendance:
            await start_service("activities")
            restored = True

            async def caught_up() -> bool:
                committed, ends = await _group_offsets()
                return all(committed[tp] >= ends[tp] for tp in committed)

            await eventually(caught_up, timeout_s=120, every_s=0.5)
            for scan in new:  # nothing lost
                assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
            await attendance.wait_for(lambda r: body(r).get("resident_id") in new_residents, count=len(new))
            assert not attendance.matching(lambda r: body(r).get("resident_id") in old_residents)
        # The reset moved Kafka's offsets back, never the marks (the task ran again at the start).
        after = await _marks(db)
        assert all(after[p] >= offset for p, offset in marks.items()), (marks, after)
        # Nothing applied twice: a replayed scan or registration would have written its row again.
        assert not await _ledger(db, old_ids)
        assert not await _inbox(db, old_events)
        assert await _ledger(db, [kept["checkin_id"]]) == {kept["checkin_id"]}
    finally:
        await db.close()
        if not restored:  # back to the stack's own settings
            if await _pid_alive():
                await stop_service("activities", signal.SIGTERM)
            await start_service("activities")


async def _marks(db: asyncpg.Connection) -> dict[tuple[str, int], int]:
    rows = await db.fetch(
        'SELECT topic, "partition", next_offset FROM consumer_marks WHERE group_id = $1 AND topic = $2',
        GROUP,
        SCAN_TOPIC,
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def _all_in(db: asyncpg.Connection, event_ids: list[uuid.UUID]) -> bool:
    return len(await _inbox(db, event_ids)) == len(event_ids)


async def _pid_alive() -> bool:
    try:
        async with httpx.AsyncClient(base_url=service_url("activities"), timeout=2.0) as http:
            return (await http.get("/healthz")).status_code == 200
    except httpx.HTTPError:
        return False
