"""Every partition of enrolment.contacts (and of enrolment.resident-cards, the same way) rolls, so
an erased contact (or card) is compacted away (ADR 10).

An erasure tombstones the resident's key on the compacted `enrolment.contacts`; the phone and e-mail
it supersedes stay readable until the log cleaner passes, and the cleaner never touches a
partition's active segment. Kafka rolls a compacted topic's active segment on the first append
after `max.compaction.lag.ms` (a day): on a partition still written to, a day bounds it; on one
nobody writes to, the roll, and so the compaction, would wait for ever.

So enrolment appends, every half of that lag, one tombstone to each partition under a key of its
own (`learnstreet:roll:<n>`, found so that the producer's default partitioner, murmur2 as the Java
client, sends it to partition n): no contact, just an append that lets the roll happen. It goes
through the outbox like the erasure's tombstone; notify takes it as "no contact" for a key no
resident has; compaction removes it like any tombstone. Any replica may append: a second one is
one more tombstone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg
from aiokafka.partitioner import murmur2

from shared.periodic import Periodic

PREFIX = "learnstreet:roll:"


def roll_keys(partitions: int, prefix: str = PREFIX) -> dict[int, bytes]:
    """One key per partition that the default partitioner sends there (murmur2, positive, modulo)."""
    keys: dict[int, bytes] = {}
    n = 0
    while len(keys) < partitions:
        key = f"{prefix}{n}".encode()
        keys.setdefault((murmur2(key) & 0x7FFFFFFF) % partitions, key)
        n += 1
    return dict(sorted(keys.items()))


async def append_roll_tombstones(conn: asyncpg.Connection, topic: str, partitions: int, source: str) -> int:
    """One payload-less outbox row per partition (the relay sends a null value): rows written."""
    rows = [
        (uuid.uuid4(), topic, key, {"ce_id": str(uuid.uuid4()), "ce_source": source})
        for key in roll_keys(partitions).values()
    ]
    await conn.executemany(
        "INSERT INTO outbox(event_id, topic, key, headers, payload) VALUES ($1, $2, $3, $4, NULL)", rows
    )
    return len(rows)


class ContactsRoll:
    """The background task: the tombstones every `every_s`, the first after one interval."""

    def __init__(
        self, pool: Callable[[], asyncpg.Pool], *, topic: str, partitions: int, source: str, every_s: float,
        wake_relay: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        self._pool, self.topic, self.partitions, self.source = pool, topic, partitions, source
        self._wake_relay = wake_relay
        self._rounds = Periodic(f"enrolment-roll-{topic}", self.once, every_s, first_after_s=every_s)

    def start(self) -> None:
        self._rounds.start()

    async def stop(self) -> None:
        await self._rounds.stop()

    async def once(self) -> int:
        async with self._pool().acquire() as conn:
            written = await append_roll_tombstones(conn, self.topic, self.partitions, self.source)
        self._wake_relay()
        return written
