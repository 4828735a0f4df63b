"""The district's handler: each street's `IndexUpdated`, kept per (street, community) when newer
than the one kept (domain/district.py `supersedes`, adapters/district.py `UPSERT`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.scoring.adapters import district as district_store
from services.scoring.domain.district import MAX_CLOCK_SKEW, ahead_of_clock
from shared.bus.decoding import DeadLetter, Incoming
from shared.db.uow import UnitOfWork
from shared.events.catalogue import IndexUpdated


@dataclass(frozen=True)
class DistrictDeps:
    """What the district handler finds in `uow.deps`: the street each index topic belongs to, how far
    ahead of the district's clock an update may be dated (SCORING_DISTRICT_MAX_CLOCK_SKEW_S), the clock."""

    street_of_topic: dict[str, str] = field(default_factory=dict)
    max_clock_skew: timedelta = MAX_CLOCK_SKEW
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


async def on_index_updated(uow: UnitOfWork, event: IndexUpdated, meta: Incoming) -> None:
    street = uow.deps.street_of_topic.get(meta.topic)
    if street is None:  # only the configured topics are consumed; a record elsewhere is not ours
        raise DeadLetter("unknown_street", f"topic {meta.topic!r} is no street's index in SCORING_DISTRICT_STREETS")
    if event.computed_at.tzinfo is None:
        raise DeadLetter("invalid_event", "computed_at carries no time zone")
    now = uow.deps.now()
    ahead = ahead_of_clock(event.computed_at, now, uow.deps.max_clock_skew)
    if ahead is not None:  # kept, it would pin the row until the street's clock caught up with it
        raise DeadLetter(
            "computed_at_in_future",
            f"{street} {event.community_id}: computed_at {event.computed_at.isoformat()} is "
            f"{ahead.total_seconds():.0f} s ahead of the district's clock ({now.isoformat()}); at most "
            f"{uow.deps.max_clock_skew.total_seconds():.0f} s (SCORING_DISTRICT_MAX_CLOCK_SKEW_S) is taken",
        )
    await district_store.upsert(
        uow.conn, street, event.community_id, event.total, dict(event.aspects), event.computed_at
    )
