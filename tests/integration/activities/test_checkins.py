"""Kiosk check-ins through the real broker and database: duplicates, late, out-of-order,
malformed, parked-until-known, walk-in seats, a non-Python client (kcat), and the HTTP path."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import timedelta

import orjson
import pytest

from shared.events.catalogue import EnrolmentConfirmed
from tests.integration.activities.helpers import (
    Tail,
    attendance,
    body,
    checkin,
    event_type,
    kcat_produce,
    make_place,
    now,
    outcome,
    publish_events,
    register_residents,
    send_checkins,
)
from tests.support import client, headers_of, unique

pytestmark = pytest.mark.integration

RECORDED = "learnstreet.activities.attendance.recorded.v1"
ADJUSTED = "learnstreet.activities.attendance.adjusted.v1"
REJECTED = "learnstreet.activities.attendance.rejected.v1"


def of(resident_id: str, type_name: str):
    return lambda r: r.key == resident_id.encode() and event_type(r) == type_name


async def test_duplicate_checkins_count_once_and_publish_one_attendance():
    place = await make_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    other_scan = checkin(place, resident, now() - timedelta(minutes=4))  # a second card swipe
    async with Tail("activities.attendance") as tail:
        await send_checkins(scan, scan, other_scan, scan)
        assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
        assert (await outcome(other_scan["checkin_id"]))["outcome"] == "merged"
        recorded = await tail.wait_for(of(resident, RECORDED))
        await asyncio.sleep(1.0)  # give a wrong second event the time to show up
    assert len(tail.matching(of(resident, RECORDED))) == 1
    assert body(recorded[0])["session_id"] == place.session_id
    assert body(recorded[0])["minutes"] == 90
    stored = await attendance(resident, place.session_id)
    assert stored["attendance_id"] == body(recorded[0])["attendance_id"]
    # Deterministic ids: the same resident and session always give the same ids downstream.
    assert stored["attendance_id"] == str(uuid.uuid5(uuid.UUID("6f1c5a52-2f0e-4b8e-9a53-3d7f1c0b7a10"),
                                                     f"{resident}\x1f{place.session_id}"))  # fmt: skip


async def test_late_scan_synced_hours_later_is_accepted_and_flagged():
    place = await make_place(starts_at=now() - timedelta(hours=5), minutes=60)
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, place.starts_at + timedelta(minutes=2))  # scanned 5 h ago, offline kiosk
    async with Tail("activities.attendance") as tail:
        await send_checkins(scan)
        recorded = await tail.wait_for(of(resident, RECORDED))
    data = body(recorded[0])
    assert data["late_sync"] is True
    assert data["session_id"] == place.session_id and data["minutes"] == 60
    assert data["community_id"] == "xinnan" and data["theme"] == "health" and data["provider_kind"] == "doctor"


async def test_check_out_before_check_in_records_then_adjusts_minutes():
    place = await make_place(starts_at=now() - timedelta(minutes=80), minutes=90)
    resident = unique("r")
    await register_residents(resident)
    check_out = checkin(place, resident, place.starts_at + timedelta(minutes=70), direction="out")
    check_in = checkin(place, resident, place.starts_at + timedelta(minutes=20), direction="in")
    async with Tail("activities.attendance") as tail:
        await send_checkins(check_out)
        recorded = await tail.wait_for(of(resident, RECORDED))
        assert body(recorded[0])["minutes"] == 70  # no check-in yet: counted from the start
        await send_checkins(check_in)
        adjusted = await tail.wait_for(of(resident, ADJUSTED))
    assert body(adjusted[0])["minutes"] == 50
    assert body(adjusted[0])["attendance_id"] == body(recorded[0])["attendance_id"]
    assert (await attendance(resident, place.session_id))["minutes"] == 50
    assert len(tail.matching(of(resident, RECORDED))) == 1


async def test_an_earlier_rescan_that_changes_no_minutes_still_moves_the_check_in():
    """Found by make chaos (independent oracle): a second check-in earlier than the first changes
    no minutes while there is no check-out (the whole session counts), so it was reported
    `merged` and its time never stored; the check-out that came later was then counted from the
    later check-in (104 minutes instead of 105)."""
    place = await make_place(starts_at=now() - timedelta(minutes=80), minutes=90)
    resident = unique("r")
    await register_residents(resident)
    first = checkin(place, resident, place.starts_at + timedelta(minutes=30), direction="in")
    earlier = checkin(place, resident, place.starts_at + timedelta(minutes=10), direction="in")
    check_out = checkin(place, resident, place.starts_at + timedelta(minutes=70), direction="out")
    async with Tail("activities.attendance") as tail:
        await send_checkins(first)
        await tail.wait_for(of(resident, RECORDED))
        await send_checkins(earlier)
        assert (await outcome(earlier["checkin_id"]))["outcome"] in ("merged", "adjusted")
        await send_checkins(check_out)
        adjusted = await tail.wait_for(of(resident, ADJUSTED))
    assert body(adjusted[-1])["minutes"] == 60  # from the earlier check-in, not 40 from the first
    assert (await attendance(resident, place.session_id))["minutes"] == 60


async def test_malformed_checkins_land_in_the_dead_letter_topic_with_the_reason():
    marker = unique("bad")
    place = await make_place()
    good = checkin(place, marker, now())
    missing_field = {k: v for k, v in good.items() if k != "venue_id"}
    naive_time = {**good, "checkin_id": str(uuid.uuid4()), "scanned_at": "2026-05-01T09:00:00"}
    wrong_key = {**good, "checkin_id": str(uuid.uuid4())}
    async with Tail("kiosk.checkins.dlq") as dlq:
        await send_checkins(
            raw=[
                (marker.encode(), b"{not json"),
                (marker.encode(), orjson.dumps(missing_field)),
                (marker.encode(), orjson.dumps(naive_time)),
                (b"someone-else", orjson.dumps(wrong_key)),
            ]
        )
        mine = lambda r: r.key in (marker.encode(), b"someone-else") and marker.encode() in (r.value or b"")  # noqa: E731
        letters = await dlq.wait_for(lambda r: r.key == marker.encode() or mine(r), count=4)
    reasons = {headers_of(r)["dlq_reason"] for r in letters}
    assert reasons == {"invalid_checkin"}
    messages = " | ".join(headers_of(r)["dlq_error_message"] for r in letters)
    assert "venue_id" in messages and "scanned_at" in messages and "key" in messages
    assert all(headers_of(r)["dlq_original_topic"] == "kiosk.checkins" for r in letters)


async def test_checkin_before_its_resident_is_known_is_parked_then_recorded():
    place = await make_place()
    resident = unique("r")
    scan = checkin(place, resident, now())
    await send_checkins(scan)
    parked = await outcome(scan["checkin_id"], settled=False)
    assert parked["outcome"] == "pending" and parked["reason"] == "unknown_resident" and parked["parked"]
    async with Tail("activities.attendance") as tail:
        await register_residents(resident)
        await tail.wait_for(of(resident, RECORDED))
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"


async def test_walk_ins_take_only_the_seats_left_and_enrolled_residents_always_count():
    place = await make_place(capacity=2)
    enrolled, walk_in, too_many = unique("r"), unique("r"), unique("r")
    await register_residents(enrolled, walk_in, too_many)
    await publish_events(
        "enrolment",
        EnrolmentConfirmed(enrolment_id=unique("e"), session_id=place.session_id, course_id=place.course_id,
                           resident_id=enrolled, at=now()),
    )  # fmt: skip

    async def seats_known():
        async with client("activities") as op:
            return (await op.get(f"/v1/sessions/{place.session_id}")).json()["confirmed_seats"] == 1

    from tests.support import eventually

    await eventually(seats_known)
    first = checkin(place, walk_in, now())
    async with Tail("activities.attendance") as tail:
        await send_checkins(first)
        assert (await outcome(first["checkin_id"]))["outcome"] == "recorded"
        second = checkin(place, too_many, now())
        third = checkin(place, enrolled, now())
        await send_checkins(second, third)
        rejected = await tail.wait_for(of(too_many, REJECTED))
        await tail.wait_for(of(enrolled, RECORDED))
    assert body(rejected[0])["reason"] == "no_seats"
    assert (await attendance(walk_in, place.session_id))["walk_in"] is True
    assert (await attendance(enrolled, place.session_id))["walk_in"] is False


async def test_unknown_kiosk_is_rejected_with_its_reason():
    place = await make_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now(), kiosk_id=unique("ghost-kiosk"))
    async with Tail("activities.attendance") as tail:
        await send_checkins(scan)
        rejected = await tail.wait_for(of(resident, REJECTED))
    assert body(rejected[0])["reason"] == "unknown_kiosk"
    assert await attendance(resident, place.session_id) is None


async def test_checkin_from_kcat_with_the_kiosk_credentials_is_recorded():
    assert shutil.which("kcat"), "kcat is missing: apt-get install kcat"
    place = await make_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now())
    async with Tail("activities.attendance") as tail:
        line = f"{resident}|{orjson.dumps(scan).decode()}\n".encode()
        done = await asyncio.to_thread(kcat_produce, line)
        assert done.returncode == 0, done.stderr.decode()
        recorded = await tail.wait_for(of(resident, RECORDED))
    assert body(recorded[0])["checkin_id"] == scan["checkin_id"]


async def test_http_checkin_is_produced_to_kafka_and_recorded():
    place = await make_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now())
    async with (
        Tail("activities.attendance") as tail,
        client("activities", role="kiosk", subject=place.kiosk_id) as kiosk,
    ):
        r = await kiosk.post("/v1/checkins", json=scan)
        assert r.status_code == 202, r.text
        await tail.wait_for(of(resident, RECORDED))


@pytest.mark.parametrize(
    ("role", "subject", "change", "expected", "field"),
    [
        (None, "x", {}, 401, None),
        ("resident", "x", {}, 403, None),
        ("kiosk", "another-kiosk", {}, 403, None),
        ("kiosk", None, {"scanned_at": "2026-05-01T09:00:00"}, 422, "scanned_at"),
        ("kiosk", None, {"checkin_id": "not-a-uuid"}, 422, "checkin_id"),
        ("kiosk", None, {"direction": "sideways"}, 422, "direction"),
    ],
)
async def test_http_checkin_refuses_bad_tokens_and_bad_fields(role, subject, change, expected, field):
    kiosk_id = unique("k")
    scan = {"checkin_id": str(uuid.uuid4()), "kiosk_id": kiosk_id, "venue_id": "v", "resident_id": "r",
            "scanned_at": now().isoformat(), **change}  # fmt: skip
    async with client("activities", role=role, subject=subject or kiosk_id) as http:
        r = await http.post("/v1/checkins", json=scan)
    assert r.status_code == expected, r.text
    if field:
        assert field in {str(part) for d in r.json()["detail"] for part in d["loc"]}


async def test_unknown_checkin_is_404():
    async with client("activities") as op:
        r = await op.get(f"/v1/checkins/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.json()["detail"][0]["loc"] == ["body", "checkin_id"]
