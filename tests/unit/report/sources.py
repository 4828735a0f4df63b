"""A small street as scoring's and activities' APIs answer it: two communities, one aspect with a
computed and an assessed leaf, a rectification task overdue, an honour selected through an objection."""

from __future__ import annotations

import copy
from typing import Any

from shared.report.model import Sources

REFERENCE = {
    "street_id": "hillside",
    "communities": [
        {"id": "north", "name_zh": "北岭", "name_en": "Northridge", "population": 1000},
        {"id": "south", "name_zh": "南湾", "name_en": "Southbay", "population": 3000},
    ],
}


def leaves(community: str) -> list[dict[str, Any]]:
    computed = {
        "id": "doing.participation", "kind": "computed", "name_zh": "居民参与率", "name_en": "Participation rate",
        "max": 8.0, "pass_line": 0.03, "target": 0.05, "value": 0.0125, "numerator": 50.0, "denominator": 4000,
        "denominator_kind": "population", "denominator_zh": "常住人口（参考数据）",
        "denominator_en": "reference population", "window": "28 days", "unit": "ratio",
        "how": "distinct attendees / reference population over 28 days", "score": 2.0,
    }  # fmt: skip
    assessed = {
        "id": "doing.plan", "kind": "assessed", "name_zh": "建设规划", "name_en": "Development plan", "max": 6.0,
        "pass_line": 4.5, "value": 5.0, "how": "latest expert assessment, else latest self-assessment",
        "assessed_by": "expert" if community != "street" else "mean_of_communities",
        "self_assessment": None if community == "street" else
        {"score": 5.5, "by": "ws-north", "role": "community_worker", "at": "2026-03-01T02:00:00+00:00"},
        "expert_assessment": None if community == "street" else
        {"score": 5.0, "by": "expert-li", "role": "assessor", "at": "2026-03-02T16:30:00+00:00"},
        "score": 5.0,
    }  # fmt: skip
    return [computed, assessed]


def detail(community: str) -> dict[str, Any]:
    name = {"street": ("山坡街道", "Hillside Street"), "north": ("北岭", "Northridge"), "south": ("南湾", "Southbay")}
    return {
        "indicators_version": "test-v1", "computed_at": "2026-12-05T07:02:07+00:00", "community_id": community,
        "name_zh": name[community][0], "name_en": name[community][1], "total": 7.0, "max": 14.0,
        "aspects": [{"id": "doing", "name_zh": "实施与成效", "name_en": "Implementation", "max": 14.0, "score": 7.0,
                     "indicators": leaves(community)}],
    }  # fmt: skip


RECTIFICATION_ITEM = {
    "indicator_id": "doing.participation", "aspect": "doing", "kind": "computed", "value": 0.0125,
    "pass_line": 0.03, "gap": 70, "action_zh": "4周内再增加 70 名不同的参与居民",
    "action_en": "70 more distinct attendees in 4 weeks",
}  # fmt: skip
TASK = {
    "task_id": "t-1", "community_id": "north", "indicator_id": "doing.participation", "owner_kind": "community",
    "owner": "north", "deadline": "2026-11-30", "status": "in_progress", "item": RECTIFICATION_ITEM,
    "opened_at": "2026-11-01T01:00:00+00:00", "updated_at": "2026-11-02T23:10:00+00:00", "overdue": True,
}  # fmt: skip
HONOUR = {
    "honour_id": "h-1", "kind": "knowledge_competition:quiz-2026", "period": "2026", "recipient_kind": "resident",
    "recipient_id": "440307199001011234", "community_id": "north", "state": "awarded", "place": 1,
    "name_zh": "知识竞赛获奖", "name_en": "Knowledge Competition Prize",
    "awarded_at": "2026-06-20T16:00:00+00:00", "nominated_at": "2026-06-01T02:00:00+00:00",
}  # fmt: skip
STEPS = [
    ("nominated", "street-op", "operator", "2026-06-01T02:00:00+00:00", "place 1 in the quiz", {}),
    ("community_approved", "ws-north", "community_worker", "2026-06-02T02:00:00+00:00", "", {}),
    ("street_approved", "street-op", "operator", "2026-06-03T02:00:00+00:00", "",
     {"quota": 3, "places_taken": 1, "notice_ends_at": "2026-06-10T02:00:00+00:00"}),
    ("objection_lodged", "resident-9", "resident", "2026-06-04T02:00:00+00:00", "did not take part", {}),
    ("objection_dismissed", "street-op", "operator", "2026-06-05T02:00:00+00:00", "sign-in sheet checked", {}),
    ("awarded", "notice", "system", "2026-06-20T16:00:00+00:00", "", {}),
]  # fmt: skip
ASSESSMENTS = [
    {"assessment_id": "a2", "indicator_id": "doing.plan", "community_id": "north", "score": 5.0,
     "evidence_text": "plan adopted by the committee", "evidence_url": "https://docs.example/plan.pdf",
     "assessor": "expert-li", "recorded_at": "2026-03-02T16:30:00+00:00", "kind": "expert"},
    {"assessment_id": "a1", "indicator_id": "doing.plan", "community_id": "north", "score": 5.5,
     "evidence_text": "our plan", "evidence_url": None, "assessor": "ws-north",
     "recorded_at": "2026-03-01T02:00:00+00:00", "kind": "self"},
]  # fmt: skip


def honour_names(kind: str, lang: str) -> str:
    names = {"knowledge_competition": {"zh-CN": "知识竞赛获奖", "en": "Knowledge Competition Prize"}}
    return names[kind.split(":")[0]][lang]


def sources(community: str | None = None, **changes: Any) -> Sources:
    scope = [community] if community else ["street", "north", "south"]
    record = {**HONOUR, "steps": [
        {"honour_id": "h-1", "step": s, "acted_by": by, "actor_role": role, "at": at, "reason": reason, "detail": d}
        for s, by, role, at, reason, d in STEPS], "objections": []}  # fmt: skip
    made = Sources(
        period="2026", community=community, reference=copy.deepcopy(REFERENCE),
        venues=[{"venue_id": "v1", "community_id": "north"}, {"venue_id": "v2", "community_id": "south"}],
        overview={"communities": [
            {"community_id": "north", "name_zh": "北岭", "name_en": "Northridge", "total": 9.0,
             "aspects": {"doing": 9.0}, "below_pass_line": 1},
            {"community_id": "south", "name_zh": "南湾", "name_en": "Southbay", "total": 5.0,
             "aspects": {"doing": 5.0}, "below_pass_line": 0},
            {"community_id": "street", "name_zh": "山坡街道", "name_en": "Hillside Street", "total": 7.0,
             "aspects": {"doing": 7.0}, "below_pass_line": 1}]},
        details={c: detail(c) for c in scope},
        rectification={c: ([dict(RECTIFICATION_ITEM, task=TASK)] if c == "north" else []) for c in scope},
        tasks=[dict(TASK)], assessments=copy.deepcopy(ASSESSMENTS), honours=[dict(HONOUR)],
        records={"h-1": record}, evidence_api=False, scoring_url="http://scoring.test",
    )  # fmt: skip
    for key, value in changes.items():
        setattr(made, key, value)
    return made
