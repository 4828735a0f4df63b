"""Which events the scoring service consumes, and what applies each: the `HANDLERS` table for the
low-volume topics, the attendance projector for the hot path (see shared/bus/dispatch.py).

Every topic goes through one consumer and one dispatcher: per batch ONE transaction that skips
records at or below the offsets stored in `consumer_offsets` (`StoredOffsets`), applies the rest
(attendance as multi-row upserts of aggregates, the other events one by one with inbox dedup),
and stores the new offsets in the same transaction. A crash between the database commit and the
Kafka offset commit therefore neither loses nor doubles anything, and the rebuild
(services/scoring/cli.py) reuses the same dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable

from services.scoring.adapters.offsets import StoredOffsets
from services.scoring.domain.periods import PeriodRules
from services.scoring.service_layer import handlers
from services.scoring.service_layer.attendance import AttendanceProjector
from shared.bus.dispatch import Dispatcher, Handlers
from shared.catalogue import projection as catalogue
from shared.db.erasure import ErasedCards
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev
from shared.events import topics
from shared.runtime import Runtime

TOPICS = (
    topics.ATTENDANCE.name, topics.CATALOGUE.name, topics.RESIDENTS.name, topics.ENROLMENTS.name, topics.NEEDS.name
)  # fmt: skip
HANDLERS: Handlers = {
    **catalogue.HANDLERS,  # the shared catalogue read model, to which scoring adds nothing
    ev.ResidentRegistered: handlers.on_resident,
    ev.ResidentUpdated: handlers.on_resident,
    ev.ResidentErased: handlers.on_resident_erased,
    ev.EnrolmentConfirmed: handlers.on_enrolment,
    ev.EnrolmentPromoted: handlers.on_enrolment,
    ev.EnrolmentWaitlisted: handlers.on_enrolment,
    ev.EnrolmentCancelled: handlers.on_enrolment,
    ev.NeedVoted: handlers.on_need,
    ev.NeedVotedV1: handlers.on_need,  # the history before v2, which a rebuild replays
    ev.SessionRated: handlers.on_session_rated,
}
LABEL = "scoring.batch"  # metric label of attendance batches and of records skipped by offset


def register(runtime: Runtime, on_applied: Callable[[set[str]], None], periods: PeriodRules | None = None) -> None:
    """`on_applied`: the index engine's notice of the topics a committed batch changed; `periods`:
    the indicator file's period close (late attendance)."""
    runtime.consume(
        *TOPICS,
        handlers=HANDLERS,
        projector=AttendanceProjector(periods, getattr(runtime.deps, "erased_cards", None)),
        offsets=StoredOffsets(),
        on_applied=on_applied,
        label=LABEL,
        description="Attendance, catalogue, residents, enrolments, needs and satisfaction ratings: the inputs "
        "of the learning index.",
    )


def rebuild_dispatcher(
    uow_factory: Callable[[], UnitOfWork],
    periods: PeriodRules | None = None,
    erased_cards: ErasedCards | None = None,
    erasures: handlers.ReplayedErasures | None = None,
) -> Dispatcher:
    """The live dispatcher, for the rebuild's replay into its shadow tables: without the projection
    lock (the rebuild holds it exclusively at the end) and with no index engine to notify; with the
    erased cards, so that it drops the late attendance the live projection dropped; its erasures
    collected in `erasures`, for the rebuild to apply when the replay is done."""
    projector = AttendanceProjector(periods, erased_cards)
    replay = {**HANDLERS, ev.ResidentErased: (erasures or handlers.ReplayedErasures()).on_resident_erased}
    return Dispatcher(uow_factory, replay, projector=projector, offsets=StoredOffsets(shared_lock=False), label=LABEL)
