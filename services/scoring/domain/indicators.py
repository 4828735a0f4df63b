"""The indicator catalogue: the metrics scoring can compute (with the words for closing a gap in
each), and an indicator set's aspects and leaves with their weights, targets and pass lines.

The numbers and names come from the indicator file (`adapters/indicator_file.py` reads it); the
honour thresholds it also carries are `domain/honours.py`'s `HonourRules`, its selection settings
`domain/selection.py`'s `SelectionRules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from services.scoring.domain.honours import HonourRules
from services.scoring.domain.periods import PeriodRules
from services.scoring.domain.selection import SelectionRules

# What a value is divided by. Rates the evaluation scheme defines over residents divide by the
# reference population (the street's statistics in its reference data, not who registered on the
# platform); where the scheme means registration, by registered residents. The API and the report
# name the denominator of every value with these words.
DENOMINATORS: dict[str, tuple[str, str]] = {
    "population": ("reference population (常住人口)", "常住人口（参考数据）"),
    "registered_residents": ("residents registered on the platform", "平台注册居民"),
    "audience_groups": ("the six audience groups", "六类人群"),
    "registered_venues": ("registered venues", "登记的学习阵地"),
    "seats_held": ("seats of sessions held", "已开课场次的座位数"),
    "reference_themes": ("themes in the reference data", "参考主题数"),
    "population_thousands": ("reference population / 1,000", "常住人口 / 1000"),
    "top_voted_themes": ("top-voted themes (≤5)", "高票需求主题（≤5）"),
    "seats_scheduled": ("seats of scheduled sessions", "已排课场次的座位数"),
    "ended_enrolments": ("confirmed enrolments of ended sessions", "已结束场次的确认报名"),
    "session_ratings": ("satisfaction ratings of sessions held", "已开课场次的满意度评价数"),
    "none": ("none (an absolute amount)", "无（绝对数）"),
}
# A session's satisfaction rating (1..5) counts as satisfied from this score on (activities'
# domain/surveys.py SATISFIED_FROM says the same to residents).
SATISFIED_FROM = 4
LEVELS = ("community", "street")


@dataclass(frozen=True)
class Metric:
    """`denominators`: those an indicator file may choose for it, the first being the default.
    A rate (unit "ratio") counts in its numerator only what its denominator counts, so its value
    lies within [0, 1] whatever events arrived (services/scoring/adapters/repository.py says how
    for each)."""

    id: str
    unit: str
    window: str
    numerator: str
    denominators: tuple[str, ...]
    gap_zh: str  # "{n}" is the amount that would close the gap
    gap_en: str
    lower_is_better: bool = False
    integral: bool = True  # the numerator counts things (gap rounded up to whole ones)

    @property
    def denominator(self) -> str:
        return self.denominators[0]


RESIDENT_BASED = ("population", "registered_residents")

METRICS: dict[str, Metric] = {
    m.id: m
    for m in (
        Metric("participation_rate_4w", "ratio", "28 days", "distinct attendees living in it", RESIDENT_BASED,
               "4周内再增加 {n} 名不同的参与居民", "{n} more distinct attendees in 4 weeks"),
        Metric("participation_rate_12m", "ratio", "365 days", "distinct attendees living in it", RESIDENT_BASED,
               "12个月内再增加 {n} 名不同的参与居民", "{n} more distinct attendees in 12 months"),
        Metric("learning_hours_per_resident", "hours", "365 days", "attendance hours at its venues", RESIDENT_BASED,
               "再增加 {n} 小时学习时长", "{n} more learning hours", integral=False),
        Metric("audience_coverage", "ratio", "365 days", "audience groups reached", ("audience_groups",),
               "再覆盖 {n} 类人群", "reach {n} more audience groups"),
        Metric("venues_active_share", "ratio", "365 days", "registered venues with a session held",
               ("registered_venues",), "再激活 {n} 个学习阵地", "{n} more venues holding sessions"),
        Metric("venue_utilisation", "ratio", "365 days", "attendances of sessions held, at most their seats",
               ("seats_held",), "再增加 {n} 人次到课", "{n} more attendances in sessions held"),
        Metric("theme_diversity", "ratio", "365 days", "reference themes of courses held", ("reference_themes",),
               "再开设 {n} 个新主题的课程", "courses on {n} more themes"),
        Metric("sessions_per_1000", "sessions per 1,000 residents", "365 days", "sessions held",
               ("population_thousands",), "再开课 {n} 场", "{n} more sessions held"),
        Metric("volunteer_teaching_hours", "hours", "365 days", "length of the volunteer-taught sessions held",
               ("none",), "志愿者授课再增加 {n} 小时", "{n} more volunteer teaching hours", integral=False),
        Metric("needs_satisfaction", "ratio", "365 days", "top-voted themes with a course", ("top_voted_themes",),
               "再为 {n} 个高票需求开课", "courses for {n} more top-voted needs"),
        Metric("enrolment_fill_rate", "ratio", "sessions of the last 365 days and ahead",
               "confirmed enrolments, at most each session's seats", ("seats_scheduled",),
               "再增加 {n} 个确认报名", "{n} more confirmed enrolments"),
        Metric("no_show_rate", "ratio", "sessions ended in the last 365 days", "confirmed enrolments not attended",
               ("ended_enrolments",), "减少 {n} 次报名缺席", "{n} fewer no-shows", lower_is_better=True),
        Metric("session_satisfaction", "ratio", "365 days", "ratings of 4 or 5 (satisfied)", ("session_ratings",),
               "再获得 {n} 个满意评价（4–5分）", "{n} more satisfied ratings (4 or 5)"),
        Metric("honours_awarded", "honours", "this calendar year", "honours awarded (not revoked)", ("none",),
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
    target: float | None = None  # the community level's; the street's is `street_target`
    denominator: str | None = None  # one of the metric's `denominators`
    street_target: float | None = None
    street_pass_line: float | None = None

    def at(self, level: str) -> Indicator:
        """This indicator with the target and pass line of `level` (community or street): the street
        is not one more community, a sum over 12 communities must not pass on a community's target."""
        if level == "community":
            return self
        target = self.street_target if self.street_target is not None else self.target
        pass_line = self.street_pass_line if self.street_pass_line is not None else self.pass_line
        return replace(self, target=target, pass_line=pass_line)


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
    selection: SelectionRules = field(default_factory=SelectionRules)
    periods: PeriodRules = field(default_factory=PeriodRules)  # when a period closes for late data

    @property
    def indicators(self) -> dict[str, Indicator]:
        return {i.id: i for a in self.aspects for i in a.indicators}

    @property
    def denominators(self) -> dict[str, str]:
        """metric → the denominator the indicator file chose for it (one choice per metric)."""
        return {i.metric: i.denominator or METRICS[i.metric].denominator
                for i in self.indicators.values() if i.metric}  # fmt: skip
