"""An erased resident's scans leave kiosk.checkins too (ADR 10, issue 17).

kiosk.checkins is activities' input queue: kiosks send card numbers (their public contract), and
the topic kept every scan for its retention (7 days) after activities had turned it into
attendance. A record cannot be deleted from the middle of a partition, but Kafka deletes the start
of one (DeleteRecords), and everything below activities' committed offset is already attendance:
the check-in ledger commits before the offset does. So after an erasure, activities deletes what
it has consumed of kiosk.checkins, every partition (a buggy kiosk may key a card anywhere).

Every scan sent before the erasure must be consumed first, or it would stay above the cut: the end
offsets seen once the erasure committed are stored with the request (`kiosk_trims`), and the
request is done when the committed offsets have reached them and the records below were deleted.
Scans of the card that arrive after that are new scans of an unknown card.

What it costs: the consumed scans of everyone go, not only the resident's. Nothing reads them
(activities is the topic's one consumer and keeps its own ledger); what is lost is the window in
which an offset reset to earliest replays scans (docs/retention.md), for a few erasures a month.
The dead letters of kiosk.checkins are not cut: they wait for an operator (30 days).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from prometheus_client import Counter, Gauge

from shared.db.retention import KafkaOffsets
from shared.periodic import Periodic

Partition = tuple[str, int]
# (end offsets, committed offsets) of a group's partitions of some topics (shared/db/retention.py)
OffsetsReader = Callable[[str, list[str]], Awaitable[tuple[dict[Partition, int], dict[Partition, int]]]]
Deleter = Callable[[Mapping[Partition, int]], Awaitable[None]]

AWAITING = Gauge(
    "learnstreet_activities_erasures_awaiting_kiosk_trim",
    "Erasure requests whose resident's scans may still be on kiosk.checkins.",
)
TRIMS = Counter(
    "learnstreet_activities_kiosk_trims_total",
    "Times kiosk.checkins was cut at the group's committed offsets for an erasure.",
)


def encode(offsets: Mapping[Partition, int]) -> dict[str, int]:
    """Per partition number (a JSON object's keys are strings); the pool's codec writes it as jsonb."""
    return {str(p): o for (_, p), o in sorted(offsets.items())}


def decode(topic: str, text: str | dict) -> dict[Partition, int]:
    values = json.loads(text) if isinstance(text, str) else text
    return {(topic, int(p)): int(o) for p, o in values.items()}


def reached(ends: Mapping[Partition, int], committed: Mapping[Partition, int]) -> bool:
    """Every scan below `ends` consumed: committed at or past each end (an empty partition, end 0,
    needs nothing)."""
    return all(committed.get(tp, 0) >= end for tp, end in ends.items())


def cut(committed: Mapping[Partition, int]) -> dict[Partition, int]:
    """Where each partition is cut: at the committed offset, where anything was committed."""
    return {tp: offset for tp, offset in committed.items() if offset > 0}


class KioskTrim:
    """The background task: looks at pending requests every `every_s`, and at once when woken
    after an erasure commits. Any instance may do it: cutting twice at the same offsets changes
    nothing, and each request is marked done once."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        *,
        topic: str,
        group_id: str,
        offsets: OffsetsReader,
        delete: Deleter,
        every_s: float = 30.0,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._pool = pool
        self.topic = topic
        self.group_id = group_id
        self._offsets = offsets
        self._delete = delete
        self._rounds = Periodic("activities-kiosk-trim", self.tick, every_s, wake=wake)

    @classmethod
    def for_settings(
        cls,
        settings: Any,
        pool: Callable[[], asyncpg.Pool],
        *,
        topic: str,
        group_id: str,
        every_s: float = 30.0,
        wake: asyncio.Event | None = None,
    ) -> KioskTrim:
        kafka = settings.kafka_client_kwargs()

        async def delete(before: Mapping[Partition, int]) -> None:
            admin = AIOKafkaAdminClient(**kafka)
            await admin.start()
            try:
                await admin.delete_records({TopicPartition(t, p): RecordsToDelete(o) for (t, p), o in before.items()})
            finally:
                await admin.close()

        return cls(
            pool, topic=topic, group_id=group_id, offsets=KafkaOffsets(settings), delete=delete, every_s=every_s,
            wake=wake,
        )  # fmt: skip

    def start(self) -> None:
        self._rounds.start()

    async def stop(self) -> None:
        await self._rounds.stop()

    async def tick(self) -> list[UUID]:
        """One round: the requests completed by it."""
        async with self._pool().acquire() as conn:
            pending = await conn.fetch(
                "SELECT request_id, kiosk_ends FROM kiosk_trims WHERE trimmed_at IS NULL ORDER BY requested_at"
            )
            AWAITING.set(len(pending))
            if not pending:
                return []
            ends, committed = await self._offsets(self.group_id, [self.topic])
            fresh = [r["request_id"] for r in pending if r["kiosk_ends"] is None]
            if fresh:  # seen for the first time: what the kiosks had sent by now must go
                await conn.execute(
                    """UPDATE kiosk_trims SET kiosk_ends = $2::jsonb
                       WHERE request_id = ANY($1::uuid[]) AND kiosk_ends IS NULL""",
                    fresh,
                    encode(ends),
                )
            waiting = {
                r["request_id"]: decode(self.topic, r["kiosk_ends"]) if r["kiosk_ends"] is not None else ends
                for r in pending
            }
            before = cut(committed)
            if before:
                await self._delete(before)
                TRIMS.inc()
            done = [request for request, need in waiting.items() if reached(need, committed)]
            if done:
                await conn.execute(
                    """UPDATE kiosk_trims SET trimmed_at = now(), trimmed_to = $2::jsonb
                       WHERE request_id = ANY($1::uuid[]) AND trimmed_at IS NULL""",
                    done,
                    encode(before),
                )
            AWAITING.set(len(pending) - len(done))
            return done


async def request(conn: asyncpg.Connection, request_id: UUID) -> None:
    """In the erasure's transaction: the request's scans are to leave kiosk.checkins."""
    await conn.execute("INSERT INTO kiosk_trims(request_id) VALUES ($1) ON CONFLICT DO NOTHING", request_id)
