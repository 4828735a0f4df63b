"""The self-assessment report shows the names scoring's API gives, never ids or honour kinds."""

from __future__ import annotations

from datetime import UTC, datetime

from deploy.demo import report


def test_report_names_come_from_the_api():
    leaf = {"id": "a.plan", "kind": "assessed", "name_zh": "规划", "name_en": "Plan", "max": 4, "score": 1,
            "pass_line": 3, "value": 1}  # fmt: skip
    street = {"name_zh": "某街道", "name_en": "Some Street", "total": 1, "max": 4, "indicators_version": "t",
              "aspects": [{"id": "a", "name_zh": "方面", "name_en": "Aspect", "max": 4, "score": 1,
                           "indicators": [leaf]}]}  # fmt: skip
    community = {"community_id": "c1", "name_zh": "一社区", "name_en": "First", "total": 1, "aspects_by_id": {"a": 1}}
    honour = {"kind": "knowledge_competition:q1", "name_zh": "知识竞赛获奖", "name_en": "Knowledge Competition Prize",
              "period": "2026", "recipient_kind": "resident", "recipient_id": "r1", "community_id": "c1"}  # fmt: skip
    html = report.render(street=street, communities=[community], rectification={"c1": [{"indicator_id": "a.plan"}]},
                         assessments=[], honours=[honour], generated_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    for shown in (
        "某街道",
        "Some Street",
        "一社区",
        "First",
        "方面",
        "规划",
        "知识竞赛获奖",
        "Knowledge Competition Prize",
    ):
        assert shown in html
    assert "knowledge_competition" not in html and "平湖" not in html
