"""A tombstone (null value) on the compacted enrolment.contacts is how enrolment removes an erased
resident's contact data from Kafka (ADR 10). Notify must take it as "contact removed", not
dead-letter it as an invalid event (what the shared decoder does with a null value)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.structs import ConsumerRecord

from services.notify.entrypoints import consumers
from shared.bus.decoding import DeadLetter, decode_event
from shared.events import topics


class _Runtime:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def consume(self, *topic_names: str, **kwargs) -> None:
        self.calls.append({"topics": topic_names, **kwargs})


def _record(value: bytes | None, key: bytes | None = b"r-erased-1", headers=(), offset: int = 7) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topics.CONTACTS.name, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=key, value=value,
        checksum=None, serialized_key_size=len(key or b""), serialized_value_size=-1, headers=list(headers),
    )  # fmt: skip


def _notify_decoder():
    runtime = _Runtime()
    consumers.register(runtime)
    [call] = [c for c in runtime.calls if topics.CONTACTS.name in c["topics"]]
    return call.get("decoder", decode_event), call["handlers"]


def test_the_shared_decoder_dead_letters_a_null_value():
    with pytest.raises(DeadLetter):
        decode_event(_record(None, headers=[("ce_id", str(uuid.uuid4()).encode())]))


def test_notify_decodes_a_contacts_tombstone_into_an_event_its_handlers_apply():
    decoder, handlers = _notify_decoder()
    event_id = uuid.uuid4()
    incoming = decoder(_record(None, headers=[("ce_id", str(event_id).encode())]))
    assert incoming.event_id == event_id
    assert incoming.data.resident_id == "r-erased-1"
    assert incoming.type_name in {cls.type_name for cls in handlers}


def test_a_tombstone_without_an_id_gets_the_same_id_on_every_delivery():
    decoder, _ = _notify_decoder()
    first, again, other = decoder(_record(None)), decoder(_record(None)), decoder(_record(None, offset=8))
    assert first.event_id == again.event_id != other.event_id


def test_a_tombstone_without_a_key_is_a_dead_letter():
    decoder, _ = _notify_decoder()
    with pytest.raises(DeadLetter):
        decoder(_record(None, key=None))
