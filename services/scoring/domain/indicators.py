"""The indicator catalogue: the metrics scoring can compute (with the words for closing a gap in
each), and an indicator set's aspects and leaves with their weights, targets and pass lines.

The numbers and names come from the indicator file (`adapters/indicator_file.py` reads it); the
honour thresholds it also carries are `domain/honours.py`'s `HonourRules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.scoring.domain.honours import HonourRules


@dataclass(frozen=True)
class Metric:
    id: str
    unit: str
    window: str
    numerator: str
    denominator: str
    gap_zh: str  # "{n}" is the amount that would close the gap
    gap_en: str
    lower_is_better: bool = False
    integral: bool = True  # the numerator counts things (gap rounded up to whole ones)


METRICS: dict[str, Metric] = {
    m.id: m
    for m in (
        Metric("participation_rate_4w", "ratio", "28 days", "distinct attendees", "registered residents",
               "4周内再增加 {n} 名不同的参与居民", "{n} more distinct attendees in 4 weeks"),
        Metric("participation_rate_12m", "ratio", "365 days", "distinct attendees", "registered residents",
               "12个月内再增加 {n} 名不同的参与居民", "{n} more distinct attendees in 12 months"),
        Metric("learning_hours_per_resident", "hours", "365 days", "learning hours", "registered residents",
               "再增加 {n} 小时学习时长", "{n} more learning hours", integral=False),
        Metric("audience_coverage", "ratio", "365 days", "audience groups reached", "audience groups (6)",
               "再覆盖 {n} 类人群", "reach {n} more audience groups"),
        Metric("venues_active_share", "ratio", "365 days", "venues with a session held", "registered venues",
               "再激活 {n} 个学习阵地", "{n} more venues holding sessions"),
        Metric("venue_utilisation", "ratio", "365 days", "attendances", "seats of sessions held",
               "再增加 {n} 人次到课", "{n} more attendances in sessions held"),
        Metric("theme_diversity", "ratio", "365 days", "themes of courses held", "reference themes",
               "再开设 {n} 个新主题的课程", "courses on {n} more themes"),
        Metric("sessions_per_1000", "sessions per 1,000 residents", "365 days", "sessions held",
               "population / 1,000", "再开课 {n} 场", "{n} more sessions held"),
        Metric("volunteer_teaching_hours", "hours", "365 days", "attendance hours of volunteer-taught sessions", "1",
               "志愿者授课再增加 {n} 小时", "{n} more volunteer teaching hours", integral=False),
        Metric("needs_satisfaction", "ratio", "365 days", "top-voted themes with a course", "top-voted themes (≤5)",
               "再为 {n} 个高票需求开课", "courses for {n} more top-voted needs"),
        Metric("enrolment_fill_rate", "ratio", "sessions of the last 365 days and ahead", "confirmed enrolments",
               "seats of scheduled sessions", "再增加 {n} 个确认报名", "{n} more confirmed enrolments"),
        Metric("no_show_rate", "ratio", "sessions ended in the last 365 days", "confirmed enrolments not attended",
               "confirmed enrolments of ended sessions", "减少 {n} 次报名缺席", "{n} fewer no-shows",
               lower_is_better=True),
        Metric("honours_awarded", "honours", "this calendar year", "honours awarded (not revoked)", "1",
               "再评选表彰 {n} 项", "{n} more honours awarded"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class MetricValue:
    numerator: float
    denominator: float

    @property
    def value(self) -> float:
        return self.numerator / self.denominator if self.denominator else 0.0


@dataclass(frozen=True)
class Indicator:
    id: str
    aspect: str
    kind: Literal["computed", "assessed"]
    max: float
    pass_line: float
    name_zh: str
    name_en: str
    metric: str | None = None
    target: float | None = None


@dataclass(frozen=True)
class Aspect:
    id: str
    name_zh: str
    name_en: str
    indicators: tuple[Indicator, ...]

    @property
    def max(self) -> float:
        return sum(i.max for i in self.indicators)


@dataclass(frozen=True)
class IndicatorSet:
    version: str
    total: float
    aspects: tuple[Aspect, ...]
    honours: HonourRules

    @property
    def indicators(self) -> dict[str, Indicator]:
        return {i.id: i for a in self.aspects for i in a.indicators}
