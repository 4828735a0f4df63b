"""The consumer's names for the decoding side of the event codec (shared/events/codec.py): what
handlers raise (`DeadLetter`), what they receive (`Incoming`), and the decoder of the catalogue's
events every consumer uses unless it is given another."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from shared.events import catalogue, codec
from shared.events.codec import MAX_RECORD_BYTES, DeadLetter, Incoming, validation_detail

__all__ = ["MAX_RECORD_BYTES", "DeadLetter", "Incoming", "decode_event", "validation_detail"]


def decode_event(record: ConsumerRecord) -> Incoming:
    return codec.decode(record, catalogue.BY_TYPE_NAME.get)
