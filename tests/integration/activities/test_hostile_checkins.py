"""Kiosk input that is well-formed but wrong, through the real broker and database (issue 13): a
`checkin_id` reused for another scan, an internal event type on the public topic, a scan dated
implausibly far from when it arrived."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest

from tests.integration.activities.helpers import (
    Tail,
    attendance,
    body,
    checkin,
    event_type,
    make_place,
    now,
    outcome,
    register_residents,
    send_checkins,
)
from tests.support import client, headers_of, producer, unique

pytestmark = pytest.mark.integration

RECORDED = "learnstreet.activities.attendance.recorded.v1"
REJECTED = "learnstreet.activities.attendance.rejected.v1"


def letter_of(checkin_id: str, kiosk_id: str):
    """The dead letter of the scan `kiosk_id` sent under `checkin_id`."""

    def match(r) -> bool:
        try:
            sent = orjson.loads(r.value)
        except orjson.JSONDecodeError:
            return False
        return isinstance(sent, dict) and sent.get("checkin_id") == checkin_id and sent.get("kiosk_id") == kiosk_id

    return match


async def two_kiosks() -> tuple:
    first, second = await make_place(), await make_place()
    return first, second


async def test_a_checkin_id_reused_by_another_kiosk_for_another_resident_is_dead_lettered_and_the_first_kept():
    first, second = await two_kiosks()
    genuine, other = unique("r"), unique("r")
    await register_residents(genuine, other)
    scan = checkin(first, genuine, now() - timedelta(minutes=5))
    reuse = checkin(second, other, now() - timedelta(minutes=3), checkin_id=scan["checkin_id"])
    async with Tail("kiosk.checkins.dlq") as dlq:
        await send_checkins(scan)
        assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
        await send_checkins(reuse)
        [letter] = await dlq.wait_for(letter_of(scan["checkin_id"], second.kiosk_id))
    h = headers_of(letter)
    assert h["dlq_reason"] == "checkin_id_conflict"
    assert first.kiosk_id in h["dlq_error_message"] and second.kiosk_id in h["dlq_error_message"]
    kept = await outcome(scan["checkin_id"])
    assert kept["outcome"] == "recorded" and kept["session_id"] == first.session_id
    assert await attendance(genuine, first.session_id) is not None
    assert await attendance(other, second.session_id) is None


async def test_a_checkin_id_reused_in_the_same_batch_keeps_the_first_scan():
    first, second = await two_kiosks()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(first, resident, now() - timedelta(minutes=5))
    reuse = checkin(second, resident, now() - timedelta(minutes=4), checkin_id=scan["checkin_id"])
    retry = dict(scan)  # a genuine retry of the first scan: a duplicate, not a conflict
    async with Tail("kiosk.checkins.dlq") as dlq, Tail("activities.attendance") as out:
        await send_checkins(scan, reuse, retry)  # one key: one partition, in this order
        [letter] = await dlq.wait_for(letter_of(scan["checkin_id"], second.kiosk_id))
        await out.wait_for(lambda r: r.key == resident.encode() and event_type(r) == RECORDED)
        retry_letters = dlq.matching(letter_of(scan["checkin_id"], first.kiosk_id))
    assert headers_of(letter)["dlq_reason"] == "checkin_id_conflict"
    assert retry_letters == []
    assert (await outcome(scan["checkin_id"]))["session_id"] == first.session_id
    assert await attendance(resident, first.session_id) is not None
    assert await attendance(resident, second.session_id) is None


async def test_a_retry_behind_a_reuse_in_the_next_batch_is_a_retry_not_a_conflict():
    # The first scan is in the ledger; the reuse and then a retry of the first scan arrive together
    # (one producer batch, so one consumer batch). The retry must be compared with the stored scan,
    # not with the reuse that came first in its batch (it was dead-lettered as a conflict).
    first, second = await two_kiosks()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(first, resident, now() - timedelta(minutes=5))
    reuse = checkin(second, resident, now() - timedelta(minutes=4), checkin_id=scan["checkin_id"])
    async with Tail("kiosk.checkins.dlq") as dlq:
        await send_checkins(scan)
        assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
        kafka = await producer("kiosk")
        try:
            sent = [
                await kafka.send("kiosk.checkins", orjson.dumps(body), key=resident.encode())
                for body in (reuse, dict(scan))
            ]
            for delivery in sent:
                await delivery
        finally:
            await kafka.stop()
        [letter] = await dlq.wait_for(letter_of(scan["checkin_id"], second.kiosk_id))
        probe = checkin(first, resident, now() - timedelta(minutes=3))
        await send_checkins(probe)  # after both on the same partition: once it is settled, so are they
        await outcome(probe["checkin_id"])
        retry_letters = dlq.matching(letter_of(scan["checkin_id"], first.kiosk_id))
    assert headers_of(letter)["dlq_reason"] == "checkin_id_conflict"
    assert retry_letters == []
    assert (await outcome(scan["checkin_id"]))["session_id"] == first.session_id


async def test_a_checkin_id_reused_while_the_first_scan_is_parked_does_not_take_its_place():
    first, second = await two_kiosks()
    not_yet_registered, known = unique("r"), unique("r")
    await register_residents(known)
    scan = checkin(first, not_yet_registered, now() - timedelta(minutes=5))
    reuse = checkin(second, known, now() - timedelta(minutes=4), checkin_id=scan["checkin_id"])
    async with Tail("kiosk.checkins.dlq") as dlq:
        await send_checkins(scan)
        assert (await outcome(scan["checkin_id"], settled=False))["outcome"] == "pending"
        await send_checkins(reuse)
        [letter] = await dlq.wait_for(letter_of(scan["checkin_id"], second.kiosk_id))
    assert headers_of(letter)["dlq_reason"] == "checkin_id_conflict"
    assert await attendance(known, second.session_id) is None
    await register_residents(not_yet_registered)  # the parked scan is still the genuine one
    kept = await outcome(scan["checkin_id"])
    assert kept["outcome"] == "recorded" and kept["session_id"] == first.session_id


async def test_an_internal_event_type_on_the_kiosk_topic_is_dead_lettered_not_applied():
    place = await make_place()
    resident = unique("r")
    await register_residents(resident)
    disguised = checkin(place, resident, now() - timedelta(minutes=5))
    after = checkin(place, resident, now() - timedelta(minutes=4))
    kafka = await producer("kiosk")  # the kiosk principal's own credentials (shared.local_env)
    try:
        async with Tail("kiosk.checkins.dlq") as dlq:
            await kafka.send_and_wait(
                "kiosk.checkins",
                orjson.dumps(disguised),
                key=resident.encode(),
                headers=[("ce_type", RECORDED.encode()), ("ce_id", str(uuid.uuid4()).encode())],
            )
            await kafka.send_and_wait("kiosk.checkins", orjson.dumps(after), key=resident.encode())
            [letter] = await dlq.wait_for(letter_of(disguised["checkin_id"], place.kiosk_id))
            assert (await outcome(after["checkin_id"]))["outcome"] == "recorded"
    finally:
        await kafka.stop()
    h = headers_of(letter)
    assert h["dlq_reason"] == "unexpected_type"
    assert RECORDED in h["dlq_error_message"]
    async with client("activities", role="operator") as op:
        assert (await op.get(f"/v1/checkins/{disguised['checkin_id']}")).status_code == 404


@pytest.mark.parametrize("offset", [timedelta(days=-365), timedelta(days=2)], ids=["a_year_ago", "in_two_days"])
async def test_a_scan_dated_implausibly_far_from_its_arrival_is_rejected_even_inside_a_window(offset):
    place = await make_place(starts_at=now() + offset - timedelta(minutes=10))
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() + offset)
    async with Tail("activities.attendance") as out:
        await send_checkins(scan)
        [rejected] = await out.wait_for(lambda r: r.key == resident.encode() and event_type(r) in (RECORDED, REJECTED))
    assert event_type(rejected) == REJECTED
    assert body(rejected)["reason"] == "implausible_scan_time"
    settled = await outcome(scan["checkin_id"])
    assert settled["outcome"] == "rejected" and settled["reason"] == "implausible_scan_time"
    assert await attendance(resident, place.session_id) is None
