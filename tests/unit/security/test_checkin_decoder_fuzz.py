"""Fuzzing the kiosk check-in decoder (the public contract anyone with the kiosk credentials can
write to) and the shared event decoder: no input crashes them; what is not valid becomes a
DeadLetter with a reason code and a detail."""

from __future__ import annotations

import uuid

import orjson
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.activities.service_layer.checkins import decode_checkin
from shared.bus.decoding import MAX_RECORD_BYTES, DeadLetter, decode_event
from shared.events.catalogue import KioskCheckin

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def record(value: bytes | None, key: bytes | None = b"r-1", headers=()) -> ConsumerRecord:
    return ConsumerRecord(
        topic="kiosk.checkins", partition=0, offset=1, timestamp=0, timestamp_type=0, key=key, value=value,
        checksum=None, serialized_key_size=len(key or b""), serialized_value_size=len(value or b""),
        headers=list(headers),
    )  # fmt: skip


def valid() -> dict:
    return {
        "checkin_id": str(uuid.uuid4()), "kiosk_id": "k-1", "venue_id": "v-1", "resident_id": "r-1",
        "session_id": "s-1", "scanned_at": "2026-05-01T09:00:00+08:00", "direction": "in",
    }  # fmt: skip


def decodes_or_dead_letters(rec: ConsumerRecord) -> str:
    try:
        incoming = decode_checkin(rec)
    except DeadLetter as letter:
        assert letter.code and letter.detail
        return letter.code
    assert isinstance(incoming.data, KioskCheckin)
    assert incoming.event_id == incoming.data.checkin_id
    return "ok"


def test_a_valid_checkin_decodes():
    assert decodes_or_dead_letters(record(orjson.dumps(valid()))) == "ok"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(st.binary(max_size=2048), st.one_of(st.none(), st.binary(max_size=64)))
def test_arbitrary_bytes_never_crash_the_decoder(value, key):
    assert decodes_or_dead_letters(record(value, key)) in {"ok", "invalid_checkin", "too_large"}


@FUZZ
@given(st.dictionaries(st.sampled_from([*valid(), "extra", ""]), json_values, max_size=9))
def test_arbitrary_json_objects_never_crash_the_decoder(body):
    code = decodes_or_dead_letters(record(orjson.dumps(body)))
    assert code in {"ok", "invalid_checkin"}


@FUZZ
@given(st.sampled_from(list(valid())), json_values)
def test_one_field_replaced_by_anything(field, value):
    body = valid() | {field: value}
    wire = orjson.dumps(body)
    code = decodes_or_dead_letters(record(wire))
    if code == "ok":  # then what the kiosk sent really is a valid check-in
        # the bytes, not the Python value: orjson writes inf and nan as null (an absent session)
        KioskCheckin.model_validate(orjson.loads(wire))


@FUZZ
@given(st.text(min_size=1, max_size=300))
def test_key_must_be_the_resident(key):
    body = valid()
    code = decodes_or_dead_letters(record(orjson.dumps(body), key.encode("utf-8", "surrogatepass")))
    assert (code == "ok") == (key == body["resident_id"])


def test_an_oversized_record_is_dead_lettered_as_too_large():
    body = orjson.dumps(valid() | {"pad": "x" * MAX_RECORD_BYTES})
    assert decodes_or_dead_letters(record(body)) == "too_large"


@FUZZ
@given(
    st.binary(max_size=1024),
    st.lists(st.tuples(st.sampled_from(["ce_type", "ce_id", "ce_time", "x"]), st.binary(max_size=80)), max_size=5),
)
def test_the_shared_event_decoder_never_crashes(value, headers):
    try:
        decode_event(record(value, headers=headers))
    except DeadLetter as letter:
        assert letter.code in {
            "missing_header",
            "unknown_type",
            "invalid_json",
            "invalid_event",
            "empty_body",
            "invalid_header",
        }
        assert letter.detail
