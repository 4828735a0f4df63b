"""Courses and sessions as the consuming services read them (pure data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class CourseRef:
    """A course learnt from CourseCreated/CourseUpdated; a cancellation that arrived first leaves a
    cancelled placeholder with empty titles, which the creation fills in (it stays cancelled)."""

    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str] = field(default_factory=list)
    cancelled: bool = False
    cancel_reason: str = ""
    provider_id: str | None = None
    provider_kind: str | None = None
    community_id: str | None = None


@dataclass(frozen=True)
class SessionRef:
    """A session learnt from SessionScheduled/SessionChanged. `scheduled` is false for a placeholder
    made before the schedule arrived (by a cancellation, or by an event of another topic that
    carried the start); a cancelled session stays cancelled, and so does every session of a
    cancelled course."""

    session_id: str
    course_id: str
    venue_id: str | None
    community_id: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    capacity: int
    elderly_priority_until: datetime | None
    scheduled: bool
    cancelled: bool
