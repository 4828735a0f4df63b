"""The indicator file names every computed leaf's denominator and may give the street its own
targets (issue 14, "The index"); the index names what each value is divided by."""

from __future__ import annotations

import pytest

from services.scoring.adapters.indicator_file import IndicatorFileError, parse_indicator_set
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.domain.indicators import DENOMINATORS, METRICS, MetricValue
from services.scoring.domain.scoring import score_community

SHIPPED = parse_indicator_set(DEFAULT_INDICATORS.read_text(encoding="utf-8"))


def one_leaf(leaf: str) -> str:
    return f"""
version: test-v1
total: 10
aspects:
  - id: a
    indicators:
      - {{id: a.x, kind: computed, max: 10, {leaf}}}
"""


def test_every_shipped_computed_leaf_states_a_denominator_its_metric_allows():
    text = DEFAULT_INDICATORS.read_text(encoding="utf-8")
    for ind in SHIPPED.indicators.values():
        if ind.metric:
            assert ind.denominator in METRICS[ind.metric].denominators, ind.id
            assert f"id: {ind.id}, kind: computed, metric: {ind.metric}, denominator: {ind.denominator}" in text


def test_resident_rates_divide_by_the_reference_population_by_default():
    for metric in ("participation_rate_4w", "participation_rate_12m", "learning_hours_per_resident"):
        assert METRICS[metric].denominator == "population"
        assert SHIPPED.denominators[metric] == "population"


def test_a_denominator_the_metric_cannot_use_is_refused():
    with pytest.raises(IndicatorFileError, match="denominator 'population' is not one of audience_coverage's"):
        parse_indicator_set(one_leaf("metric: audience_coverage, denominator: population, target: 1, pass: 0.5"))


def test_registered_residents_is_a_choice_for_a_rate_that_means_registration():
    s = parse_indicator_set(
        one_leaf("metric: participation_rate_12m, denominator: registered_residents, target: 0.5, pass: 0.2")
    )
    assert s.denominators == {"participation_rate_12m": "registered_residents"}
    leaf = score_community(s, {"participation_rate_12m": MetricValue(10, 40)}, {})["aspects"][0]["indicators"][0]
    assert (leaf["denominator_kind"], leaf["denominator_en"]) == (
        "registered_residents",
        DENOMINATORS["registered_residents"][0],
    )
    assert "residents registered on the platform" in leaf["how"]


def test_the_street_is_scored_on_its_own_targets():
    s = parse_indicator_set(
        one_leaf("metric: volunteer_teaching_hours, target: {community: 500, street: 6000}, "
                 "pass: {community: 200, street: 2400}")
    )  # fmt: skip
    hours = {"volunteer_teaching_hours": MetricValue(1000, 1)}
    community = score_community(s, hours, {})
    street = score_community(s, hours, {}, "street")
    # 1,000 hours fill a community's target; the street (twelve communities) needs 6,000.
    assert community["total"] == 10
    assert street["total"] == pytest.approx(10 * 1000 / 6000, abs=1e-4)
    assert [r["indicator_id"] for r in street["rectification"]] == ["a.x"]
    assert community["rectification"] == []


def test_shipped_absolute_targets_differ_per_level():
    for leaf in ("learning_publicity.honours", "conditions.volunteer_teaching"):
        ind = SHIPPED.indicators[leaf]
        assert ind.at("street").target > ind.at("community").target


def test_a_target_per_level_needs_both_levels():
    with pytest.raises(IndicatorFileError, match="per level needs exactly community, street"):
        parse_indicator_set(one_leaf("metric: honours_awarded, target: {street: 10}, pass: 1"))
