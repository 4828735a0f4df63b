"""Which events the enrolment service consumes, and the handler of each."""

from __future__ import annotations

from collections.abc import Callable

from services.enrolment.service_layer import erasure, handlers
from services.enrolment.service_layer.passport import PassportOffsets, PassportProjector
from shared.bus.dispatch import Dispatcher, Handlers
from shared.catalogue import projection as catalogue
from shared.db.erasure import ErasedCards
from shared.db.uow import UnitOfWork
from shared.events import topics
from shared.events.catalogue import (
    ERASURE_COMPLETED,
    CourseCancelled,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
)
from shared.runtime import Runtime

# The catalogue read model, with enrolment's own reactions where a change affects enrolments.
HANDLERS: Handlers = {
    **catalogue.HANDLERS,
    CourseCancelled: handlers.on_course_cancelled,
    SessionScheduled: handlers.on_session_scheduled,
    SessionChanged: handlers.on_session_scheduled,
    SessionCancelled: handlers.on_session_cancelled,
    # privacy.erasures: each service's completion of an erasure, for the request's status
    **dict.fromkeys(ERASURE_COMPLETED.values(), erasure.record_completion),
}


# The learning passport (docs/decisions/0009-passport.md): attendance and honours, applied
# set-based with the offsets stored in the same transaction, in a group of its own so that its
# lag and its replay never hold up enrolment's reactions to the catalogue.
PASSPORT_TOPICS = (topics.ATTENDANCE.name, topics.HONOURS.name, topics.RESIDENTS.name)
PASSPORT_GROUP = f"{topics.group_id(topics.ENROLMENT)}.passport"
PASSPORT_LABEL = "enrolment.passport"


def register(runtime: Runtime, erased_cards: ErasedCards | None = None) -> None:
    """`erased_cards`: the keyed hashes of erased cards, whose late attendance the passport refuses."""
    runtime.consume(
        topics.CATALOGUE.name,
        topics.ERASURES.name,
        handlers=HANDLERS,
        description="Venues, courses and sessions from the activities service; each service's completion "
        "of a resident's erasure.",
    )
    runtime.consume(
        *PASSPORT_TOPICS,
        projector=PassportProjector(erased_cards, erase_checkpoint=True),
        offsets=PassportOffsets(),
        label=PASSPORT_LABEL,
        group_id=PASSPORT_GROUP,
        description="Attendance and honours: the learning passports of residents (gone on resident.erased).",
    )


def rebuild_dispatcher(uow_factory: Callable[[], UnitOfWork], projector: PassportProjector) -> Dispatcher:
    """The live passport dispatcher, for the rebuild's replay into its shadow tables (without the
    passport lock, which the rebuild holds exclusively at the end)."""
    return Dispatcher(
        uow_factory, {}, projector=projector, offsets=PassportOffsets(shared_lock=False),
        label=PASSPORT_LABEL,
    )  # fmt: skip
