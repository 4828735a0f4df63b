"""The satisfaction indicator (满意度): in the shipped index file, in the implementation aspect, a
ratio of satisfied ratings (4 or 5) over ratings; bounded to its maximum; no rating scores 0 and
stands in the rectification list, never as perfect."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.adapters.indicator_file import load_indicator_file
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.domain.indicators import DENOMINATORS, METRICS, SATISFIED_FROM, MetricValue
from services.scoring.domain.scoring import score_community

LEAF = "implementation.satisfaction"
SHIPPED = load_indicator_file(DEFAULT_INDICATORS)  # once: parsing it per Hypothesis example is slow


@pytest.fixture(scope="module")
def indicators():
    return SHIPPED


def leaf(view: dict) -> dict:
    return next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == LEAF)


def test_the_shipped_file_scores_satisfaction_in_implementation_with_its_denominator(indicators):
    ind = indicators.indicators[LEAF]
    assert ind.aspect == "implementation" and ind.metric == "session_satisfaction"
    assert ind.denominator == "session_ratings" and "session_ratings" in DENOMINATORS
    assert METRICS["session_satisfaction"].unit == "ratio" and SATISFIED_FROM == 4
    assert sum(a.max for a in indicators.aspects) == indicators.total == 100


def test_no_rating_is_not_perfect(indicators):
    view = score_community(indicators, {"session_satisfaction": MetricValue(0, 0)}, {})
    got = leaf(view)
    assert got["score"] == 0 and got["denominator"] == 0 and got["value"] == 0
    assert LEAF in {r["indicator_id"] for r in view["rectification"]}


def test_satisfied_ratings_over_ratings(indicators):
    got = leaf(score_community(indicators, {"session_satisfaction": MetricValue(9, 10)}, {}))
    assert got["value"] == 0.9 and got["score"] == indicators.indicators[LEAF].max
    assert got["denominator_kind"] == "session_ratings"
    half = leaf(score_community(indicators, {"session_satisfaction": MetricValue(45, 100)}, {}))
    assert half["score"] == pytest.approx(indicators.indicators[LEAF].max * 0.5)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_the_score_stays_within_0_and_its_max(satisfied, ratings):
    s = SHIPPED
    satisfied = min(satisfied, ratings)  # the numerator counts members of the denominator
    got = leaf(score_community(s, {"session_satisfaction": MetricValue(satisfied, ratings)}, {}))
    assert 0 <= got["value"] <= 1
    assert 0 <= got["score"] <= s.indicators[LEAF].max
