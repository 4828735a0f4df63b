"""A kill -9 between batches neither loses nor doubles anything; a rebuild equals the live index."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import asyncpg
import httpx
import pytest

from shared.rebuild import checkpoint_taken_at
from tests.integration.scoring.events import attendance, scoring_db, send
from tests.support import env, eventually, producer, rebuild, restart_service, service_url, unique

pytestmark = pytest.mark.integration


async def _course_totals(db, course_id: str) -> tuple[int, int]:
    row = await db.fetchrow(
        "SELECT COALESCE(sum(attendances), 0) AS n, COALESCE(sum(minutes), 0) AS m FROM attendance_daily "
        "WHERE course_id = $1",
        course_id,
    )
    return row["n"], row["m"]


async def test_kill_9_mid_stream_loses_and_doubles_nothing():
    run = unique("crash")
    course_id = f"{run}-c"
    n = 20_000
    events = [attendance(f"{run}-r{i}", community="shanxia", minutes=30 + i % 7, course_id=course_id)
              for i in range(n)]  # fmt: skip
    expected_minutes = sum(30 + i % 7 for i in range(n))
    activities = await producer("activities", linger_ms=5, max_batch_size=1 << 20)
    db = await scoring_db()
    try:
        await send(activities, *events)
        # Kill while the service is part-way through the events.
        await eventually(lambda: _started(db, course_id), timeout_s=30, every_s=0.02)
        await restart_service("scoring", signal.SIGKILL)
        await send(activities, *events[:500])  # and a redelivery of the first ones for good measure

        async def complete():
            totals = await _course_totals(db, course_id)
            return totals if totals[0] >= n else None

        assert await eventually(complete, timeout_s=120, every_s=0.5) == (n, expected_minutes)
        await asyncio.sleep(2)
        assert await _course_totals(db, course_id) == (n, expected_minutes)
        people = await db.fetchval(
            "SELECT count(*) FROM attendees WHERE resident_id LIKE $1 || '-r%'", run
        )  # fmt: skip
        assert people == n
    finally:
        await activities.stop()
        await db.close()


async def _started(db, course_id: str) -> bool:
    return (await _course_totals(db, course_id))[0] > 0


async def test_rebuild_equals_live_and_swaps_while_live_keeps_counting():
    run = unique("rebuild")
    activities = await producer("activities")
    db = await scoring_db()
    try:
        await send(activities, *[attendance(f"{run}-r{i}", community="egongling", course_id=f"{run}-c")
                                 for i in range(50)])  # fmt: skip
        await eventually(lambda: _has(db, f"{run}-c", 50), timeout_s=20)
        late = [attendance(f"{run}-late{i}", community="egongling", course_id=f"{run}-c") for i in range(30)]
        # live events keep arriving during the rebuild
        text = await rebuild("services.scoring", "rebuild", "--quiet", during=send(activities, *late), timeout_s=1800)
        assert "REBUILD equal=True swapped=True" in text, text
        await send(activities, *[attendance(f"{run}-after{i}", community="egongling", course_id=f"{run}-c")
                                 for i in range(20)])  # fmt: skip
        await eventually(lambda: _has(db, f"{run}-c", 100), timeout_s=30)
        await asyncio.sleep(1.5)
        assert (await _course_totals(db, f"{run}-c"))[0] == 100
    finally:
        await activities.stop()
        await db.close()


async def test_a_rebuild_from_a_checkpoint_replays_only_what_came_after_it_and_equals_live():
    """ADR 10, amendment 2026-12-06: the checkpoint copies the projection with its offsets; the
    rebuild starts from it, replays the records after it (fewer than the checkpoint covers), and
    gives the live index, live events arriving during it included."""
    run = unique("ckpt")
    activities = await producer("activities")
    db = await scoring_db()
    try:
        await send(activities, *[attendance(f"{run}-r{i}", community="egongling", course_id=f"{run}-c")
                                 for i in range(40)])  # fmt: skip
        await eventually(lambda: _has(db, f"{run}-c", 40), timeout_s=30)
        taken = await rebuild("services.scoring", "checkpoint")
        covered = int(re.search(r"CHECKPOINT rows=\d+ records=(\d+)", taken).group(1))
        assert covered >= 40, taken
        await send(activities, *[attendance(f"{run}-after{i}", community="egongling", course_id=f"{run}-c")
                                 for i in range(25)])  # fmt: skip
        await eventually(lambda: _has(db, f"{run}-c", 65), timeout_s=30)
        late = [attendance(f"{run}-late{i}", community="egongling", course_id=f"{run}-c") for i in range(10)]
        text = await rebuild(
            "services.scoring", "rebuild", "--quiet", "--from-checkpoint", during=send(activities, *late)
        )
        assert "REBUILD equal=True swapped=True" in text, text
        replayed = int(re.search(r"records=(\d+)", text.split("REBUILD", 1)[1]).group(1))
        assert 25 <= replayed < covered, text
        await eventually(lambda: _has(db, f"{run}-c", 75), timeout_s=30)
        await asyncio.sleep(1.5)
        assert (await _course_totals(db, f"{run}-c"))[0] == 75
    finally:
        await activities.stop()
        await db.close()


async def _has(db, course_id: str, n: int) -> bool:
    return (await _course_totals(db, course_id))[0] >= n


@pytest.mark.parametrize(
    ("service", "projection"), [("scoring", "scoring"), ("enrolment", "passport")], ids=["index", "passports"]
)
async def test_a_running_service_keeps_its_checkpoint_and_says_when_it_was_taken(service, projection):
    """ADR 10, amendment 2026-12-06: SCORING_CHECKPOINT_INTERVAL_SECONDS and
    ENROLMENT_PASSPORT_CHECKPOINT_INTERVAL_SECONDS (a day by default): a service takes its
    projection's checkpoint when none is younger, and exports when it was taken."""
    name = f'learnstreet_checkpoint_taken_timestamp_seconds{{projection="{projection}"}}'

    async def exported() -> float | None:
        async with httpx.AsyncClient(base_url=service_url(service), timeout=5.0) as http:
            text = (await http.get("/metrics")).text
        found = re.search(re.escape(name) + r" ([0-9.e+]+)", text)
        return float(found.group(1)) if found else None

    reported = await eventually(exported, timeout_s=90, every_s=1)
    conn = await asyncpg.connect(env()[f"{service.upper()}_DATABASE_URL"])
    try:
        taken_at = await checkpoint_taken_at(conn, projection)
    finally:
        await conn.close()
    assert taken_at is not None
    assert time.time() - 86_400 < taken_at <= time.time()
    # the metric is when this service took or last saw it: within the day, not after the newest
    # (an operator's `checkpoint` command may have taken a newer one since)
    assert time.time() - 86_400 < reported <= taken_at + 5
