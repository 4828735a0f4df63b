"""The check-in path's outbox (one row per batch) against the running service, Kafka and PostgreSQL:
rows are deleted once published, and rows left behind by a crashed instance are published."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.activities.service_layer.checkins import _event
from shared.events import catalogue as ev
from shared.events import codec
from shared.events.topics import ATTENDANCE
from tests.integration.activities.helpers import (
    Tail,
    body,
    checkin,
    event_type,
    make_place,
    now,
    outcome,
    register_residents,
    send_checkins,
)
from tests.support import env, eventually, headers_of, unique

pytestmark = pytest.mark.integration

RECORDED = "learnstreet.activities.attendance.recorded.v1"
REJECTED = "learnstreet.activities.attendance.rejected.v1"


async def rows_mentioning(text: str) -> int:
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM checkin_outbox WHERE position(convert_to($1, 'UTF8') IN events) > 0", text
        )
    finally:
        await conn.close()


async def test_recorded_checkin_is_published_and_its_outbox_row_deleted():
    place = await make_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=3))
    async with Tail("activities.attendance") as tail:
        await send_checkins(scan)
        assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
        [record] = await tail.wait_for(lambda r: r.key == resident.encode() and event_type(r) == RECORDED)
    assert body(record)["checkin_id"] == scan["checkin_id"]
    assert headers_of(record)["ce_source"] == "learnstreet/activities"
    # Same partition as any Kafka client's default partitioner gives the key: per-resident order.
    partitions = list(range(ATTENDANCE.partitions))
    assert record.partition == DefaultPartitioner()(resident.encode(), partitions, partitions)
    assert await eventually(lambda: _zero(rows_mentioning(scan["checkin_id"])), timeout_s=20) is True


async def _zero(count) -> bool | None:
    return True if await count == 0 else None


async def test_rows_left_by_a_crashed_instance_are_published_by_the_sweep():
    # As if an instance committed a batch and died before publishing it: only the row exists.
    resident = unique("r")
    at = datetime.now(UTC) - timedelta(minutes=1)
    data = ev.AttendanceRejected(
        checkin_id=uuid.uuid4(), kiosk_id=unique("k"), venue_id=unique("v"), resident_id=resident, scanned_at=at,
        reason="unknown_kiosk", detail="test",
    )  # fmt: skip
    event_id = uuid.uuid4()
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    async with Tail("activities.attendance") as tail:
        try:
            await conn.execute(
                "INSERT INTO checkin_outbox(events, n_events, created_at) VALUES ($1, 1, now() - interval '1 minute')",
                codec.pack([_event(data, event_id, at)]),
            )
        finally:
            await conn.close()
        [record] = await tail.wait_for(lambda r: r.key == resident.encode(), timeout_s=30)
    assert event_type(record) == REJECTED
    assert headers_of(record)["ce_id"] == str(event_id)
    assert body(record)["checkin_id"] == str(data.checkin_id)
    assert await eventually(lambda: _zero(rows_mentioning(str(event_id))), timeout_s=20) is True


async def test_retry_of_a_parked_scan_is_that_scan_not_a_duplicate():
    # The kiosk retries a scan parked for an unknown resident together with a later swipe, just as
    # the resident becomes known: the first scan must stay the one that records the attendance.
    place = await make_place()
    resident = unique("r")
    first = checkin(place, resident, now() - timedelta(minutes=6))
    later = checkin(place, resident, now() - timedelta(minutes=5))
    await send_checkins(first)
    assert (await outcome(first["checkin_id"], settled=False))["outcome"] == "pending"
    async with Tail("activities.attendance") as tail:
        await register_residents(resident)
        await send_checkins(first, later)
        [record] = await tail.wait_for(lambda r: r.key == resident.encode() and event_type(r) == RECORDED)
    assert body(record)["checkin_id"] == first["checkin_id"]
    settled = await outcome(first["checkin_id"])
    assert settled["outcome"] == "recorded" and not settled["parked"]
    assert (await outcome(later["checkin_id"]))["outcome"] == "merged"
