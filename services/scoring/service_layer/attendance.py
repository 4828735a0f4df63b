"""The scoring hot path: attendance.recorded and .adjusted applied a batch at a time as multi-row
upserts of the aggregates (the dispatcher's `BatchProjector`, see shared/bus/dispatch.py).

Idempotent by the stored offsets (`services.scoring.adapters.offsets`): the dispatcher hands it
only records past them, in the same transaction that stores the new ones.
"""

from __future__ import annotations

import asyncio
import logging

from services.scoring.adapters import privacy
from services.scoring.domain.periods import PeriodRules
from services.scoring.service_layer import handlers
from shared import metrics
from shared.bus.decoding import DeadLetter, Incoming
from shared.db.erasure import ErasedCards
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev

log = logging.getLogger(__name__)
LABEL = "scoring.batch"
ATTENDANCE_TYPES = frozenset({ev.AttendanceRecorded.type_name, ev.AttendanceAdjusted.type_name})


def check_attendance(event: Incoming) -> None:
    """Attendance the index can never count is a dead letter (the rebuild skips it the same way)."""
    data = event.data
    if event.type_name in ATTENDANCE_TYPES and data.minutes < 0:
        raise DeadLetter("invalid_minutes", f"attendance {data.attendance_id} has negative minutes {data.minutes}")


class AttendanceProjector:
    event_types = ATTENDANCE_TYPES
    lock: asyncio.Lock | None = None  # the projection lock is PostgreSQL's, taken with the offsets

    def __init__(self, periods: PeriodRules | None = None, erased_cards: ErasedCards | None = None) -> None:
        # When each period closes for late data: the indicator file's, the default without one.
        self.periods = periods or PeriodRules()
        # The keyed hashes of erased cards (live and rebuild alike): their late attendance is dropped.
        self.erased_cards = erased_cards

    async def project(self, uow: UnitOfWork, events: list[Incoming]) -> None:
        for event in events:
            check_attendance(event)
        events = await without_erased_cards(uow, self.erased_cards, events)
        await handlers.apply_attendance(uow, events, self.periods)


async def without_erased_cards(uow: UnitOfWork, cards: ErasedCards | None, events: list[Incoming]) -> list[Incoming]:
    """Attendance of an erased card that arrived after its erasure (in flight, redelivered) is not
    applied: it would write the resident's rows again under the card number (ADR 10, amendment).
    "After" is by offset: past the last attendance offset scoring had applied when it erased (an
    attendance of the erasure's own batch was applied, then pseudonymised), so a rebuild, reading
    the same table, drops exactly what the live projection dropped."""
    if cards is None or not events:
        return events
    erased = await privacy.erased_attendance_offsets(uow.conn, cards, {e.data.resident_id for e in events})
    if not erased:
        return events
    kept = [
        e
        for e in events
        if e.data.resident_id not in erased
        or e.record.offset <= erased[e.data.resident_id].get(str(e.record.partition), -1)
    ]
    if len(kept) < len(events):
        metrics.EVENTS_APPLIED.labels(LABEL, "erased_card").inc(len(events) - len(kept))
        log.info("%d attendance events of erased residents not applied", len(events) - len(kept))
    return kept
