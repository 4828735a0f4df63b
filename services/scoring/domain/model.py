"""The scoring domain: the learning index, indicators, attendance aggregation and honours. Pure Python, no I/O."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml

STREET = "street"  # the community id under which the whole street is reported
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
AUDIENCE_GROUPS = 6


@dataclass
class CourseRef:
    """What scoring knows of a course, learnt from the activities service's events."""

    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str] = field(default_factory=list)
    cancelled: bool = False


def local_day(at: datetime) -> date:
    # Days and periods follow the street's calendar, not UTC: a 07:30 class is on the same day.
    return at.astimezone(LOCAL_TZ).date()


def period_of(at: datetime | date) -> str:
    return str(at.year if isinstance(at, date) and not isinstance(at, datetime) else local_day(at).year)


# --- metrics ---------------------------------------------------------------------------------


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


# --- indicator file ----------------------------------------------------------------------------


class IndicatorFileError(ValueError):
    """The indicator file cannot be used; the message says where and why."""


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
class HonourRules:
    learning_star_min_hours: float = 40
    family_min_members: int = 3
    family_min_hours: float = 10
    enterprise_min_share: float = 0.5
    enterprise_min_registered: int = 5
    volunteer_min_teaching_hours: float = 20


@dataclass(frozen=True)
class IndicatorSet:
    version: str
    total: float
    aspects: tuple[Aspect, ...]
    honours: HonourRules

    @property
    def indicators(self) -> dict[str, Indicator]:
        return {i.id: i for a in self.aspects for i in a.indicators}


