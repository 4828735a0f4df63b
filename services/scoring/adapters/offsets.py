"""The scoring projections' own record of what they have applied: per topic and partition, the
offset of the last record, stored in `consumer_offsets` in the same transaction as the effects
(the dispatcher's `OffsetStore`, see shared/bus/dispatch.py)."""

from __future__ import annotations

from collections.abc import Iterable

from services.scoring.adapters import repository
from shared.db.uow import UnitOfWork


class StoredOffsets:
    """`shared_lock`: every live batch holds the projection lock shared, so the rebuild, which takes
    it exclusively, swaps the tables in between two batches. The rebuild's own replay (into its
    shadow tables, while it may hold the lock exclusively) goes without it."""

    def __init__(self, *, shared_lock: bool = True) -> None:
        self.shared_lock = shared_lock

    async def applied(self, uow: UnitOfWork, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if self.shared_lock:
            await repository.lock_projections_shared(uow.conn)
        return await repository.stored_offsets(uow.conn, {topic for topic, _ in partitions})

    async def store(self, uow: UnitOfWork, offsets: dict[tuple[str, int], int]) -> None:
        await repository.store_offsets(uow.conn, offsets)
