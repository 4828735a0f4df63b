"""Fetched record batches that survive a header key that is not UTF-8.

Kafka's protocol types a header key as a string, but brokers do not check it and librdkafka
(kcat, Go, C# kiosks) sends whatever bytes it is given. aiokafka decodes header keys as UTF-8
while it parses a fetched batch, inside `getmany()`: one bad key raises there, before faststream
or our handler see anything, and the partition stalls at that record for good (reproduced in
tests/integration/test_poison_records.py; records already drained from other partitions in the
same call are dropped with it). `install()` makes the consumer's fetcher parse batches through
`TolerantMemoryRecords`: valid batches still go through aiokafka's C parser; a batch whose
parsing raises `UnicodeDecodeError` is parsed again by `_LenientBatch`, which gives the bad key
as text with U+FFFD and marks that header's value (`UndecodableHeaderKey`), so that the shared
consumer dead-letters the record (`invalid_header`) and the partition moves on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import _DefaultRecordBatchPy, _DefaultRecordPy
from aiokafka.record.memory_records import _MemoryRecordsPy
from aiokafka.record.util import decode_varint

_MAGIC_OFFSET = _MemoryRecordsPy.MAGIC_OFFSET


class UndecodableHeaderKey(bytes):
    """The value of a header whose key is not UTF-8, carrying the key's bytes. Strict decoding
    fails, as the key did: faststream's batch parser raises, which sends the batch through
    `BatchConsumer._parse`'s fallback, the one place that names and dead-letters such records."""

    raw_key: bytes

    def __new__(cls, value: bytes, raw_key: bytes) -> UndecodableHeaderKey:
        self = super().__new__(cls, value)
        self.raw_key = raw_key
        return self

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        if errors == "strict":
            raise UnicodeDecodeError("utf-8", self.raw_key, 0, len(self.raw_key), "header key is not UTF-8")
        return bytes(self).decode(encoding, errors)


class TolerantMemoryRecords(_MemoryRecordsPy):
    """aiokafka's MemoryRecords (the batches of one fetched partition) whose v2 batches fall back
    to `_LenientBatch` when the C parser cannot decode a header key."""

    def next_batch(self, *args: Any, **kwargs: Any) -> Any:
        raw = self._next_slice
        batch = super().next_batch(*args, **kwargs)
        if batch is None or raw[_MAGIC_OFFSET] < 2:
            return batch
        return _TolerantBatch(batch, raw)


class _TolerantBatch:
    __slots__ = ("_batch", "_raw")

    def __init__(self, batch: Any, raw: memoryview) -> None:
        self._batch = batch
        self._raw = raw

    def __getattr__(self, name: str) -> Any:  # producer_id, is_control_batch, validate_crc, ...
        return getattr(self._batch, name)

    def __next__(self) -> Any:  # the fetcher reads a control record this way
        return next(self._batch)

    def __iter__(self) -> Iterator[Any]:
        last = -1
        try:
            for record in self._batch:
                last = record.offset
                yield record
        except UnicodeDecodeError:
            for record in _LenientBatch(self._raw):
                if record.offset > last:
                    yield record


class _LenientBatch(_DefaultRecordBatchPy):
    """aiokafka's pure-Python batch parser (aiokafka 0.14 `_DefaultRecordBatchPy._read_msg`, Apache
    License 2.0), changed only where it decodes a header key."""

    def _read_msg(self, decode_varint: Any = decode_varint) -> _DefaultRecordPy:
        buffer = self._buffer
        pos = self._pos
        length, pos = decode_varint(buffer, pos)
        start_pos = pos
        _, pos = decode_varint(buffer, pos)  # attributes
        ts_delta, pos = decode_varint(buffer, pos)
        timestamp = (
            self.max_timestamp if self.timestamp_type == self.LOG_APPEND_TIME else self.first_timestamp + ts_delta
        )
        offset_delta, pos = decode_varint(buffer, pos)
        key_len, pos = decode_varint(buffer, pos)
        key = None
        if key_len >= 0:
            key, pos = bytes(buffer[pos : pos + key_len]), pos + key_len
        value_len, pos = decode_varint(buffer, pos)
        value = None
        if value_len >= 0:
            value, pos = bytes(buffer[pos : pos + value_len]), pos + value_len
        header_count, pos = decode_varint(buffer, pos)
        if header_count < 0:
            raise CorruptRecordException(f"Found invalid number of record headers {header_count}")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(header_count):
            h_key_len, pos = decode_varint(buffer, pos)
            if h_key_len < 0:
                raise CorruptRecordException(f"Invalid negative header key size {h_key_len}")
            raw_key, pos = bytes(buffer[pos : pos + h_key_len]), pos + h_key_len
            h_value_len, pos = decode_varint(buffer, pos)
            h_value = None
            if h_value_len >= 0:
                h_value, pos = bytes(buffer[pos : pos + h_value_len]), pos + h_value_len
            try:
                headers.append((raw_key.decode("utf-8"), h_value))
            except UnicodeDecodeError:
                headers.append((raw_key.decode("utf-8", "replace"), UndecodableHeaderKey(h_value or b"", raw_key)))
        if pos - start_pos != length:
            raise CorruptRecordException(f"Invalid record size: expected {length} bytes, read {pos - start_pos}")
        self._pos = pos
        return _DefaultRecordPy(self.base_offset + offset_delta, timestamp, self.timestamp_type, key, value, headers)


def install() -> None:
    """Make every aiokafka consumer of this process parse fetched batches tolerantly."""
    fetcher.MemoryRecords = TolerantMemoryRecords
