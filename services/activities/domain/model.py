"""The activities domain: venues, courses and sessions, kiosk check-ins. Pure Python, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.events.catalogue import AudienceGroup, ProviderKind


class CourseRuleViolated(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass
class Course:
    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[AudienceGroup] = field(default_factory=list)
    provider_id: str | None = None
    provider_kind: ProviderKind | None = None
    brand: str | None = None
    community_id: str | None = None
    cancelled: bool = False

    def __post_init__(self) -> None:
        if not self.title_zh.strip():
            raise CourseRuleViolated("title_zh", "a course needs a Chinese title")
        if not self.title_en.strip():
            raise CourseRuleViolated("title_en", "a course needs an English title")
        if len(set(self.audiences)) != len(self.audiences):
            raise CourseRuleViolated("audiences", "an audience group is listed twice")
