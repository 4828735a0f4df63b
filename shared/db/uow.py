"""Unit of work: one PostgreSQL transaction holding a state change, the events it implies
(outbox) and the ids of the events it consumed (inbox). Nothing is visible, and nothing is
published, unless the whole transaction commits."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import asyncpg

from shared.events import codec
from shared.events.envelope import Envelope

AfterCommit = Callable[[], Awaitable[None] | None]
BeforeCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """`deps` carries what a service's handlers need besides the database (clock, caches,
    settings); the service's bootstrap sets it on the runtime, which hands it to every unit of work."""

    def __init__(self, pool: asyncpg.Pool, outbox_signal: asyncio.Event | None = None, deps: Any = None) -> None:
        self._pool = pool
        self._outbox_signal = outbox_signal
        self.deps = deps
        # What a batch's handlers collect event by event for one write at commit (`before_commit`),
        # by the name of the module that collects it.
        self.collected: dict[str, Any] = {}
        self._before_commit: list[BeforeCommit] = []
        self._after_commit: list[AfterCommit] = []
        self._conn: asyncpg.Connection | None = None
        self._tx: asyncpg.transaction.Transaction | None = None
        self._committed = False
        self._pending: list[Envelope] = []

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self._pool.acquire()
        self._tx = self._conn.transaction()
        await self._tx.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)
            self._conn = None

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `async with` block")
        return self._conn

    def before_commit(self, callback: BeforeCommit) -> None:
        """Await `callback` in the transaction just before it commits, in registration order. Use
        it to write in one statement what a batch's handlers collected event by event."""
        self._before_commit.append(callback)

    def after_commit(self, callback: AfterCommit) -> None:
        """Run `callback` (sync or async) once the transaction has committed, in registration
        order; never when it rolls back. Use it for effects outside the database (caches, wake-ups)."""
        self._after_commit.append(callback)

    def publish(self, *envelopes: Envelope) -> None:
        """Queue events for the outbox; they are written at commit, in this order."""
        self._pending.extend(envelopes)

    async def claim_many(self, events: Iterable[tuple[uuid.UUID, str]]) -> set[uuid.UUID]:
        """Record consumed events in the inbox; returns the ids not seen before (the others were
        applied already: skip their effects)."""
        ids, types = [], []
        for event_id, event_type in events:
            ids.append(event_id)
            types.append(event_type)
        if not ids:
            return set()
        rows = await self.conn.fetch(
            """INSERT INTO inbox(event_id, event_type) SELECT * FROM unnest($1::uuid[], $2::text[])
               ON CONFLICT DO NOTHING RETURNING event_id""",
            ids,
            types,
        )
        return {r["event_id"] for r in rows}

    async def commit(self) -> None:
        preparing, self._before_commit = self._before_commit, []
        for prepare in preparing:
            await prepare()
        if self._pending:
            event_ids, topics, keys, headers, payloads = zip(*map(codec.outbox_row, self._pending), strict=True)
            await self.conn.execute(
                """INSERT INTO outbox(event_id, topic, key, headers, payload)
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[]::jsonb[], $5::bytea[])""",
                event_ids,
                topics,
                keys,
                headers,
                payloads,
            )
        await self._tx.commit()
        self._committed = True
        if self._pending and self._outbox_signal is not None:
            self._outbox_signal.set()
        self._pending.clear()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            result = callback()
            # a sync callback may return a value (dict.pop does): only an awaitable is awaited
            if inspect.isawaitable(result):
                await result


class UnitOfWorkFactory:
    def __init__(self, pool: asyncpg.Pool, outbox_signal: asyncio.Event | None = None, deps: Any = None) -> None:
        self.pool = pool
        self.outbox_signal = outbox_signal
        self.deps = deps

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.pool, self.outbox_signal, self.deps)
