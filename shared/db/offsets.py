"""Offsets stored with the results they produced: a table of (topic, partition) -> offset that a
projection writes in the same transaction as its effects (the dispatcher's `OffsetStore`, see
shared/bus/dispatch.py). Scoring's projections and enrolment's passports each keep one.

With several instances, a partition's batch may be in flight on the old owner while the new owner
applies it (a rebalance): `lock` makes the second wait for the first and then read what it stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class OffsetTable:
    table: str  # unqualified: a rebuild points the search_path at its shadow copy
    offset_column: str

    async def lock(self, conn: asyncpg.Connection, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The stored offsets of `partitions`, their rows locked until the transaction ends. A
        partition never seen gets its row first (offset -1, nothing applied), so there is a row to
        lock; rows are inserted and locked in (topic, partition) order, so two instances with
        overlapping batches take them in one order and never deadlock."""
        keys = sorted(set(partitions))
        if not keys:
            return {}
        topics, numbers = [k[0] for k in keys], [k[1] for k in keys]
        t, o = self.table, self.offset_column
        await conn.execute(
            f"""INSERT INTO {t}(topic, "partition", "{o}")
                SELECT tp, p, -1 FROM unnest($1::text[], $2::int[]) AS k(tp, p) ORDER BY tp, p
                ON CONFLICT (topic, "partition") DO NOTHING""",
            topics, numbers,
        )  # fmt: skip
        rows = await conn.fetch(
            f"""SELECT s.topic, s."partition", s."{o}" AS stored FROM {t} s
                JOIN unnest($1::text[], $2::int[]) AS k(tp, p) ON s.topic = k.tp AND s."partition" = k.p
                ORDER BY s.topic, s."partition" FOR UPDATE OF s""",
            topics, numbers,
        )  # fmt: skip
        return {(r["topic"], r["partition"]): r["stored"] for r in rows}

    async def store(self, conn: asyncpg.Connection, offsets: dict[tuple[str, int], int]) -> None:
        """Never moves an offset back (a zombie's late batch stores nothing older)."""
        if not offsets:
            return
        keys = list(offsets)
        t, o = self.table, self.offset_column
        await conn.execute(
            f"""INSERT INTO {t}(topic, "partition", "{o}")
                SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
                ON CONFLICT (topic, "partition") DO UPDATE SET "{o}" = GREATEST({t}."{o}", EXCLUDED."{o}")""",
            [k[0] for k in keys], [k[1] for k in keys], [offsets[k] for k in keys],
        )  # fmt: skip

    async def read(self, conn: asyncpg.Connection, topics: Iterable[str] | None = None) -> dict[tuple[str, int], int]:
        t, o = self.table, self.offset_column
        if topics is None:
            rows = await conn.fetch(f'SELECT topic, "partition", "{o}" AS stored FROM {t}')
        else:
            rows = await conn.fetch(
                f'SELECT topic, "partition", "{o}" AS stored FROM {t} WHERE topic = ANY($1::text[])', list(topics)
            )
        return {(r["topic"], r["partition"]): r["stored"] for r in rows}
