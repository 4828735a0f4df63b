"""The report's content from the services' answers: pure, no I/O.

Every name a reader sees is a name, never a code: communities from the reference data (activities'
API, else scoring's), indicators and aspects from the indicator file (scoring's API), honours from
the street's names file (`shared/reference.py`). Every timestamp is Beijing time, every value says
what it is divided by, and a resident's card number is never shown whole.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
LANGUAGES = ("zh-CN", "en")
_YEAR = re.compile(r"\d{4}")


@dataclass
class Sources:
    """The services' answers, as JSON, for one report."""

    period: str
    community: str | None  # None: the street's report
    reference: dict[str, Any]
    venues: list[dict[str, Any]]
    overview: dict[str, Any]
    details: dict[str, dict[str, Any]]  # "street" or community id → /v1/index/{id}
    rectification: dict[str, list[dict[str, Any]]]  # same keys → items below their pass line
    tasks: list[dict[str, Any]]
    assessments: list[dict[str, Any]]
    honours: list[dict[str, Any]]  # of the period, newest first
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # honour id → /v1/honours/{id}
    evidence_api: bool = False  # scoring serves GET /v1/evidence
    scoring_url: str = ""


def parse_period(text: str) -> str:
    """The period is a calendar year, as honours are selected per year."""
    if not _YEAR.fullmatch(text.strip()) or not 2000 <= int(text) <= 2100:
        raise ValueError(f"--period takes a year such as 2026, not {text!r}")
    return text.strip()


def parse_language(text: str) -> str:
    if text not in LANGUAGES:
        raise ValueError(f"--lang takes one of {', '.join(LANGUAGES)}, not {text!r}")
    return text


_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "beijing": "北京时间", "street_scope": "全街道", "self": "自评", "expert": "专家评估", "none": "无",
        "computed": "系统计算", "assessed": "评估打分", "no_task": "尚未立项", "points": "分",
        "mean_of_communities": "各社区平均", "not_assessed": "尚未评估",
        # honour states and selection steps
        "nominated": "已提名", "community_approved": "社区已审核", "rejected": "未通过", "in_notice": "公示中",
        "withdrawn": "已撤回", "awarded": "已授予", "revoked": "已撤销",
        "step_nominated": "提名", "step_community_approved": "社区审核通过",
        "step_community_rejected": "社区审核未通过",
        "step_street_approved": "街道审定，进入公示", "step_street_rejected": "街道审定未通过",
        "step_objection_lodged": "公示期异议", "step_objection_upheld": "异议成立",
        "step_objection_dismissed": "异议不成立",
        "step_awarded": "公示期满，授予", "step_revoked": "撤销",
        # rectification task statuses and steps
        "open": "待整改", "in_progress": "整改中", "done": "已完成", "verified": "已验收",
        "step_opened": "立项", "step_assigned": "指派", "step_commented": "备注", "step_reopened": "退回重整",
        "department": "街道部门", "community": "社区工作站",
        # roles
        "operator": "街道管理员", "assessor": "评估专家", "community_worker": "社区工作站", "system": "系统",
        "resident": "居民", "kiosk": "签到机", "system_rules": "系统（评选规则）", "system_notice": "系统（公示期满）",
        "family": "家庭", "enterprise": "企业", "organisation": "组织", "volunteer": "志愿者",
    },
    "en": {
        "beijing": "Beijing time", "street_scope": "whole street", "self": "self-assessment",
        "expert": "expert assessment", "none": "none", "computed": "computed", "assessed": "assessed",
        "no_task": "no task yet", "points": "points", "mean_of_communities": "mean of the communities",
        "not_assessed": "not assessed yet",
        "nominated": "nominated", "community_approved": "approved by the community", "rejected": "rejected",
        "in_notice": "in public notice", "withdrawn": "withdrawn", "awarded": "awarded", "revoked": "revoked",
        "step_nominated": "nominated", "step_community_approved": "community approved",
        "step_community_rejected": "community rejected", "step_street_approved": "street approved, notice starts",
        "step_street_rejected": "street rejected", "step_objection_lodged": "objection lodged",
        "step_objection_upheld": "objection upheld", "step_objection_dismissed": "objection dismissed",
        "step_awarded": "notice over, awarded", "step_revoked": "revoked",
        "open": "open", "in_progress": "in progress", "done": "done", "verified": "verified",
        "step_opened": "opened", "step_assigned": "assigned", "step_commented": "comment", "step_reopened": "reopened",
        "department": "street department", "community": "community workstation",
        "operator": "street operator", "assessor": "assessor", "community_worker": "community workstation",
        "system": "system", "resident": "resident", "kiosk": "kiosk", "system_rules": "system (selection rules)",
        "system_notice": "system (end of the notice period)",
        "family": "family", "enterprise": "enterprise", "organisation": "organisation", "volunteer": "volunteer",
    },
}  # fmt: skip


