"""after_commit takes sync and async callbacks (shared/db/uow.py).

Seen in the activities log during the session-5 CI run: `resident.erased` registers
`lambda: caches.residents.pop(id, None)`, a sync callback that returns the popped ResidentInfo; the
unit of work awaited any non-None result, so every erasure batch failed after its commit with
"object ResidentInfo can't be used in 'await' expression" and was applied again one event at a time."""

from __future__ import annotations

from shared.db.uow import UnitOfWork


class _Tx:
    async def start(self) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class _Conn:
    def transaction(self) -> _Tx:
        return _Tx()


class _Pool:
    async def acquire(self) -> _Conn:
        return _Conn()

    async def release(self, conn: _Conn) -> None: ...


async def test_a_sync_callback_that_returns_a_value_runs_and_an_async_one_is_awaited():
    ran: list[str] = []
    cache = {"r1": object()}

    async def wake() -> None:
        ran.append("async")

    async with UnitOfWork(_Pool()) as uow:  # type: ignore[arg-type]
        uow.after_commit(lambda: cache.pop("r1", None))  # returns the popped entry: not awaitable
        uow.after_commit(lambda: ran.append("sync"))
        uow.after_commit(wake)
        await uow.commit()
    assert cache == {} and ran == ["sync", "async"]
