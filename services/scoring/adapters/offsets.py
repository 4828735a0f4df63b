"""The scoring projections' own record of what they have applied: per topic and partition, the
offset of the last record, stored in `consumer_offsets` in the same transaction as the effects
(the dispatcher's `OffsetStore`, see shared/bus/dispatch.py)."""

from __future__ import annotations

from collections.abc import Iterable

from services.scoring.adapters import repository
from shared.db.uow import UnitOfWork


class StoredOffsets:
    """One partition is applied by one instance at a time: the batch's partitions' offset rows are
    locked (`repository.lock_offsets`) before they are read, so during a rebalance the instance that
    gets a partition whose old owner is still applying a batch waits for that batch's commit and
    then skips what it applied (docs/decisions/0007-scoring-replicas.md).

    `shared_lock`: every live batch holds the projection lock shared, so the rebuild, which takes
    it exclusively, swaps the tables in between two batches. It is taken before the row locks, so a
    batch waiting for the rebuild holds no row of the `consumer_offsets` being swapped. The
    rebuild's own replay (into its shadow tables, while it may hold the lock exclusively) goes
    without it."""

    def __init__(self, *, shared_lock: bool = True) -> None:
        self.shared_lock = shared_lock

    async def applied(self, uow: UnitOfWork, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if self.shared_lock:
            await repository.lock_projections_shared(uow.conn)
        return await repository.lock_offsets(uow.conn, partitions)

    async def store(self, uow: UnitOfWork, offsets: dict[tuple[str, int], int]) -> None:
        await repository.store_offsets(uow.conn, offsets)
