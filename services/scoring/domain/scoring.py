"""Scoring one community (or the street): each leaf's score from its metric or assessment, the
aspects' sums, and the rectification list of leaves below their pass line."""

from __future__ import annotations

from typing import Any

from services.scoring.domain.assessment import EXPERT, SELF, effective
from services.scoring.domain.indicators import DENOMINATORS, METRICS, Indicator, IndicatorSet, MetricValue
from services.scoring.domain.rectification import assessed_gap, gap


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


def score_community(
    indicators: IndicatorSet,
    metrics: dict[str, MetricValue],
    assessments: dict[str, float],
    level: str = "community",
    assessment_kinds: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The index of one community (or, with level "street", the street's, on the street's targets):
    aspects, leaves with how each value was computed and what it is divided by, and the
    rectification list (leaves below their pass line). `assessments`: the score each assessed leaf
    counts with (domain/assessment.py `effective`); `assessment_kinds`: per leaf, the latest of each
    kind (self, expert), shown beside it (absent for the street's mean of its communities)."""
    kinds = assessment_kinds or {}
    aspects_out, rectification = [], []
    total = 0.0
    for aspect in indicators.aspects:
        leaves, aspect_score = [], 0.0
        for ind in (i.at(level) for i in aspect.indicators):
            leaf: dict[str, Any] = {"id": ind.id, "kind": ind.kind, "name_zh": ind.name_zh, "name_en": ind.name_en,
                                    "max": ind.max, "pass_line": ind.pass_line}  # fmt: skip
            if ind.kind == "computed":
                mv = metrics.get(ind.metric, MetricValue(0, 0))
                m = METRICS[ind.metric]
                per = ind.denominator or m.denominator
                per_en, per_zh = DENOMINATORS[per]
                how = f"{m.numerator} / {per_en} over {m.window}; score = max × min(1, %s)" % (
                    "target/value" if m.lower_is_better else "value/target"
                )
                score = computed_score(ind, mv.value, mv.denominator > 0)
                leaf.update(metric=ind.metric, target=ind.target, value=round(mv.value, 6), numerator=mv.numerator,
                            denominator=mv.denominator, denominator_kind=per, denominator_en=per_en,
                            denominator_zh=per_zh, window=m.window, unit=m.unit, how=how)  # fmt: skip
                if below_pass(ind, mv.value, mv.denominator > 0):
                    amount, zh, en = gap(ind, mv)
                    rectification.append({"indicator_id": ind.id, "aspect": aspect.id, "kind": "computed",
                                          "value": round(mv.value, 6), "pass_line": ind.pass_line,
                                          "gap": amount, "action_zh": zh, "action_en": en})  # fmt: skip
            else:
                assessed = assessments.get(ind.id)
                score = min(ind.max, assessed) if assessed is not None else 0.0
                latest = kinds.get(ind.id, {})
                source = effective(latest)[1] if latest else ("mean_of_communities" if assessed is not None else None)
                leaf.update(value=assessed, how="latest expert assessment, else latest self-assessment, with evidence",
                            assessed_by=source, self_assessment=latest.get(SELF),
                            expert_assessment=latest.get(EXPERT))  # fmt: skip
                if assessed is None or assessed < ind.pass_line:
                    amount, zh, en = assessed_gap(ind, assessed)
                    rectification.append({"indicator_id": ind.id, "aspect": aspect.id, "kind": "assessed",
                                          "value": assessed, "pass_line": ind.pass_line, "gap": amount,
                                          "action_zh": zh, "action_en": en})  # fmt: skip
            leaf["score"] = round(score, 4)
            aspect_score += score
            leaves.append(leaf)
        aspects_out.append({"id": aspect.id, "name_zh": aspect.name_zh, "name_en": aspect.name_en,
                            "max": aspect.max, "score": round(aspect_score, 4), "indicators": leaves})  # fmt: skip
        total += aspect_score
    return {"total": round(total, 4), "max": indicators.total, "aspects": aspects_out, "rectification": rectification}
