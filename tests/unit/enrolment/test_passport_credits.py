"""The credits rule of the learning passport, as the street's credits file states it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.enrolment.adapters.passport import credits_file, load_credits_rule
from services.enrolment.domain.passport import AttendanceEntry, CreditsRule, CreditsRuleError, year_summaries

RULE = CreditsRule.from_mapping(
    {
        "version": "t",
        "timezone": "Asia/Shanghai",
        "hours_per_credit": 2,
        "step": 0.5,
        "min_minutes": 15,
        "cap_per_theme": 3,
        "caps": {"reading": 4},
        "cap_per_year": 6,
    }
)


def entry(minutes: int, at: datetime, theme: str = "health", n: int = 0) -> tuple[AttendanceEntry, str]:
    e = AttendanceEntry(f"a{n}-{minutes}-{at.isoformat()}", "r1", "s", "c", "v", "pinghu", theme, minutes, at)
    return e, theme


def test_one_credit_per_two_hours_rounded_down_to_half_credits():
    assert RULE.theme_credits("health", 120) == Decimal(1)
    assert RULE.theme_credits("health", 179) == Decimal("1.0")  # 1.49 credits -> 1
    assert RULE.theme_credits("health", 180) == Decimal("1.5")
    assert RULE.theme_credits("health", 59) == Decimal(0)


def test_caps_per_theme_with_overrides():
    assert RULE.theme_credits("health", 100 * 60) == Decimal(3)
    assert RULE.theme_credits("reading", 100 * 60) == Decimal(4)


def test_minutes_are_summed_per_theme_before_rounding_and_short_scans_earn_nothing():
    day = datetime(2026, 5, 1, 2, tzinfo=UTC)
    # 3 x 40 min = 120 min = 1 credit (rounding per attendance would give 3 x 0 = 0).
    entries = [entry(40, day, n=i) for i in range(3)] + [entry(10, day, n=9)]
    [year] = year_summaries(entries, RULE)
    assert year.year == 2026
    assert year.minutes == 130 and year.attendances == 4
    assert year.hours == Decimal("2.17")
    [health] = year.themes
    assert (health.minutes, health.credited_minutes, health.credits) == (130, 120, Decimal(1))


def test_year_is_the_local_date_and_the_year_cap_applies_to_the_sum():
    new_year_local = datetime(2025, 12, 31, 17, tzinfo=UTC)  # 2026-01-01 01:00 in Shanghai
    entries = [entry(600, new_year_local, "health"), entry(600, new_year_local, "reading"),
               entry(600, new_year_local, "arts"), entry(60 * 4, datetime(2025, 6, 1, tzinfo=UTC), "arts")]  # fmt: skip
    years = year_summaries(entries, RULE)
    assert [y.year for y in years] == [2026, 2025]
    y2026 = years[0]
    assert {t.theme: t.credits for t in y2026.themes} == {"arts": 3, "health": 3, "reading": 4}
    assert all(t.capped for t in y2026.themes if t.theme != "reading") and y2026.themes[2].capped
    assert y2026.credits == Decimal(6) and y2026.capped
    assert years[1].credits == Decimal(2) and not years[1].capped


def test_unthemed_attendance_counts_under_other():
    [year] = year_summaries([(entry(120, datetime(2026, 3, 1, tzinfo=UTC))[0], None)], RULE)
    assert year.themes[0].theme == "other" and year.credits == Decimal(1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hours_per_credit": 0}, "hours_per_credit"),
        ({"hours_per_credit": "two"}, "hours_per_credit"),
        ({"caps": {"reading": -1}}, "caps.reading"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"min_minutes": 1.5}, "min_minutes"),
        ({"credit_per_hour": 1}, "credit_per_hour"),
    ],
)
def test_a_malformed_rule_names_its_entry(change, field):
    data = {"hours_per_credit": 2, "cap_per_theme": 10, **change}
    with pytest.raises(CreditsRuleError) as error:
        CreditsRule.from_mapping(data)
    assert error.value.field == field


def test_the_shipped_pinghu_file_is_the_documented_rule():
    rule = load_credits_rule(credits_file("reference/pinghu", None))
    assert rule.hours_per_credit == 2 and rule.step == Decimal("0.5") and rule.min_minutes == 15
    assert rule.cap("reading") == 12 and rule.cap("health") == 10 and rule.cap_per_year == 40
    # 30 hours of reading in a year: 15 credits, capped at 12.
    assert rule.theme_credits("reading", 30 * 60) == 12
