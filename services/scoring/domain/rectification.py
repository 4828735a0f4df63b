"""Rectification (整改): how much would lift a leaf below its pass line to it, in words an operator acts on."""

from __future__ import annotations

import math

from services.scoring.domain.indicators import METRICS, Indicator, MetricValue


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


def assessed_gap(ind: Indicator, assessed: float | None) -> tuple[float, str, str]:
    """How many points an assessed leaf lacks to its pass line, with the words for it."""
    if assessed is None:
        return (
            round(ind.pass_line, 4),
            "尚未评估：请专家录入评分与佐证材料",
            "not assessed yet: an assessor should record a score with evidence",
        )
    missing = ind.pass_line - assessed
    return (
        round(missing, 4),
        f"专家评分需再提高 {missing:g} 分：补充佐证材料后复评",
        f"{missing:g} more points from the experts: add evidence, reassess",
    )
