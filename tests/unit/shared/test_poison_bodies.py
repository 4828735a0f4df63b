"""Bodies built to hurt a parser: nesting far deeper than any event, huge arrays and objects. Each is
a dead letter with a reason an operator can read, never a RecursionError, and the reason is found
without building one error object per bad element (a 200 KB object of 20,000 unknown keys cost the
kiosk decoder ~0.4 s of CPU before: half of it in turning every pydantic error into a dict)."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from services.activities.service_layer.checkins import decode_checkin
from shared.bus.decoding import DeadLetter, decode_event, validation_detail
from shared.events import catalogue

_ENVELOPE = [
    ("ce_type", catalogue.CourseCreated.type_name.encode()),
    ("ce_id", b"6d1b0c6e-5f0b-4c8e-9d3e-2b1f0e7a9c11"),
]

BODIES = {
    "arrays nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "objects nested 40,000 deep": b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
    "a field nested 1,000 deep": b'{"checkin_id":' + b"[" * 1000 + b"]" * 1000 + b"}",
    "an array of 100,000 numbers": b"[" + b"1," * 100_000 + b"1]",
    "a field of 100,000 numbers": b'{"kiosk_id":[' + b"1," * 100_000 + b"1]}",
    "an object of 20,000 unknown keys": b"{" + b",".join(b'"k%d":1' % i for i in range(20_000)) + b"}",
}


def _record(value: bytes, headers=()) -> ConsumerRecord:
    return ConsumerRecord(
        topic="kiosk.checkins", partition=0, offset=0, timestamp=0, timestamp_type=0, key=None, value=value,
        checksum=None, serialized_key_size=-1, serialized_value_size=len(value), headers=list(headers),
    )  # fmt: skip


@pytest.mark.parametrize("name", BODIES)
@pytest.mark.parametrize("decoder", [decode_checkin, decode_event])
def test_a_hostile_body_is_a_dead_letter_with_a_bounded_reason(name, decoder):
    with pytest.raises(DeadLetter) as caught:
        decoder(_record(BODIES[name], _ENVELOPE if decoder is decode_event else ()))
    letter = caught.value
    assert letter.code in {"invalid_checkin", "invalid_json", "invalid_event"}
    assert 0 < len(letter.detail) < 1000


def test_nesting_is_named_as_such():
    with pytest.raises(DeadLetter) as caught:
        decode_event(_record(BODIES["arrays nested 100,000 deep"], _ENVELOPE))
    assert (caught.value.code, "depth limit exceeded" in caught.value.detail) == ("invalid_json", True)


def test_the_detail_names_the_first_errors_and_counts_the_rest():
    with pytest.raises(ValidationError) as caught:
        catalogue.KioskCheckin.model_validate_json(BODIES["an object of 20,000 unknown keys"])
    detail = validation_detail(caught.value)
    assert detail.startswith("checkin_id: Field required; ")
    assert detail.endswith("(20005 errors in all)")
    assert detail.count(";") == 4
