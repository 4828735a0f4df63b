"""A kiosk's own Kafka principal (issue 16), made as the demo makes one per registered kiosk
(deploy/local/kiosk_principals.py, one batch for all): it may write kiosk.checkins and nothing
else, may not read it, and holding one kiosk's Kafka password and signing key does not let anyone
pass a scan off as another kiosk's: activities dead-letters it as bad_signature.

The broker does not tell consumers which principal wrote a record, so what binds a scan to its
kiosk is the signature; the principal bounds what a stolen kiosk password can touch."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.conn import create_conn
from aiokafka.errors import GroupAuthorizationFailedError, SaslAuthenticationFailed, TopicAuthorizationFailedError

from shared.events.topics import all_topic_specs
from tests.integration.activities.helpers import (
    Place,
    Tail,
    attendance,
    checkin,
    kiosk_key,
    make_place,
    now,
    outcome,
    register_residents,
    send_checkins,
)
from tests.integration.activities.test_signed_checkins import assert_never_stored, letter_of, recorded_for, signed
from tests.support import env, headers_of, unique

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
import kiosk_principals  # deploy/local/kiosk_principals.py

pytestmark = pytest.mark.integration

TIMEOUT = 20
OTHER_TOPICS = sorted(t.name for t in all_topic_specs() if t.name != "kiosk.checkins")


@pytest.fixture
async def kiosks() -> AsyncIterator[tuple[Place, Place]]:
    """Two registered kiosks, each with its own principal; the principals are removed afterwards."""
    # each kiosk's key registered as the demo registers its kiosks' (the local derived key)
    one, two = await make_place(signing=True), await make_place(signing=True)
    ids = [one.kiosk_id, two.kiosk_id]
    made = await asyncio.to_thread(kiosk_principals.provision, env(), ids, report=False)
    assert made == [kiosk_principals.principal(k) for k in ids]
    try:
        yield one, two
    finally:
        await asyncio.to_thread(kiosk_principals.remove, env(), ids)


@pytest.fixture
async def kiosk_producer() -> AsyncIterator:
    producers: list[AIOKafkaProducer] = []

    async def start(kiosk_id: str) -> AIOKafkaProducer:
        p = AIOKafkaProducer(**kiosk_principals.client_kwargs(kiosk_id, env()), acks="all", enable_idempotence=True)
        await p.start()
        producers.append(p)
        return p

    yield start
    for p in producers:
        await p.stop()


async def send(producer: AIOKafkaProducer, scan: dict, headers: dict[str, str] | None = None) -> None:
    await producer.send_and_wait(
        "kiosk.checkins",
        orjson.dumps(scan),
        key=scan["resident_id"].encode(),
        headers=[(k, v.encode()) for k, v in (headers or {}).items()],
    )


async def test_a_kiosk_writes_its_own_signed_scan_with_its_own_principal(kiosks, kiosk_producer):
    place, _ = kiosks
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    await send(await kiosk_producer(place.kiosk_id), scan, signed(kiosk_key(place.kiosk_id), scan))
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"


async def test_the_helpers_signing_kiosks_scans_are_signed_and_recorded(kiosks):
    place, _ = kiosks  # send_checkins writes as the shared kiosk principal, signing for this kiosk
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    await send_checkins(scan)
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"


async def test_a_kiosk_principal_writes_no_other_topic(kiosks, kiosk_producer):
    place, _ = kiosks
    producer = await kiosk_producer(place.kiosk_id)
    await asyncio.wait_for(producer.send_and_wait("kiosk.checkins", b"{}", key=b"acl-probe"), TIMEOUT)  # it can
    refused = []
    for topic in OTHER_TOPICS:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send_and_wait(topic, b"{}"), TIMEOUT)
        refused.append(topic)
    assert "kiosk.checkins.dlq" in refused and "activities.attendance" in refused


async def test_a_kiosk_principal_cannot_read_checkins_alone_or_in_a_group(kiosks):
    place, _ = kiosks
    auth = kiosk_principals.client_kwargs(place.kiosk_id, env())
    consumer = AIOKafkaConsumer(**auth, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition("kiosk.checkins", 0)])
        consumer.seek(TopicPartition("kiosk.checkins", 0), 0)
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(consumer.getone(), TIMEOUT)
    finally:
        await consumer.stop()
    grouped = AIOKafkaConsumer("kiosk.checkins", **auth, group_id=f"learnstreet.kiosk.{uuid.uuid4().hex[:8]}")
    try:
        with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
            await asyncio.wait_for(grouped.start(), TIMEOUT)
            await asyncio.wait_for(grouped.getone(), TIMEOUT)
    finally:
        await grouped.stop()


async def test_one_kiosks_password_and_key_cannot_pass_a_scan_off_as_another_kiosks(kiosks, kiosk_producer):
    mine, victim = kiosks
    resident = unique("r")
    await register_residents(resident)
    producer = await kiosk_producer(mine.kiosk_id)  # the stolen kiosk's Kafka password
    # the victim's kiosk and venue, signed with the stolen kiosk's key; then without a signature
    forged = checkin(victim, resident, now() - timedelta(minutes=5))
    stripped = checkin(victim, resident, now() - timedelta(minutes=4))
    # and the stolen kiosk's own id with a key that is not its registered one (the victim's)
    borrowed = checkin(mine, resident, now() - timedelta(minutes=3))
    async with Tail("kiosk.checkins.dlq") as dlq, Tail("activities.attendance") as out:
        await send(producer, forged, signed(kiosk_key(mine.kiosk_id), forged))
        await send(producer, stripped)
        await send(producer, borrowed, signed(kiosk_key(victim.kiosk_id), borrowed))
        letters = [(await dlq.wait_for(letter_of(scan)))[0] for scan in (forged, stripped, borrowed)]
        assert not out.matching(recorded_for(resident))
    assert [headers_of(letter)["dlq_reason"] for letter in letters] == ["bad_signature"] * 3
    assert f"is not an active key of kiosk {victim.kiosk_id}" in headers_of(letters[0])["dlq_error_message"]
    assert "must be signed" in headers_of(letters[1])["dlq_error_message"]
    assert f"is not an active key of kiosk {mine.kiosk_id}" in headers_of(letters[2])["dlq_error_message"]
    for scan in (forged, stripped, borrowed):
        await assert_never_stored(scan["checkin_id"])
    assert await attendance(resident, victim.session_id) is None


async def test_a_removed_kiosk_principal_no_longer_signs_in(kiosks):
    place, _ = kiosks
    auth = kiosk_principals.client_kwargs(place.kiosk_id, env())  # read before the files go
    host, port = auth.pop("bootstrap_servers").rsplit(":", 1)
    conn = await asyncio.wait_for(create_conn(host, int(port), **auth), TIMEOUT)  # it signs in now
    conn.close()
    await asyncio.to_thread(kiosk_principals.remove, env(), [place.kiosk_id])
    with pytest.raises(SaslAuthenticationFailed):  # the broker has forgotten the password
        await asyncio.wait_for(create_conn(host, int(port), **auth), TIMEOUT)
