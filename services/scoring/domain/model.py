"""What scoring knows of a course (H2 moves it to the shared catalogue read model)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CourseRef:
    """What scoring knows of a course, learnt from the activities service's events."""

    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str] = field(default_factory=list)
    cancelled: bool = False
