"""The district's handler: each street's `IndexUpdated`, kept per (street, community) when newer
than the one kept (domain/district.py `supersedes`, adapters/district.py `UPSERT`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.scoring.adapters import district as district_store
from shared.bus.decoding import DeadLetter, Incoming
from shared.db.uow import UnitOfWork
from shared.events.catalogue import IndexUpdated


@dataclass(frozen=True)
class DistrictDeps:
    """What the district handler finds in `uow.deps`: the street each index topic belongs to."""

    street_of_topic: dict[str, str] = field(default_factory=dict)


async def on_index_updated(uow: UnitOfWork, event: IndexUpdated, meta: Incoming) -> None:
    street = uow.deps.street_of_topic.get(meta.topic)
    if street is None:  # only the configured topics are consumed; a record elsewhere is not ours
        raise DeadLetter("unknown_street", f"topic {meta.topic!r} is no street's index in SCORING_DISTRICT_STREETS")
    if event.computed_at.tzinfo is None:
        raise DeadLetter("invalid_event", "computed_at carries no time zone")
    await district_store.upsert(
        uow.conn, street, event.community_id, event.total, dict(event.aspects), event.computed_at
    )
