"""The report's content from the services' answers: names not codes, Beijing time, denominators,
self and expert assessments, rectification tasks and honours with their selection record."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.report import model, render
from tests.unit.report.sources import sources

NOW = datetime(2026, 12, 5, 7, 2, tzinfo=UTC)


def page(lang: str = "zh-CN", **kw) -> str:
    made = sources(**kw)
    return render.render(model.build(made, lang=lang, honour_name=_names, generated_at=NOW))


def _names(kind: str, lang: str) -> str:
    from tests.unit.report.sources import honour_names

    return honour_names(kind, lang)


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_names_are_shown_never_codes(lang):
    shown = text_of(page(lang))
    zh = lang == "zh-CN"
    for name in (["山坡街道", "北岭", "南湾", "实施与成效", "居民参与率", "建设规划", "知识竞赛获奖"] if zh else
                 ["Hillside Street", "Northridge", "Southbay", "Implementation", "Participation rate",
                  "Development plan", "Knowledge Competition Prize"]):  # fmt: skip
        assert name in shown
    for code in ("north", "south", "hillside", "doing.plan", "doing.participation", "knowledge_competition",
                 "community_approved", "in_progress", "community_worker"):  # fmt: skip
        assert not re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w.-])", shown), code


def test_every_timestamp_is_beijing_time():
    html = page()
    # 2026-03-02T16:30Z is the next morning in Beijing
    assert "2026-03-03 00:30 北京时间" in html
    assert "2026-12-05 15:02 北京时间" in html  # generated
    assert "2026-12-05 15:02 北京时间" in html
    assert "+00:00" not in html and "T16:30" not in html
    assert "2026-03-03 00:30 Beijing time" in page("en")


def test_a_timestamp_without_zone_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="zone"):
        model.beijing("2026-03-02T16:30:00", "en")


def test_each_value_names_its_denominator():
    shown = text_of(page())
    assert "1.2%" in shown and "50 / 4,000 常住人口（参考数据） · 近28天" in shown
    assert "满分 6 分" in shown
    shown_en = text_of(page("en"))
    assert "50 / 4,000 reference population · 28 days" in shown_en and "out of 6 points" in shown_en


def test_self_and_expert_assessments_both_shown_with_who_and_when():
    report = model.build(sources(), lang="en", honour_name=_names, generated_at=NOW)
    north = [a for a in report.assessed if a.community == "Northridge"]
    assert len(north) == 1
    assert north[0].self_mark == model.Mark(5.5, "community workstation Northridge", "2026-03-01 10:00 Beijing time")
    assert north[0].expert_mark == model.Mark(5.0, "assessor expert-li", "2026-03-03 00:30 Beijing time")
    assert north[0].counted == "expert assessment"
    assert [link.href for link in north[0].evidence] == ["https://docs.example/plan.pdf", None]


def test_evidence_files_are_linked_when_scoring_gives_them_and_tolerated_when_not():
    made = sources(evidence_api=True)
    leaf = made.details["north"]["aspects"][0]["indicators"][1]
    leaf["evidence"] = [{"id": "e1", "filename": "plan.pdf", "url": "/v1/evidence/e1/content"}]
    html = render.render(model.build(made, lang="en", honour_name=_names, generated_at=NOW))
    assert '<a href="http://scoring.test/v1/evidence/e1/content">plan.pdf</a>' in html
    assert 'href="http://scoring.test/v1/evidence?indicator_id=doing.plan&amp;community_id=north"' in html
    assert "/v1/evidence" not in page("en")  # no evidence API, no link to it


def test_rectification_shows_task_status_owner_deadline_and_overdue():
    report = model.build(sources(), lang="zh-CN", honour_name=_names, generated_at=NOW)
    (row,) = report.rectification
    assert (row.community, row.indicator, row.status, row.owner, row.deadline, row.overdue) == (
        "北岭", "居民参与率", "整改中", "社区工作站 北岭", "2026-11-30", True)  # fmt: skip
    assert "已逾期" in page()
    (task,) = report.tasks
    assert task.updated == "2026-11-03 07:10 北京时间"


def test_below_the_pass_line_is_what_scorings_rectification_list_says():
    report = model.build(sources("north"), lang="en", honour_name=_names, generated_at=NOW)
    below = {leaf.name: leaf.below for leaf in report.aspects[0].leaves}
    assert below == {"Participation rate": True, "Development plan": False}


def test_honour_with_its_selection_record_through_an_objection():
    report = model.build(sources(), lang="en", honour_name=_names, generated_at=NOW)
    (record,) = report.honour_records
    assert record.name == "Knowledge Competition Prize" and record.community == "Northridge"
    assert record.recipient == "resident ******1234 · place 1"  # never the whole card number
    assert [(s.what, s.who) for s in record.steps] == [
        ("nominated", "street operator street-op"),
        ("community approved", "community workstation Northridge"),
        ("street approved, notice starts", "street operator street-op"),
        ("objection lodged", "resident resident-9"),
        ("objection dismissed", "street operator street-op"),
        ("notice over, awarded", "system (end of the notice period)"),
    ]
    assert record.steps[2].note == "places 1 of 3; notice until 2026-06-10 10:00 Beijing time"
    assert record.steps[4].note == "sign-in sheet checked"
    assert "440307199001011234" not in page("en")


def test_a_community_report_covers_that_community_only():
    report = model.build(sources("north"), lang="zh-CN", honour_name=_names, generated_at=NOW)
    assert report.scope == "北岭" and not report.is_street
    assert [c.name for c in report.communities] == ["北岭"]
    assert "北岭学习型街道建设自评报告（2026年度）" in page(community="north")


def test_the_page_is_self_contained_and_prints_with_page_breaks():
    html = page()
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "@page" in html and "break-before: page" in html and "<svg" in html
    assert '<html lang="zh-CN">' in html and '<html lang="en">' in page("en")


def test_aspect_bars_are_scaled_to_their_maximum():
    svg = render.bars([("a", 5.0, 10.0), ("b", 30.0, 10.0)], width=300, label_w=100)
    widths = re.findall(r'<rect x="100" y="\d+" width="([\d.]+)" height="18" fill="#2563eb"', svg)
    assert widths == ["55.0", "110.0"]  # half, and capped at full


@pytest.mark.parametrize("text", ["2026x", "26", "20266", "1999", "last year", ""])
def test_a_period_that_is_not_a_year_is_refused(text):
    with pytest.raises(ValueError, match="year"):
        model.parse_period(text)


def test_a_year_is_a_period_and_languages_are_the_two_of_the_reference_data():
    assert model.parse_period("2026") == "2026"
    with pytest.raises(ValueError, match="zh-CN, en"):
        model.parse_language("fr")


def test_the_chinese_report_says_how_each_leaf_is_scored_in_chinese():
    leaves = model.build(sources("north"), lang="zh-CN", honour_name=_names, generated_at=NOW).aspects[0].leaves
    assert leaves[0].how == "得分 = 满分 × min(1, 数值 ÷ 目标值)，目标值 5.0%"
    assert leaves[1].how.startswith("以最新专家评估计分，无专家评估时取最新自评")
    assert model.build(sources("north"), lang="en", honour_name=_names, generated_at=NOW).aspects[0].leaves[0].how == (
        "distinct attendees / reference population over 28 days"
    )
