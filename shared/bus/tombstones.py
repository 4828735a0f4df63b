"""Tombstones on a compacted topic: a record with a key and a null value means "this key has no
value any more" (enrolment tombstones a resident's contact data on erasure, ADR 10). The shared
decoder dead-letters a null value as an invalid event; a consumer of a compacted topic wraps it
with `decoding_tombstones`, which turns the tombstone into an event its handler table names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import ClassVar

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from shared.bus.decoding import DeadLetter, Incoming, decode_event
from shared.events import codec, topics


class ContactRemoved(BaseModel):
    """A tombstone on enrolment.contacts: the resident's contact data is gone."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.contact.tombstone"
    topic: ClassVar[str] = topics.CONTACTS.name

    resident_id: str


class CardRemoved(BaseModel):
    """A tombstone on enrolment.resident-cards: the resident has no kiosk card any more (erased)."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.card.tombstone"
    topic: ClassVar[str] = topics.RESIDENT_CARDS.name

    resident_id: str


TOMBSTONES: dict[str, type[BaseModel]] = {topics.CONTACTS.name: ContactRemoved, topics.RESIDENT_CARDS.name: CardRemoved}

_NAMESPACE = uuid.UUID("5f0c6d1e-3b0a-4c1e-9a57-7e6b1d7f0b11")


def decode_tombstone(record: ConsumerRecord) -> Incoming | None:
    """The tombstone event of `record`, or None when it is not a tombstone of a known topic."""
    cls = TOMBSTONES.get(record.topic)
    if cls is None or record.value is not None:
        return None
    if not record.key:
        raise DeadLetter("invalid_event", "tombstone without a key")
    headers = codec.record_headers(record)
    try:
        event_id = uuid.UUID(headers.get("ce_id", ""))
    except ValueError:
        # The same record redelivered gets the same id: the inbox applies it once.
        event_id = uuid.uuid5(_NAMESPACE, f"{record.topic}/{record.partition}/{record.offset}")
    resident_id = record.key.decode("utf-8", errors="replace")
    return Incoming(event_id=event_id, type_name=cls.type_name, data=cls(resident_id=resident_id), record=record,
                    headers=headers)  # fmt: skip


def decoding_tombstones(decoder: Callable[[ConsumerRecord], Incoming] = decode_event) -> Callable:
    def decode(record: ConsumerRecord) -> Incoming:
        return decode_tombstone(record) or decoder(record)

    return decode
