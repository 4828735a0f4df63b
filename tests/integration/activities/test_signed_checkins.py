"""Signed check-ins (contract v2, issue 16) through the real broker, database and services: a kiosk
cannot pass a scan off as another kiosk's over Kafka or HTTP, a tampered field fails, unsigned
records are accepted in a venue's migration window and refused after it, a replayed signed record
is a duplicate as before, and the operator's key API."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.events.catalogue import KioskCheckin
from shared.kiosk_signing import key_id, public_bytes, sign
from tests.integration.activities.helpers import (
    Place,
    Tail,
    attendance,
    body,
    checkin,
    event_type,
    make_place,
    now,
    outcome,
    register_residents,
)
from tests.support import client, headers_of, producer, service_url, unique

pytestmark = pytest.mark.integration

RECORDED = "learnstreet.activities.attendance.recorded.v1"


async def keyed_place() -> tuple[Place, Ed25519PrivateKey]:
    """A venue whose kiosk has a registered key (PEM, as `openssl pkey -pubout` prints it)."""
    place = await make_place()
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    async with client("activities") as op:
        r = await op.post(f"/v1/kiosks/{place.kiosk_id}/keys", json={"public_key": pem})
    assert r.status_code == 201, r.text
    assert r.json()["key_id"] == key_id(public_bytes(private))
    return place, private


def signed(private: Ed25519PrivateKey, scan: dict) -> dict[str, str]:
    return sign(private, KioskCheckin.model_validate(scan))


async def send(scan: dict, headers: dict[str, str] | None = None) -> None:
    kafka = await producer("kiosk")
    try:
        await kafka.send_and_wait(
            "kiosk.checkins",
            orjson.dumps(scan),
            key=scan["resident_id"].encode(),
            headers=[(k, v.encode()) for k, v in (headers or {}).items()],
        )
    finally:
        await kafka.stop()


def letter_of(scan: dict):
    def match(r) -> bool:
        try:
            return orjson.loads(r.value).get("checkin_id") == scan["checkin_id"]
        except (orjson.JSONDecodeError, AttributeError):
            return False

    return match


def recorded_for(resident: str):
    return lambda r: event_type(r) == RECORDED and body(r)["resident_id"] == resident


async def bad_signature_letters() -> float:
    async with httpx.AsyncClient(timeout=10.0) as http:
        text = (await http.get(f"{service_url('activities')}/metrics")).text
    found = re.search(
        r'^learnstreet_dead_lettered_total\{reason="bad_signature",topic="kiosk.checkins"\} (\S+)$', text, re.M
    ) or re.search(
        r'^learnstreet_dead_lettered_total\{topic="kiosk.checkins",reason="bad_signature"\} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


async def assert_never_stored(checkin_id: str) -> None:
    async with client("activities") as op:
        assert (await op.get(f"/v1/checkins/{checkin_id}")).status_code == 404


# --- Kafka -----------------------------------------------------------------------------------


async def test_a_signed_checkin_over_kafka_is_recorded():
    place, key = await keyed_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    await send(scan, signed(key, scan))
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"


async def test_a_kiosk_forging_another_kiosks_scan_over_kafka_is_dead_lettered_bad_signature():
    (victim, _), (forger, forger_key) = await keyed_place(), await keyed_place()
    resident = unique("r")
    await register_residents(resident)
    # the forger writes the victim's kiosk and venue, signed with its own key, and unsigned
    forged = checkin(victim, resident, now() - timedelta(minutes=5))
    stripped = checkin(victim, resident, now() - timedelta(minutes=4))
    before = await bad_signature_letters()
    async with Tail("kiosk.checkins.dlq") as dlq, Tail("activities.attendance") as out:
        await send(forged, signed(forger_key, forged))
        await send(stripped)
        [one] = await dlq.wait_for(letter_of(forged))
        [two] = await dlq.wait_for(letter_of(stripped))
        assert not out.matching(recorded_for(resident))
    assert forger.kiosk_id != victim.kiosk_id
    for letter in (one, two):
        assert headers_of(letter)["dlq_reason"] == "bad_signature"
    assert f"is not an active key of kiosk {victim.kiosk_id}" in headers_of(one)["dlq_error_message"]
    assert "must be signed" in headers_of(two)["dlq_error_message"]
    await assert_never_stored(forged["checkin_id"])
    assert await attendance(resident, victim.session_id) is None
    assert await bad_signature_letters() >= before + 2


async def test_a_tampered_resident_id_fails_the_signature():
    place, key = await keyed_place()
    resident, other = unique("r"), unique("r")
    await register_residents(resident, other)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    headers = signed(key, scan)
    tampered = {**scan, "resident_id": other}
    async with Tail("kiosk.checkins.dlq") as dlq:
        await send(tampered, headers)
        [letter] = await dlq.wait_for(letter_of(tampered))
    assert headers_of(letter)["dlq_reason"] == "bad_signature"
    assert "does not match" in headers_of(letter)["dlq_error_message"]
    assert await attendance(other, place.session_id) is None


async def test_a_replayed_signed_record_is_a_duplicate_as_before():
    place, key = await keyed_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    headers = signed(key, scan)
    async with Tail("activities.attendance") as out, Tail("kiosk.checkins.dlq") as dlq:
        await send(scan, headers)
        await out.wait_for(recorded_for(resident))
        await send(scan, headers)  # the kiosk retries: same record, same signature
        # a refused record of the same resident (same key, same partition, after the replay): once
        # its dead letter is out, the replay has been handled
        marker = checkin(place, resident, now() - timedelta(minutes=4))
        await send(marker, signed(Ed25519PrivateKey.generate(), marker))
        await dlq.wait_for(letter_of(marker))
    assert len(out.matching(recorded_for(resident))) == 1
    assert not dlq.matching(letter_of(scan))
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"


# --- HTTP ------------------------------------------------------------------------------------


async def test_a_kiosk_forging_another_kiosks_scan_over_http_is_refused_and_dead_lettered():
    # the forger holds the victim's kiosk token (read off the victim kiosk, say) but not its key
    (victim, _), (_, forger_key) = await keyed_place(), await keyed_place()
    resident = unique("r")
    await register_residents(resident)
    forged = checkin(victim, resident, now() - timedelta(minutes=5))
    stripped = checkin(victim, resident, now() - timedelta(minutes=4))
    before = await bad_signature_letters()
    async with (
        Tail("kiosk.checkins.dlq") as dlq,
        client("activities", role="kiosk", subject=victim.kiosk_id) as kiosk,
    ):
        r = await kiosk.post("/v1/checkins", json=forged, headers=signed(forger_key, forged))
        assert r.status_code == 403, r.text
        [error] = r.json()["detail"]
        assert error["loc"][-1] == "ls-signature" and "is not an active key" in error["msg"]
        r = await kiosk.post("/v1/checkins", json=stripped)
        assert r.status_code == 403, r.text
        [one] = await dlq.wait_for(letter_of(forged))
        [two] = await dlq.wait_for(letter_of(stripped))
    assert headers_of(one)["dlq_reason"] == headers_of(two)["dlq_reason"] == "bad_signature"
    assert await bad_signature_letters() >= before + 2
    await assert_never_stored(forged["checkin_id"])


async def test_a_signed_checkin_over_http_is_recorded_and_its_signature_travels_to_kafka():
    place, key = await keyed_place()
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    headers = signed(key, scan)
    async with (
        Tail("kiosk.checkins") as raw,
        client("activities", role="kiosk", subject=place.kiosk_id) as kiosk,
    ):
        r = await kiosk.post("/v1/checkins", json=scan, headers=headers)
        assert r.status_code == 202, r.text
        [record] = await raw.wait_for(letter_of(scan))
    assert headers_of(record)["ls-signature"] == headers["ls-signature"]  # the consumer verifies again
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"


# --- the migration window --------------------------------------------------------------------


async def set_window(venue_id: str, until) -> None:
    async with client("activities") as op:
        r = await op.put(
            f"/v1/venues/{venue_id}/unsigned-checkins",
            json={"accepted_until": until.isoformat() if until else None},
        )
    assert r.status_code == 200, r.text


async def test_unsigned_checkins_are_accepted_within_the_venues_window_and_refused_after_it():
    place = await make_place()  # a version-1 kiosk: no key
    early, late = unique("r"), unique("r")
    await register_residents(early, late)
    await set_window(place.venue_id, now() + timedelta(days=30))
    within = checkin(place, early, now() - timedelta(minutes=5))
    await send(within)
    assert (await outcome(within["checkin_id"]))["outcome"] == "recorded"

    await set_window(place.venue_id, now() - timedelta(seconds=1))
    after = checkin(place, late, now() - timedelta(minutes=5))
    async with Tail("kiosk.checkins.dlq") as dlq:
        await send(after)
        [letter] = await dlq.wait_for(letter_of(after))
    assert headers_of(letter)["dlq_reason"] == "bad_signature"
    assert f"venue {place.venue_id} refuses unsigned check-ins since" in headers_of(letter)["dlq_error_message"]
    assert await attendance(late, place.session_id) is None
    async with client("activities") as op:
        shown = (await op.get(f"/v1/venues/{place.venue_id}/unsigned-checkins")).json()
    assert shown["accepted_until"] is not None


# --- keys --------------------------------------------------------------------------------------


async def test_key_registration_is_idempotent_tied_to_one_kiosk_and_retiring_stops_it():
    place, key = await keyed_place()
    other = await make_place()
    raw = base64.b64encode(public_bytes(key)).decode()
    async with client("activities") as op:
        again = await op.post(f"/v1/kiosks/{place.kiosk_id}/keys", json={"public_key": raw})
        assert again.status_code == 200, again.text
        elsewhere = await op.post(f"/v1/kiosks/{other.kiosk_id}/keys", json={"public_key": raw})
        assert elsewhere.status_code == 409, elsewhere.text
        unknown = await op.post(f"/v1/kiosks/{unique('k')}/keys", json={"public_key": raw})
        assert unknown.status_code == 404, unknown.text
        kid = again.json()["key_id"]
        retired = await op.delete(f"/v1/kiosks/{place.kiosk_id}/keys/{kid}")
        assert retired.status_code == 200 and retired.json()["retired_at"], retired.text
    async with client("activities", role="kiosk", subject=place.kiosk_id) as kiosk:
        r = await kiosk.get(f"/v1/kiosks/{place.kiosk_id}/keys")
        assert r.status_code == 403  # operators only
    resident = unique("r")
    await register_residents(resident)
    scan = checkin(place, resident, now() - timedelta(minutes=5))
    async with Tail("kiosk.checkins.dlq") as dlq:
        await send(scan, signed(key, scan))
        [letter] = await dlq.wait_for(letter_of(scan))
    assert headers_of(letter)["dlq_reason"] == "bad_signature"