def _number(raw: dict, key: str, where: str, *, required: bool = True) -> float | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise IndicatorFileError(f"{where}: '{key}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise IndicatorFileError(f"{where}: '{key}' must be a non-negative number, got {value!r}")
    return float(value)


def parse_indicator_set(text: str, source: str = "<indicators>") -> IndicatorSet:
    """Parse and check an indicator file; raises IndicatorFileError with a clear reason."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise IndicatorFileError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("aspects"), list) or not raw["aspects"]:
        raise IndicatorFileError(f"{source}: needs 'version', 'total' and a non-empty list 'aspects'")
    version = str(raw.get("version") or "")
    if not version:
        raise IndicatorFileError(f"{source}: 'version' is missing")
    total = _number(raw, "total", source)
    seen: set[str] = set()
    aspects = []
    for a in raw["aspects"]:
        if not isinstance(a, dict) or not a.get("id") or not isinstance(a.get("indicators"), list):
            raise IndicatorFileError(f"{source}: every aspect needs an 'id' and a list 'indicators'")
        aid = str(a["id"])
        if aid in seen:
            raise IndicatorFileError(f"{source}: duplicate id {aid!r}")
        seen.add(aid)
        leaves = []
        for i in a["indicators"]:
            where = f"{source}: indicator {i.get('id') if isinstance(i, dict) else i!r}"
            if not isinstance(i, dict) or not i.get("id"):
                raise IndicatorFileError(f"{where}: needs an 'id'")
            iid = str(i["id"])
            if iid in seen:
                raise IndicatorFileError(f"{source}: duplicate id {iid!r}")
            seen.add(iid)
            kind = i.get("kind")
            if kind not in ("computed", "assessed"):
                raise IndicatorFileError(f"{where}: 'kind' must be computed or assessed, got {kind!r}")
            maximum = _number(i, "max", where)
            pass_line = _number(i, "pass", where)
            metric, target = None, None
            if kind == "computed":
                metric = i.get("metric")
                if metric not in METRICS:
                    known = ", ".join(sorted(METRICS))
                    raise IndicatorFileError(f"{where}: unknown metric {metric!r}; known metrics: {known}")
                target = _number(i, "target", where)
                if not target:
                    raise IndicatorFileError(f"{where}: 'target' must be greater than 0")
            elif pass_line > maximum:
                raise IndicatorFileError(f"{where}: pass line {pass_line} exceeds max {maximum}")
            leaves.append(
                Indicator(
                    id=iid, aspect=aid, kind=kind, max=maximum, pass_line=pass_line,
                    name_zh=str(i.get("name_zh", iid)), name_en=str(i.get("name_en", iid)),
                    metric=metric, target=target,
                )
            )  # fmt: skip
        if not leaves:
            raise IndicatorFileError(f"{source}: aspect {aid!r} has no indicators")
        aspects.append(Aspect(aid, str(a.get("name_zh", aid)), str(a.get("name_en", aid)), tuple(leaves)))
    summed = sum(a.max for a in aspects)
    if not math.isclose(summed, total, abs_tol=1e-9):
        detail = ", ".join(f"{a.id}={a.max:g}" for a in aspects)
        raise IndicatorFileError(f"{source}: indicator maxima add up to {summed:g}, not total {total:g} ({detail})")
    h = raw.get("honours") or {}
    rules = HonourRules(
        learning_star_min_hours=(h.get("learning_star") or {}).get("min_hours", 40),
        family_min_members=(h.get("learning_family") or {}).get("min_members", 3),
        family_min_hours=(h.get("learning_family") or {}).get("min_hours", 10),
        enterprise_min_share=(h.get("book_fragrant_enterprise") or {}).get("min_share", 0.5),
        enterprise_min_registered=(h.get("book_fragrant_enterprise") or {}).get("min_registered", 5),
        volunteer_min_teaching_hours=(h.get("excellent_volunteer") or {}).get("min_teaching_hours", 20),
    )
    return IndicatorSet(version=version, total=total, aspects=tuple(aspects), honours=rules)


# --- scoring -----------------------------------------------------------------------------------


def computed_score(ind: Indicator, value: float, has_data: bool = True) -> float:
    """max × min(1, value/target); for lower-is-better metrics max × min(1, target/value), and 0
    while there is nothing to measure (no ended session has enrolments: no credit for no data)."""
    assert ind.target is not None and ind.metric is not None
    if METRICS[ind.metric].lower_is_better:
        if not has_data:
            return 0.0
        ratio = 1.0 if value <= ind.target else ind.target / value
    else:
        ratio = min(1.0, value / ind.target)
    return round(ind.max * ratio, 4)


def below_pass(ind: Indicator, value: float, has_data: bool = True) -> bool:
    if ind.metric and METRICS[ind.metric].lower_is_better:
        return value > ind.pass_line or not has_data
    return value < ind.pass_line


def gap(ind: Indicator, mv: MetricValue) -> tuple[float, str, str]:
    """How much of the numerator would lift a computed leaf to its pass line, with the words for it."""
    assert ind.metric is not None
    m = METRICS[ind.metric]
    if mv.denominator == 0:  # nothing measured yet: the first step is the activity itself, not a number
        return (
            0.0,
            "尚无可统计的数据：请先开展并记录相关活动",
            "nothing to measure yet: hold and record the activity first",
        )
    if m.lower_is_better:
        amount = mv.numerator - ind.pass_line * mv.denominator
    else:
        amount = ind.pass_line * mv.denominator - mv.numerator
    amount = max(0.0, amount)
    amount = math.ceil(amount - 1e-9) if m.integral else math.ceil(amount * 10 - 1e-9) / 10
    n = f"{amount:g}"
    return amount, m.gap_zh.format(n=n), m.gap_en.format(n=n)


def score_community(
    indicators: IndicatorSet, metrics: dict[str, MetricValue], assessments: dict[str, float]
) -> dict[str, Any]:
    """The index of one community (or the street): aspects, leaves with how each value was computed,
    and the rectification list (leaves below their pass line)."""
    aspects_out, rectification = [], []
    total = 0.0
    for aspect in indicators.aspects:
        leaves, aspect_score = [], 0.0
        for ind in aspect.indicators:
            leaf: dict[str, Any] = {"id": ind.id, "kind": ind.kind, "name_zh": ind.name_zh, "name_en": ind.name_en,
                                    "max": ind.max, "pass_line": ind.pass_line}  # fmt: skip
            if ind.kind == "computed":
                mv = metrics.get(ind.metric, MetricValue(0, 0))
                m = METRICS[ind.metric]
                how = f"{m.numerator} / {m.denominator} over {m.window}; score = max × min(1, %s)" % (
                    "target/value" if m.lower_is_better else "value/target"
                )
                score = computed_score(ind, mv.value, mv.denominator > 0)
                leaf.update(metric=ind.metric, target=ind.target, value=round(mv.value, 6), numerator=mv.numerator,
                            denominator=mv.denominator, window=m.window, unit=m.unit,
                            how=how)  # fmt: skip
                if below_pass(ind, mv.value, mv.denominator > 0):
                    amount, zh, en = gap(ind, mv)
                    rectification.append({"indicator_id": ind.id, "aspect": aspect.id, "kind": "computed",
                                          "value": round(mv.value, 6), "pass_line": ind.pass_line,
                                          "gap": amount, "action_zh": zh, "action_en": en})  # fmt: skip
            else:
                assessed = assessments.get(ind.id)
                score = min(ind.max, assessed) if assessed is not None else 0.0
                leaf.update(value=assessed, how="latest expert assessment with evidence")
                if assessed is None or assessed < ind.pass_line:
                    missing = ind.pass_line - (assessed or 0.0)
                    rectification.append({
                        "indicator_id": ind.id, "aspect": aspect.id, "kind": "assessed", "value": assessed,
                        "pass_line": ind.pass_line, "gap": round(missing, 4),
                        "action_zh": "尚未评估：请专家录入评分与佐证材料" if assessed is None
                        else f"专家评分需再提高 {missing:g} 分：补充佐证材料后复评",
                        "action_en": "not assessed yet: an assessor should record a score with evidence"
                        if assessed is None else f"{missing:g} more points from the experts: add evidence, reassess",
                    })  # fmt: skip
            leaf["score"] = round(score, 4)
            aspect_score += score
            leaves.append(leaf)
        aspects_out.append({"id": aspect.id, "name_zh": aspect.name_zh, "name_en": aspect.name_en,
                            "max": aspect.max, "score": round(aspect_score, 4), "indicators": leaves})  # fmt: skip
        total += aspect_score
    return {"total": round(total, 4), "max": indicators.total, "aspects": aspects_out, "rectification": rectification}


# --- attendance aggregation (the hot path's fold) ----------------------------------------------


@dataclass(frozen=True)
class AttendanceFact:
    """One AttendanceRecorded (recorded=True) or AttendanceAdjusted as the fold sees it."""

    attendance_id: str
    resident_id: str
    session_id: str
    minutes: int
    at: datetime  # envelope time: orders adjustments
    event_id: str
    recorded: bool
    course_id: str | None = None
    community_id: str | None = None  # venue's community
    home_community_id: str | None = None
    audience_group: str | None = None
    day: date | None = None

    @property
    def key(self) -> tuple[str, str]:
        # One attendance per resident per session: the pair identifies it (attendance_id is derived from it).
        return (self.session_id, self.resident_id)


@dataclass(frozen=True)
class AttendanceState:
    attendance_id: str
    resident_id: str
    session_id: str
    minutes: int
    recorded: bool  # False: only an adjustment arrived so far (counts nothing yet)
    adjusted_at: datetime | None = None
    adjusted_by: str | None = None
    course_id: str | None = None
    community_id: str | None = None
    home_community_id: str | None = None
    audience_group: str | None = None
    day: date | None = None


def _newer(fact: AttendanceFact, state: AttendanceState) -> bool:
    if state.adjusted_at is None:
        return True
    return (fact.at, fact.event_id) > (state.adjusted_at, state.adjusted_by or "")


def fold_attendance(state: AttendanceState | None, fact: AttendanceFact) -> AttendanceState:
    """Apply one fact. Commutative and idempotent: a recording fills in the details once; the
    minutes are those of the latest adjustment (by time, then event id) or else the recording's."""
    if fact.recorded:
        if state is not None and state.recorded:
            return state
        minutes = state.minutes if state is not None and state.adjusted_at is not None else fact.minutes
        return AttendanceState(
            attendance_id=fact.attendance_id, resident_id=fact.resident_id, session_id=fact.session_id,
            minutes=minutes, recorded=True,
            adjusted_at=state.adjusted_at if state else None, adjusted_by=state.adjusted_by if state else None,
            course_id=fact.course_id, community_id=fact.community_id, home_community_id=fact.home_community_id,
            audience_group=fact.audience_group, day=fact.day,
        )  # fmt: skip
    if state is None:
        return AttendanceState(
            attendance_id=fact.attendance_id, resident_id=fact.resident_id, session_id=fact.session_id,
            minutes=fact.minutes, recorded=False, adjusted_at=fact.at, adjusted_by=fact.event_id,
            community_id=fact.community_id,
        )  # fmt: skip
    if not _newer(fact, state):
        return state
    return replace(state, minutes=fact.minutes, adjusted_at=fact.at, adjusted_by=fact.event_id)


@dataclass
class Aggregates:
    """Counters the index reads. Keys are plain tuples so SQL upserts map onto them one to one."""

    daily: dict[tuple[str, date, str], list[int]] = field(default_factory=dict)  # (community, day, course) → [n, min]
    # Distinct attendees: the last day each resident attended, per home community. "Attended in the
    # last 4 weeks / 12 months" is then a plain count of rows with a recent last day.
    last_seen: dict[tuple[str, str], date] = field(default_factory=dict)  # (home community, resident) → day
    audience: dict[tuple[str, str], str] = field(default_factory=dict)  # same key → audience group
    # Audience groups reached: the last day each group was seen, per community and for the street.
    audience_seen: dict[tuple[str, str], date] = field(default_factory=dict)  # (community, group) → day
    resident_minutes: dict[tuple[str, str], int] = field(default_factory=dict)  # (resident, period) → minutes

    def add(self, s: AttendanceState, sign: int, minutes: int) -> None:
        key = (s.community_id or "", s.day, s.course_id or "")
        counters = self.daily.setdefault(key, [0, 0])
        counters[0] += sign
        counters[1] += minutes
        rkey = (s.resident_id, period_of(s.day))
        self.resident_minutes[rkey] = self.resident_minutes.get(rkey, 0) + minutes
        if sign > 0:
            home = s.home_community_id or s.community_id or ""
            _latest(self.last_seen, (home, s.resident_id), s.day)
            if s.audience_group:
                self.audience.setdefault((home, s.resident_id), s.audience_group)
                _latest(self.audience_seen, (home, s.audience_group), s.day)
                _latest(self.audience_seen, (STREET, s.audience_group), s.day)


def _latest(days: dict, key: tuple, day: date) -> None:
    if key not in days or days[key] < day:
        days[key] = day


def deltas(before: AttendanceState | None, after: AttendanceState) -> tuple[int, int]:
    """(attendance count delta, minutes delta) that moving from `before` to `after` makes."""
    was = before is not None and before.recorded
    if not after.recorded:
        return 0, 0
    if not was:
        return 1, after.minutes
    return 0, after.minutes - before.minutes


def apply_batch(
    states: dict[tuple[str, str], AttendanceState], facts: Iterable[AttendanceFact]
) -> tuple[dict[tuple[str, str], AttendanceState], Aggregates]:
    """Fold a batch onto the known states; returns the changed states and the counter deltas."""
    changed: dict[tuple[str, str], AttendanceState] = {}
    original: dict[tuple[str, str], AttendanceState | None] = {}
    for fact in facts:
        aid = fact.key
        if aid not in original:
            original[aid] = states.get(aid)
        current = changed.get(aid, original[aid])
        new = fold_attendance(current, fact)
        if new != current:
            changed[aid] = new
    agg = Aggregates()
    for aid, new in changed.items():
        n, minutes = deltas(original[aid], new)
        if n or minutes:
            agg.add(new, n, minutes)
    return changed, agg


def recompute(facts: Iterable[AttendanceFact]) -> Aggregates:
    """From-scratch computation (the property tests' oracle): final state per attendance, then counters."""
    by_id: dict[tuple[str, str], list[AttendanceFact]] = {}
    for f in facts:
        by_id.setdefault(f.key, []).append(f)
    agg = Aggregates()
    for fs in by_id.values():
        rec = next((f for f in fs if f.recorded), None)
        if rec is None:
            continue
        adjustments = [f for f in fs if not f.recorded]
        minutes = max(adjustments, key=lambda f: (f.at, f.event_id)).minutes if adjustments else rec.minutes
        agg.add(AttendanceState(rec.attendance_id, rec.resident_id, rec.session_id, minutes, True,
                                course_id=rec.course_id, community_id=rec.community_id,
                                home_community_id=rec.home_community_id, audience_group=rec.audience_group,
                                day=rec.day), 1, minutes)  # fmt: skip
    return agg


def merge(total: Aggregates, part: Aggregates) -> Aggregates:
    for k, (n, m) in part.daily.items():
        c = total.daily.setdefault(k, [0, 0])
        c[0] += n
        c[1] += m
    for k, day in part.last_seen.items():
        _latest(total.last_seen, k, day)
    for k, group in part.audience.items():
        total.audience.setdefault(k, group)  # the first known group stays, as the SQL upsert does
    for k, day in part.audience_seen.items():
        _latest(total.audience_seen, k, day)
    for k, m in part.resident_minutes.items():
        total.resident_minutes[k] = total.resident_minutes.get(k, 0) + m
    return total


def normalised(agg: Aggregates) -> tuple:
    """Comparable form (zero counters dropped)."""
    return (
        {k: tuple(v) for k, v in agg.daily.items() if v != [0, 0]},
        dict(agg.last_seen),
        dict(agg.audience),
        dict(agg.audience_seen),
        {k: v for k, v in agg.resident_minutes.items() if v},
    )


# --- honours ----------------------------------------------------------------------------------

HONOUR_NAMES = {
    "learning_star": ("百姓学习之星", "Learning star"),
    "learning_family": ("最美学习家庭", "Learning family"),
    "book_fragrant_enterprise": ("书香企业", "Book-fragrant enterprise"),
    "excellent_volunteer": ("优秀志愿者", "Excellent volunteer"),
    "knowledge_competition": ("知识竞赛获奖", "Knowledge competition place"),
}


def honour_id(kind: str, period: str, recipient_id: str) -> uuid.UUID:
    """Deterministic, and the same as the SQL rule evaluation computes (md5 of the same text)."""
    return uuid.UUID(hashlib.md5(f"learnstreet:honour:{kind}:{period}:{recipient_id}".encode()).hexdigest())