def word(lang: str, key: str) -> str:
    return _WORDS[lang].get(key) or key.replace("_", " ")


def beijing(at: str | datetime | None, lang: str) -> str:
    """A timestamp as Beijing time, minutes, labelled; a bare date stays a date."""
    if at is None or at == "":
        return "—"
    if isinstance(at, str):
        if len(at) == 10:
            return at
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        raise ValueError(f"a timestamp without its zone cannot be shown as Beijing time: {at}")
    return f"{at.astimezone(BEIJING):%Y-%m-%d %H:%M} {word(lang, 'beijing')}"


def mask(recipient_id: str) -> str:
    """Enough of an id for the street to recognise it, not a citizen's card number in a document."""
    return recipient_id if len(recipient_id) <= 4 else "*" * min(6, len(recipient_id) - 4) + recipient_id[-4:]


@dataclass(frozen=True)
class Link:
    label: str
    href: str | None = None


@dataclass(frozen=True)
class Mark:
    """One assessment of a leaf: its score, who gave it and when."""

    score: float
    by: str
    at: str


@dataclass(frozen=True)
class Leaf:
    name: str
    kind: str
    value: str  # the value with its unit
    denominator: str  # what the value is measured over (computed) or out of (assessed)
    score: float
    max: float
    pass_line: str
    below: bool
    how: str
    self_mark: Mark | None = None
    expert_mark: Mark | None = None
    counted: str = ""
    evidence: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Aspect:
    name: str
    score: float
    max: float
    leaves: tuple[Leaf, ...]


@dataclass(frozen=True)
class CommunityRow:
    name: str
    total: float
    aspects: tuple[float, ...]
    below_pass_line: int
    venues: int


@dataclass(frozen=True)
class Assessed:
    community: str
    indicator: str
    max: float
    self_mark: Mark | None
    expert_mark: Mark | None
    counted: str
    evidence: tuple[Link, ...]


@dataclass(frozen=True)
class RectificationRow:
    community: str
    indicator: str
    value: str
    gap: str
    action: str
    status: str
    owner: str
    deadline: str
    overdue: bool


@dataclass(frozen=True)
class Task:
    community: str
    indicator: str
    status: str
    owner: str
    deadline: str
    overdue: bool
    opened: str
    updated: str


@dataclass(frozen=True)
class Step:
    what: str
    who: str
    when: str
    note: str


@dataclass(frozen=True)
class HonourRecord:
    name: str
    recipient: str
    community: str
    state: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Report:
    lang: str
    period: str
    street: str
    scope: str  # the street's name, or the community's
    is_street: bool
    generated: str
    computed: str
    indicators_version: str
    total: float
    max: float
    aspect_names: tuple[str, ...]
    aspect_maxima: tuple[float, ...]
    aspects: tuple[Aspect, ...]
    communities: tuple[CommunityRow, ...]
    assessed: tuple[Assessed, ...]
    rectification: tuple[RectificationRow, ...]
    tasks: tuple[Task, ...]
    honour_counts: tuple[tuple[str, str, int], ...]  # honour name, state, count
    honour_records: tuple[HonourRecord, ...]
    honours_total: int
    records_left_out: int
    venues: int
    notes: tuple[str, ...] = field(default=())


