"""The one way a service applies consumed events (the handler contract of the service kit).

Every service lists what it does with each event type in ONE table, in
`services/<name>/entrypoints/consumers.py`:

    HANDLERS: Handlers = {CourseCreated: handlers.on_course_created, ...}

A handler is a plain async function of (unit of work, event data, meta):

    async def on_course_created(uow: UnitOfWork, event: CourseCreated, meta: Incoming) -> None

It runs inside the batch's transaction; what it needs besides the database (a clock, caches,
settings) it finds in `uow.deps`, which the service's `bootstrap.py` sets; effects that must wait
for the commit (updating an in-memory cache, waking a worker) it registers with
`uow.after_commit(callback)`; handlers that write a burst of events in one statement collect them
in `uow.collected` and register the write with `uow.before_commit(callback)` (activities'
residents and seats). No
closure factories or handler classes: the table says it all.

Hot paths (check-ins in activities, attendance in scoring) apply a whole batch with set-based
SQL instead of event by event: they implement `BatchProjector`, and the same `Dispatcher` drives
them in the same unit of work as the table's handlers. A read model that wants to know when a
batch changed it passes `on_applied(topics)` (scoring's index engine); it runs after the commit.

Exactly once: events for the table's handlers are claimed in the `inbox` table in the same
transaction as their effect (a redelivered event is skipped); a projector is idempotent by its
own ledger (activities: the check-in ledger; scoring: its per-partition stored offsets, see
`OffsetStore`). Records below the group's mark (`marks`, the offset it had committed when the
retention task last looked) were applied before and are skipped, so inbox and ledger rows pruned
below the mark are never needed again (shared/db/retention.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from shared import metrics
from shared.bus.decoding import Incoming
from shared.db.uow import UnitOfWork
from shared.logs import event_context

Handler = Callable[[UnitOfWork, Any, Incoming], Awaitable[None]]
Handlers = Mapping[type, Handler]  # {EventData subclass: handler}


class BatchProjector(Protocol):
    """A hot path that applies a batch of its event types in one set-based step.

    `project` runs inside the dispatcher's unit of work (and, when `lock` is set, under that lock,
    which the dispatcher holds until the commit and its after-commit callbacks are done). It must
    be idempotent by itself: redelivered events reach it again."""

    event_types: frozenset[str]
    lock: asyncio.Lock | None

    async def project(self, uow: UnitOfWork, events: list[Incoming]) -> None: ...


class Marks(Protocol):
    """Per partition, the offset below which every record was applied (or dead-lettered)."""

    async def read(self, conn: Any, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]: ...


class OffsetStore(Protocol):
    """Offsets stored with the results: records at or below a partition's stored offset were
    applied before and are skipped; the batch's new offsets are stored in the same transaction."""

    async def applied(self, uow: UnitOfWork, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]: ...

    async def store(self, uow: UnitOfWork, offsets: dict[tuple[str, int], int]) -> None: ...


class Dispatcher:
    """The batch handler the shared consumer (`shared.bus.consumer.BatchConsumer`) drives: one unit
    of work per batch, the projector's events to the projector, every other known event to its
    handler in the table, everything else skipped (a topic carries more types than one service
    needs)."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        handlers: Handlers,
        *,
        projector: BatchProjector | None = None,
        offsets: OffsetStore | None = None,
        on_applied: Callable[[set[str]], None] | None = None,
        label: str | None = None,
        marks: Marks | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.marks = marks
        self.by_type: dict[str, Handler] = {cls.type_name: handler for cls, handler in handlers.items()}
        self.projector = projector
        self.offsets = offsets
        # After a commit that applied something: the topics it applied events of (a read model's
        # refresher wakes on it); an after-commit callback like any other.
        self.on_applied = on_applied
        self.label = label  # metric label for projector batches (one per event type is too many)
        self.projected_types = projector.event_types if projector is not None else frozenset()
        self.known_types = self.projected_types | self.by_type.keys()

    async def __call__(self, events: list[Incoming]) -> None:
        known = self.known_types  # a hot path's batch has thousands of events: no call per event
        relevant = [e for e in events if e.type_name in known]
        if not relevant and self.offsets is None:
            return
        lock = self.projector.lock if self.projector is not None else None
        if lock is None:
            await self._apply(events, relevant)
        else:
            async with lock:
                await self._apply(events, relevant)

    async def _apply(self, events: list[Incoming], relevant: list[Incoming]) -> None:
        outcomes: list[tuple[str, str, int]] = []
        async with self.uow_factory() as uow:
            if self.offsets is not None:
                done = await self.offsets.applied(uow, {(e.topic, e.record.partition) for e in events})
                todo = [e for e in relevant if e.record.offset > done.get((e.topic, e.record.partition), -1)]
                skipped = len(relevant) - len(todo)
                if skipped:
                    outcomes.append((self.label or "batch", "duplicate", skipped))
            elif self.marks is not None and relevant:
                below = await self.marks.read(uow.conn, {(e.topic, e.record.partition) for e in relevant})
                todo = [e for e in relevant if e.record.offset >= below.get((e.topic, e.record.partition), 0)]
                if len(todo) < len(relevant):
                    outcomes.append((self.label or "batch", "duplicate", len(relevant) - len(todo)))
            else:
                todo = relevant
            applied_topics: set[str] = set()
            projected_types = self.projected_types
            projected = [e for e in todo if e.type_name in projected_types]
            if projected:
                await self.projector.project(uow, projected)
                outcomes.append((self.label or "batch", "applied", len(projected)))
                if self.on_applied is not None:
                    applied_topics.update({e.record.topic for e in projected})
            table = [e for e in todo if e.type_name in self.by_type]
            if table:
                fresh = await uow.claim_many((e.event_id, e.type_name) for e in table)
                for event in table:
                    if event.event_id not in fresh:
                        outcomes.append((event.type_name, "duplicate", 1))
                        continue
                    fresh.discard(event.event_id)  # the same id twice in one batch applies once
                    with event_context(event.event_id, event.correlation_id):
                        await self.by_type[event.type_name](uow, event.data, event)
                    outcomes.append((event.type_name, "applied", 1))
                    applied_topics.add(event.topic)
            if self.offsets is not None:
                latest: dict[tuple[str, int], int] = {}
                for e in events:
                    key = (e.topic, e.record.partition)
                    latest[key] = max(latest.get(key, -1), e.record.offset)
                await self.offsets.store(uow, latest)
            if applied_topics and self.on_applied is not None:
                on_applied = self.on_applied
                uow.after_commit(lambda: on_applied(applied_topics))
            await uow.commit()
        for type_name, outcome, n in outcomes:
            metrics.EVENTS_APPLIED.labels(type_name, outcome).inc(n)
