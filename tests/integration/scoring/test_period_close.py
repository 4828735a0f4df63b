"""The period close (issue 14) on the running stack: last year's period took late data until its
close date (31 days after it ended, the indicator file's), so attendance of December that synced on
20 January counts in last year; attendance of last year arriving now, after the close, counts today
in this year with the note `late_counted` on the values it changes, while last year's frozen
figures stay as they were; and a rebuild from the topics gives the live index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.scoring.domain.street import local_day
from shared.events.catalogue import AttendanceRecorded
from shared.events.envelope import envelop
from tests.integration.scoring.events import resident, scoring_db, send
from tests.support import client, eventually, producer, rebuild, unique

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
COMMUNITY = "fenghuang"
LAST_YEAR = str(datetime.now(UTC).year - 1)


def _attended(resident_id: str, session_starts: datetime, arrived: datetime, minutes: int, course_id: str):
    session_id = unique("s-late")
    attendance_id = f"att:{resident_id}:{session_id}"
    data = AttendanceRecorded(
        attendance_id=attendance_id, checkin_id=uuid.uuid5(uuid.NAMESPACE_URL, attendance_id),
        resident_id=resident_id, session_id=session_id, course_id=course_id, venue_id=f"v-{COMMUNITY}",
        community_id=COMMUNITY, resident_community_id=COMMUNITY, audience_group="adult", theme="reading",
        minutes=minutes, scanned_at=session_starts, session_starts_at=session_starts,
    )  # fmt: skip
    # the event's time is when activities judged the scan: the arrival
    return envelop(data, source="learnstreet/activities", time=arrived,
                   event_id=uuid.uuid5(uuid.NAMESPACE_URL, attendance_id))  # fmt: skip


async def _view(http) -> dict:
    return (await http.get(f"/v1/index/{COMMUNITY}")).json()


async def test_late_data_before_the_close_counts_in_its_year_after_it_in_the_arrival_year_with_a_note():
    run = unique("close")
    on_time, late = f"{run}-jan", f"{run}-now"
    year = int(LAST_YEAR)
    december = datetime(year, 12, 28, 2, 0, tzinfo=UTC)  # 10:00 in Pinghu
    before_close = datetime(year + 1, 1, 20, 2, 0, tzinfo=UTC)  # 20 January: last year still open
    arrived_now = datetime.now(UTC)
    activities, enrolment = await producer("activities"), await producer("enrolment")
    db = await scoring_db()
    try:
        async with client("scoring") as http:
            frozen = (await http.get(f"/v1/periods/{LAST_YEAR}", params={"community_id": COMMUNITY})).json()
            assert frozen["state"] == "closed" and frozen["closes_on"] == f"{year + 1}-02-01", frozen
            before = await _view(http)
            await send(enrolment, resident(on_time, COMMUNITY), resident(late, COMMUNITY))
            await send(activities, _attended(on_time, december, before_close, 2460, f"{run}-c"),
                       _attended(late, december, arrived_now, 90, f"{run}-c"))  # fmt: skip

            async def counted():
                rows = await db.fetch(
                    "SELECT resident_id, period, minutes FROM resident_minutes WHERE resident_id = ANY($1::text[])",
                    [on_time, late],
                )
                return {(r["resident_id"], r["period"]): r["minutes"] for r in rows} if len(rows) == 2 else None

            # Synced on 20 January: last year's hours (its honours); arrived now: this year's.
            assert await eventually(counted) == {(on_time, LAST_YEAR): 2460, (late, str(year + 1)): 90}
            row = await db.fetchrow("SELECT * FROM late_attendance WHERE resident_id = $1", late)
            assert (row["session_day"], row["counted_day"]) == (local_day(december), local_day(arrived_now))
            assert await db.fetchval("SELECT count(*) FROM late_attendance WHERE resident_id = $1", on_time) == 0
            daily = await db.fetch("SELECT day, attendances FROM attendance_daily WHERE course_id = $1", f"{run}-c")
            assert {(r["day"], r["attendances"]) for r in daily} == {(local_day(december), 1),
                                                                    (local_day(arrived_now), 1)}  # fmt: skip

            async def noted():
                view = await _view(http)
                return view if view.get("late_counted", 0) == before.get("late_counted", 0) + 1 else None

            view = await eventually(noted)
            assert "counted in" in view["late_en"] and "迟到" in view["late_zh"]
            leaves = {leaf["id"]: leaf for a in view["aspects"] for leaf in a["indicators"]}
            assert leaves["implementation.hours_per_resident"]["late_counted"] == view["late_counted"]
            assert "late_counted" not in leaves["organisation.enrolment_fill"]
            # Last year's figures were frozen at its close: the late attendance does not move them.
            again = (await http.get(f"/v1/periods/{LAST_YEAR}", params={"community_id": COMMUNITY})).json()
            assert again == frozen
    finally:
        await activities.stop()
        await enrolment.stop()
        await db.close()


async def test_a_rebuild_from_the_topics_equals_the_live_index():
    """Late attendance is dated by its event's time and venue closings by their events, so the
    replay counts both as the live consumer did (run after the venue lifecycle test, it covers
    closed and reopened venues too)."""
    text = await rebuild("services.scoring", "rebuild", "--quiet")
    assert "REBUILD equal=True" in text, text