def build(sources: Sources, *, lang: str, honour_name: Callable[[str, str], str], generated_at: datetime) -> Report:
    zh = lang == "zh-CN"

    def pick(item: dict[str, Any], fallback: str = "") -> str:
        return (item.get("name_zh") if zh else item.get("name_en")) or item.get("name_zh") or fallback

    names = {c["id"]: pick(c, c["id"]) for c in sources.reference.get("communities", [])}
    for c in sources.overview.get("communities", []):
        names.setdefault(c["community_id"], pick(c, c["community_id"]))
    street_detail = sources.details.get("street") or {}
    street = names.get("street") or pick(street_detail) or sources.reference.get("street_id", "")
    names["street"] = street

    def community(cid: str | None) -> str:
        return names.get(cid or "", cid or "—")

    scope_id = sources.community or "street"
    detail = sources.details[scope_id]
    indicator_names = {leaf["id"]: pick(leaf, leaf["id"]) for a in detail["aspects"] for leaf in a["indicators"]}

    def indicator(iid: str) -> str:
        return indicator_names.get(iid, iid)

    def who(subject: str | None, role: str | None) -> str:
        if role and subject and role == "community_worker" and subject.startswith("ws-"):
            return f"{word(lang, role)} {community(subject[3:])}"
        if role == "system":  # the selection rules nominate, the end of the notice period awards
            return word(lang, f"system_{subject}")
        return " ".join(x for x in (word(lang, role) if role else "", subject or "") if x)

    def mark(m: dict[str, Any] | None) -> Mark | None:
        if not m:
            return None
        return Mark(float(m["score"]), who(m.get("by"), m.get("role")), beijing(m.get("at"), lang))

    latest_evidence: dict[tuple[str, str], list[Link]] = {}
    for a in sources.assessments:  # newest first: the first of each kind is the one counted
        key = (a.get("community_id") or "", a["indicator_id"])
        links = latest_evidence.setdefault(key, [])
        if len(links) < 3 and (a.get("evidence_url") or a.get("evidence_text")):
            label = f"{word(lang, a.get('kind', 'self'))}: {a.get('evidence_text') or a.get('evidence_url')}"
            links.append(Link(label, a.get("evidence_url")))

    def evidence(cid: str, leaf: dict[str, Any]) -> tuple[Link, ...]:
        files = [_file_link(f, sources.scoring_url) for f in leaf.get("evidence") or []]
        if sources.evidence_api and cid != "street":
            listing = f"{sources.scoring_url}/v1/evidence?indicator_id={leaf['id']}&community_id={cid}"
            files.append(Link("佐证材料清单" if zh else "evidence files", listing))
        return tuple(files + latest_evidence.get((cid, leaf["id"]), []))

    below_ids = {cid: {item["indicator_id"] for item in items} for cid, items in sources.rectification.items()}

    def leaf_of(cid: str, leaf: dict[str, Any]) -> Leaf:
        computed = leaf["kind"] == "computed"
        # scoring's rectification list is the one judge of "below the pass line" (lower-is-better rates too)
        below = leaf["id"] in below_ids.get(cid, set())
        if computed:
            value = _value(leaf, lang)
            over = (leaf.get("denominator_zh") if zh else leaf.get("denominator_en")) or leaf.get(
                "denominator_kind", ""
            )
            denominator = (
                f"{_n(leaf.get('numerator'))} / {_n(leaf.get('denominator'))} {over}"
                f" · {window(leaf.get('window', ''), lang)}"
            )
            pass_line = _value({**leaf, "value": leaf.get("pass_line")}, lang)
        else:
            value = "—" if leaf.get("value") is None else f"{leaf['value']:.2f}"
            denominator = f"{'满分' if zh else 'out of'} {leaf['max']:g} {word(lang, 'points')}"
            pass_line = f"{leaf.get('pass_line', 0):g}"
        counted = word(lang, leaf.get("assessed_by") or "") if not computed else ""
        if not computed and leaf.get("value") is None:
            counted = word(lang, "not_assessed")
        return Leaf(
            name=pick(leaf, leaf["id"]), kind=word(lang, leaf["kind"]), value=value, denominator=denominator,
            score=float(leaf.get("score", 0)), max=float(leaf["max"]), pass_line=pass_line, below=below,
            how=_how(leaf, lang), self_mark=mark(leaf.get("self_assessment")),
            expert_mark=mark(leaf.get("expert_assessment")), counted=counted,
            evidence=() if computed else evidence(cid, leaf),
        )  # fmt: skip

    aspects = tuple(
        Aspect(
            pick(a, a["id"]), float(a["score"]), float(a["max"]), tuple(leaf_of(scope_id, x) for x in a["indicators"])
        )
        for a in detail["aspects"]
    )
    aspect_ids = [a["id"] for a in detail["aspects"]]
    venues_by = Counter(v.get("community_id") for v in sources.venues)
    rows = sorted(
        (c for c in sources.overview.get("communities", []) if c["community_id"] != "street"),
        key=lambda c: -float(c["total"]),
    )
    if sources.community:
        rows = [c for c in rows if c["community_id"] == sources.community]
    communities = tuple(
        CommunityRow(community(c["community_id"]), float(c["total"]),
                     tuple(float(c["aspects"].get(a, 0.0)) for a in aspect_ids), int(c.get("below_pass_line", 0)),
                     venues_by.get(c["community_id"], 0))
        for c in rows
    )  # fmt: skip

    assessed = []
    for cid, d in sources.details.items():
        if cid == "street":
            continue
        for a in d["aspects"]:
            for leaf in a["indicators"]:
                if leaf["kind"] != "assessed":
                    continue
                built = leaf_of(cid, leaf)
                assessed.append(Assessed(community(cid), built.name, built.max, built.self_mark, built.expert_mark,
                                         built.counted, built.evidence))  # fmt: skip

    tasks_by_item = {}
    for t in sources.tasks:  # newest first per item wins below
        tasks_by_item.setdefault((t["community_id"], t["indicator_id"]), t)

    def owner(t: dict[str, Any]) -> str:
        if t.get("owner_kind") == "community":
            return f"{word(lang, 'community')} {community(t['owner'])}"
        return f"{word(lang, 'department')} {t.get('owner', '')}"

    rectification = []
    for cid, items in sources.rectification.items():
        for item in items:
            task = item.get("task") or tasks_by_item.get((cid, item["indicator_id"]))
            rectification.append(RectificationRow(
                community=community(cid), indicator=indicator(item["indicator_id"]),
                value=_value({**item, "unit": _unit(detail, item["indicator_id"], sources.details.get(cid))}, lang),
                gap=_n(item.get("gap")), action=(item.get("action_zh") if zh else item.get("action_en")) or "",
                status=word(lang, task["status"]) if task else word(lang, "no_task"),
                owner=owner(task) if task else "—", deadline=task.get("deadline", "—") if task else "—",
                overdue=bool(task and task.get("overdue")),
            ))  # fmt: skip

    tasks = tuple(
        Task(community(t["community_id"]), indicator(t["indicator_id"]), word(lang, t["status"]), owner(t),
             t.get("deadline") or "—", bool(t.get("overdue")), beijing(t.get("opened_at"), lang),
             beijing(t.get("updated_at"), lang))
        for t in sorted(sources.tasks, key=lambda t: (not t.get("overdue"), t.get("deadline") or ""))
    )  # fmt: skip

    counts = Counter((honour_name(h["kind"], lang), word(lang, h.get("state", "awarded"))) for h in sources.honours)
    records = []
    for hid, r in sources.records.items():
        steps = tuple(
            Step(word(lang, f"step_{s['step']}"), who(s.get("acted_by"), s.get("actor_role")),
                 beijing(s.get("at"), lang), _step_note(s, r, lang))
            for s in r.get("steps", [])
        )  # fmt: skip
        recipient = f"{word(lang, r.get('recipient_kind', 'resident'))} {mask(str(r.get('recipient_id', hid)))}"
        if r.get("place"):
            recipient += f" · {'第' + str(r['place']) + '名' if zh else 'place ' + str(r['place'])}"
        records.append(HonourRecord(honour_name(r["kind"], lang), recipient, community(r.get("community_id")),
                                    word(lang, r.get("state", "awarded")), steps))  # fmt: skip

    return Report(
        lang=lang, period=sources.period, street=street,
        scope=street if sources.community is None else community(sources.community),
        is_street=sources.community is None, generated=beijing(generated_at, lang),
        computed=beijing(detail.get("computed_at"), lang), indicators_version=detail.get("indicators_version", ""),
        total=float(detail["total"]), max=float(detail["max"]),
        aspect_names=tuple(a.name for a in aspects), aspect_maxima=tuple(a.max for a in aspects), aspects=aspects,
        communities=communities, assessed=tuple(assessed), rectification=tuple(rectification), tasks=tasks,
        honour_counts=tuple((n, s, c) for (n, s), c in sorted(counts.items())), honour_records=tuple(records),
        honours_total=len(sources.honours), records_left_out=len(sources.honours) - len(records),
        venues=len(sources.venues),
    )  # fmt: skip


