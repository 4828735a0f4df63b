"""The kiosk contract decoder: valid records become events, anything else a dead letter naming the field."""

from __future__ import annotations

import uuid

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from services.activities.service_layer.checkins import decode_checkin
from shared.bus.decoding import DeadLetter

GOOD = {
    "checkin_id": str(uuid.uuid4()),
    "kiosk_id": "k1",
    "venue_id": "v1",
    "resident_id": "PH001",
    "scanned_at": "2026-05-01T19:02:11+08:00",
}


def record(value: bytes | None, key: bytes | None = b"PH001") -> ConsumerRecord:
    return ConsumerRecord("kiosk.checkins", 0, 7, 0, 0, key, value, None, 0, len(value or b""), [])


def test_valid_checkin_is_decoded_with_its_id_as_event_id():
    incoming = decode_checkin(record(orjson.dumps(GOOD)))
    assert str(incoming.event_id) == GOOD["checkin_id"]
    assert incoming.data.direction == "in"


@pytest.mark.parametrize(
    ("value", "key", "field"),
    [
        (b"{nope", b"PH001", "json"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "venue_id"}), b"PH001", "venue_id"),
        (orjson.dumps({**GOOD, "scanned_at": "2026-05-01T19:02:11"}), b"PH001", "scanned_at"),
        # Unix time, as a number or digits: the contract says RFC 3339 with an offset (issue 13).
        (orjson.dumps({**GOOD, "scanned_at": 1777633331}), b"PH001", "scanned_at"),
        (orjson.dumps({**GOOD, "scanned_at": 1777633331.5}), b"PH001", "scanned_at"),
        (orjson.dumps({**GOOD, "scanned_at": "1777633331"}), b"PH001", "scanned_at"),
        (orjson.dumps({**GOOD, "scanned_at": [2026, 5, 1]}), b"PH001", "scanned_at"),
        (orjson.dumps({**GOOD, "checkin_id": "123"}), b"PH001", "checkin_id"),
        (orjson.dumps({**GOOD, "direction": "up"}), b"PH001", "direction"),
        (orjson.dumps({**GOOD, "extra": 1}), b"PH001", "extra"),
        (orjson.dumps(GOOD), b"someone-else", "key"),
        (None, b"PH001", "body"),
    ],
)
def test_malformed_checkins_are_dead_letters_naming_the_field(value, key, field):
    with pytest.raises(DeadLetter) as e:
        decode_checkin(record(value, key))
    assert e.value.code == "invalid_checkin"
    assert field in e.value.detail.lower()


@pytest.mark.parametrize("at", ["2026-05-01T19:02:11Z", "2026-05-01 19:02:11+08:00", "2026-05-01T19:02:11.1-03:30"])
def test_rfc3339_forms_with_an_offset_are_accepted(at):
    assert decode_checkin(record(orjson.dumps({**GOOD, "scanned_at": at}))).data.scanned_at.tzinfo is not None


def test_a_null_key_is_accepted_because_the_body_names_the_resident():
    assert decode_checkin(record(orjson.dumps(GOOD), key=None)).data.resident_id == "PH001"
