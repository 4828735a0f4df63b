from __future__ import annotations

import pytest

from services.scoring.adapters.indicator_file import IndicatorFileError, parse_indicator_set
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.domain.indicators import METRICS, MetricValue
from services.scoring.domain.scoring import computed_score, score_community

SHIPPED = DEFAULT_INDICATORS.read_text(encoding="utf-8")


def small(total=10, metric="participation_rate_4w", amax=4):
    return f"""
version: test-v1
total: {total}
aspects:
  - id: a
    indicators:
      - {{id: a.rate, kind: computed, metric: {metric}, max: 6, target: 0.25, pass: 0.15}}
      - {{id: a.plan, kind: assessed, max: {amax}, pass: 3}}
"""


def test_shipped_file_has_the_five_aspects_and_adds_up_to_100():
    s = parse_indicator_set(SHIPPED)
    assert [a.id for a in s.aspects] == [
        "planning", "organisation", "learning_publicity", "conditions", "implementation"
    ]  # fmt: skip
    assert sum(a.max for a in s.aspects) == s.total == 100
    assert {i.metric for i in s.indicators.values() if i.metric} <= set(METRICS)


def test_maxima_that_do_not_add_up_are_refused_with_the_sums():
    with pytest.raises(IndicatorFileError, match=r"add up to 11, not total 10 \(a=11\)"):
        parse_indicator_set(small(amax=5))


def test_unknown_metric_is_refused_naming_it():
    with pytest.raises(IndicatorFileError, match="unknown metric 'happiness'"):
        parse_indicator_set(small(metric="happiness"))


def test_assessed_pass_line_above_max_is_refused():
    with pytest.raises(IndicatorFileError, match=r"pass line 3\.0 exceeds max 2\.0"):
        parse_indicator_set(small(total=8, amax=2))


def test_computed_score_is_max_times_capped_ratio():
    ind = parse_indicator_set(small()).indicators["a.rate"]
    assert computed_score(ind, 0.125) == 3.0
    assert computed_score(ind, 0.5) == 6.0
    assert computed_score(ind, 0.0) == 0.0


def test_lower_is_better_metric_scores_target_over_value_and_nothing_without_data():
    ind = parse_indicator_set(small(metric="no_show_rate")).indicators["a.rate"]
    assert computed_score(ind, 0.1) == 6.0
    assert computed_score(ind, 0.5) == 3.0
    assert computed_score(ind, 0.0, has_data=False) == 0.0


def test_rectification_names_the_gap_in_attendees_and_unassessed_indicators():
    s = parse_indicator_set(small())
    view = score_community(s, {"participation_rate_4w": MetricValue(188, 3333)}, {"a.plan": 3.5})
    assert view["total"] == round(6 * (188 / 3333) / 0.25 + 3.5, 4)
    items = {i["indicator_id"]: i for i in view["rectification"]}
    # 0.15 × 3333 = 499.95 → 500 distinct attendees needed, 312 more.
    assert items["a.rate"]["gap"] == 312
    assert items["a.rate"]["action_en"] == "312 more distinct attendees in 4 weeks"
    assert "312" in items["a.rate"]["action_zh"]
    assert "a.plan" not in items
    view = score_community(s, {}, {})
    assert view["rectification"][1]["action_en"].startswith("not assessed yet")


def test_an_indicator_with_nothing_to_measure_asks_for_the_activity_not_for_zero_more():
    s = parse_indicator_set(small(metric="no_show_rate"))
    view = score_community(s, {"no_show_rate": MetricValue(0, 0)}, {"a.plan": 3.5})
    items = {i["indicator_id"]: i for i in view["rectification"]}
    assert items["a.rate"]["gap"] == 0
    assert items["a.rate"]["action_en"] == "nothing to measure yet: hold and record the activity first"
    assert items["a.rate"]["action_zh"].startswith("尚无可统计的数据")