def _how(leaf: dict[str, Any], lang: str) -> str:
    """How the leaf is scored: scoring's own words in English; in Chinese, the same rule said in Chinese
    (the index counts an expert assessment when there is one, else the self-assessment)."""
    if lang != "zh-CN":
        return leaf.get("how", "")
    if leaf["kind"] != "computed":
        return "以最新专家评估计分，无专家评估时取最新自评；附佐证材料"
    target = _value({**leaf, "value": leaf.get("target")}, lang)
    if "target/value" in (leaf.get("how") or "").replace(" ", ""):  # lower is better
        return f"得分 = 满分 × min(1, 目标值 ÷ 数值)，目标值 {target}"
    return f"得分 = 满分 × min(1, 数值 ÷ 目标值)，目标值 {target}"


def _unit(detail: dict[str, Any], indicator_id: str, other: dict[str, Any] | None) -> str:
    for d in (other, detail):
        for a in (d or {}).get("aspects", []):
            for leaf in a["indicators"]:
                if leaf["id"] == indicator_id:
                    return leaf.get("unit", "") if leaf["kind"] == "computed" else "points"
    return ""


# The indicator file's units and windows are English; the Chinese report says them in Chinese.
_UNITS_ZH = {"hours": "小时", "honours": "项", "sessions per 1,000 residents": "场/千人", "points": "分"}
_WINDOWS_ZH = {
    "this calendar year": "本自然年",
    "sessions of the last 365 days and ahead": "近365天及已排期的课次",
    "sessions ended in the last 365 days": "近365天已结束的课次",
}
_DAYS = re.compile(r"(\d+) days")


