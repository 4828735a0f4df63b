"""The scoring hot path: attendance.recorded and .adjusted applied a batch at a time as multi-row
upserts of the aggregates (the dispatcher's `BatchProjector`, see shared/bus/dispatch.py).

Idempotent by the stored offsets (`services.scoring.adapters.offsets`): the dispatcher hands it
only records past them, in the same transaction that stores the new ones.
"""

from __future__ import annotations

import asyncio

from services.scoring.domain.periods import PeriodRules
from services.scoring.service_layer import handlers
from shared.bus.decoding import DeadLetter, Incoming
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev

ATTENDANCE_TYPES = frozenset({ev.AttendanceRecorded.type_name, ev.AttendanceAdjusted.type_name})


def check_attendance(event: Incoming) -> None:
    """Attendance the index can never count is a dead letter (the rebuild skips it the same way)."""
    data = event.data
    if event.type_name in ATTENDANCE_TYPES and data.minutes < 0:
        raise DeadLetter("invalid_minutes", f"attendance {data.attendance_id} has negative minutes {data.minutes}")


class AttendanceProjector:
    event_types = ATTENDANCE_TYPES
    lock: asyncio.Lock | None = None  # the projection lock is PostgreSQL's, taken with the offsets

    def __init__(self, periods: PeriodRules | None = None) -> None:
        # When each period closes for late data: the indicator file's, the default without one.
        self.periods = periods or PeriodRules()

    async def project(self, uow: UnitOfWork, events: list[Incoming]) -> None:
        for event in events:
            check_attendance(event)
        await handlers.apply_attendance(uow, events, self.periods)
