"""Routing consumed events to a service's handlers, inside one unit of work per batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from pydantic import BaseModel

from shared import metrics
from shared.bus.consumer import BatchHandler
from shared.bus.decoding import Incoming
from shared.db.uow import UnitOfWork

EventHandler = Callable[[UnitOfWork, BaseModel, Incoming], Awaitable[None]]


def batch_dispatcher(
    uow_factory: Callable[[], UnitOfWork], handlers: Mapping[type[BaseModel], EventHandler]
) -> BatchHandler:
    """A batch handler that applies each not-yet-seen event through its handler, all in one
    transaction with the inbox rows. Event types the service does not handle are skipped."""
    by_type = {cls.type_name: handler for cls, handler in handlers.items()}  # type: ignore[attr-defined]

    async def handle(events: list[Incoming]) -> None:
        relevant = [e for e in events if e.type_name in by_type]
        if not relevant:
            return
        outcomes: list[tuple[str, str]] = []
        async with uow_factory() as uow:
            fresh = await uow.claim_many((e.event_id, e.type_name) for e in relevant)
            for event in relevant:
                if event.event_id not in fresh:
                    outcomes.append((event.type_name, "duplicate"))
                    continue
                fresh.discard(event.event_id)  # the same id twice in one batch applies once
                await by_type[event.type_name](uow, event.data, event)
                outcomes.append((event.type_name, "applied"))
            await uow.commit()
        for type_name, outcome in outcomes:
            metrics.EVENTS_APPLIED.labels(type_name, outcome).inc()

    return handle