def window(text: str, lang: str) -> str:
    if lang != "zh-CN":
        return text
    return _WINDOWS_ZH.get(text) or _DAYS.sub(lambda m: f"近{m[1]}天", text)


def _value(leaf: dict[str, Any], lang: str) -> str:
    value = leaf.get("value")
    if value is None:
        return "—"
    if leaf.get("unit") == "ratio":
        return f"{float(value) * 100:.1f}%"
    unit = leaf.get("unit") or ""
    if unit == "points":
        return f"{float(value):.2f}"
    return f"{_n(value)} {_UNITS_ZH.get(unit, unit) if lang == 'zh-CN' else unit}".strip()


def _n(number: Any) -> str:
    if number is None:
        return "—"
    number = float(number)
    if number == int(number):
        return f"{number:,.0f}"
    return f"{number:,.2f}".rstrip("0").rstrip(".") if abs(number) >= 1 else f"{number:.3g}"


def _file_link(item: dict[str, Any], scoring_url: str) -> Link:
    label = item.get("filename") or item.get("id") or item.get("evidence_id") or "evidence"
    href = item.get("download_url") or item.get("url") or item.get("href")
    if href and href.startswith("/"):
        href = scoring_url + href
    return Link(str(label), href)


def _step_note(step: dict[str, Any], record: dict[str, Any], lang: str) -> str:
    detail = step.get("detail") or {}
    parts = [step["reason"]] if step.get("reason") else []
    if step["step"] == "street_approved" and detail.get("quota") is not None:
        taken = detail.get("places_taken")
        parts.append(f"名额 {taken}/{detail['quota']}" if lang == "zh-CN" else f"places {taken} of {detail['quota']}")
        if detail.get("notice_ends_at"):
            until = beijing(detail["notice_ends_at"], lang)
            parts.append(f"公示至 {until}" if lang == "zh-CN" else f"notice until {until}")
    return "; ".join(parts)
