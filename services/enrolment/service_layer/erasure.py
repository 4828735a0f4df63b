"""Erasing a resident on an operator's request (docs/decisions/0010-erasure.md): enrolment, the
registry owner, erases its own rows, tombstones the resident's key on the compacted
`enrolment.contacts` and `enrolment.resident-cards` (compaction then drops their contact data and
card from Kafka) and publishes
`resident.erased`, on which every other service erases its rows, all in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from services.enrolment.adapters import privacy
from services.enrolment.service_layer import handlers
from services.enrolment.service_layer.handlers import SOURCE
from shared.bus.decoding import Incoming
from shared.db import erasure
from shared.db.erasure import ErasedCards
from shared.db.uow import UnitOfWork
from shared.events import topics
from shared.events.catalogue import ErasureCompleted, ResidentErased
from shared.events.envelope import envelop
from shared.http.errors import Invalid, NotFound

UowFactory = Callable[[], UnitOfWork]


async def request_erasure(
    uow_factory: UowFactory,
    resident_id: str,
    *,
    reason: str,
    requested_by: str,
    approved_by: str,
    correlation_id: str | None = None,
    erased_cards: ErasedCards | None = None,
) -> dict[str, Any]:
    # Two people: an erasure cannot be undone, so one operator alone may not decide it.
    if approved_by == requested_by:
        raise Invalid("an erasure needs a second operator's approval / 删除须由另一名工作人员批准", field="approved_by")
    request_id = uuid.uuid4()
    async with uow_factory() as uow:
        locked = await uow.conn.fetchrow(
            "SELECT card_number FROM residents WHERE resident_id = $1 FOR UPDATE", resident_id
        )
        if locked is None:
            raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
        # Waiting enrolments go first (the residents behind move up, none is promoted in their
        # place later); confirmed seats stay, under the pseudonym, as the sessions' counts.
        waiting = await handlers.cancel_waiting_of(uow, resident_id, handlers.ERASED_REASON)
        rows = await privacy.erase(uow.conn, resident_id, request_id, erased_cards)
        await uow.conn.execute(
            "INSERT INTO erasure_log(request_id, reason, requested_by, approved_by, erased_rows)"
            " VALUES ($1, $2, $3, $4, $5)",
            request_id, reason, requested_by, approved_by, rows or 0,
        )  # fmt: skip
        await _tombstone(uow, topics.CONTACTS.name, resident_id)
        if locked["card_number"] is not None:
            # the card goes from activities' kiosk map; registered again, it is refused like the id
            await _tombstone(uow, topics.RESIDENT_CARDS.name, resident_id)
            if erased_cards is not None:
                await erased_cards.remember(uow.conn, locked["card_number"], request_id)
        for cancelled in waiting:
            # told under the enrolment's resident as it now is: the pseudonym, not the card
            alias = await uow.conn.fetchval(
                "SELECT resident_id FROM enrolments WHERE enrolment_id = $1", cancelled.enrolment_id
            )
            uow.publish(handlers.cancelled_waiting_event(cancelled, alias))
        uow.publish(
            envelop(ResidentErased(resident_id=resident_id, request_id=request_id), source=SOURCE,
                    correlation_id=correlation_id)
        )  # fmt: skip
        # enrolment's own completion: recorded at once, and announced like every service's
        done = await erasure.completion(uow.conn, "enrolment", request_id, source=SOURCE, correlation_id=correlation_id)
        await record_completion(uow, done.data)
        uow.publish(done)
        await uow.commit()
    return await erasure_status(uow_factory, request_id)


async def record_completion(uow: UnitOfWork, event: ErasureCompleted, meta: Incoming | None = None) -> None:
    """A service's `resident.erasure_completed` (privacy.erasures): kept for the request's status."""
    await uow.conn.execute(
        "INSERT INTO erasure_completions(request_id, service, erased_rows, completed_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        event.request_id, event.service, event.rows, event.completed_at,
    )  # fmt: skip


async def _tombstone(uow: UnitOfWork, topic: str, resident_id: str) -> None:
    # A null value under the key the topic's event uses (resident_id): compaction keeps only the
    # tombstone, then drops it too. The outbox row has no payload; the relay sends it as null. Its
    # ce_id lets notify recognise a redelivery; no ce_type: it is no event, just "no contact".
    # An object, not JSON text: the pool's jsonb codec encodes it (text would be stored as a JSON
    # string, which the relay cannot send, and the outbox would stall behind it).
    headers = {"ce_id": str(uuid.uuid4()), "ce_source": SOURCE}
    await uow.conn.execute(
        "INSERT INTO outbox(event_id, topic, key, headers, payload) VALUES ($1, $2, $3, $4, NULL)",
        uuid.uuid4(), topic, resident_id.encode(), headers,
    )  # fmt: skip


async def erasure_status(uow_factory: UowFactory, request_id: uuid.UUID) -> dict[str, Any]:
    """The request (who asked, who approved, why) with each service's completion as announced on
    privacy.erasures: complete once all four services have erased."""
    async with uow_factory() as uow:
        row = await uow.conn.fetchrow("SELECT * FROM erasure_log WHERE request_id = $1", request_id)
        done = await uow.conn.fetch(
            "SELECT service, erased_rows, completed_at FROM erasure_completions WHERE request_id = $1 ORDER BY service",
            request_id,
        )
    if row is None:
        raise NotFound(f"no erasure request {request_id}", field="request_id")
    services = {d["service"]: {"erased_at": d["completed_at"], "erased_rows": d["erased_rows"]} for d in done}
    pending = [s for s in topics.SERVICES if s not in services]
    return {**dict(row), "services": services, "complete": not pending, "pending": pending}
