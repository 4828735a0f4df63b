"""The period close (issue 14): the previous period takes late data until its close date from the
indicator file; after it a late attendance counts on its arrival day, with a note."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.scoring.adapters import repository
from services.scoring.adapters.indicator_file import IndicatorFileError, load_indicator_file, parse_indicator_set
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.domain.honours import HonourRules
from services.scoring.domain.periods import PeriodRules, annotate_late, parse_periods
from services.scoring.domain.scoring import score_community
from services.scoring.domain.selection import SelectionRules
from services.scoring.service_layer import handlers
from services.scoring.service_layer.index import IndexEngine
from shared.reference import load_reference

RULES = PeriodRules(close_after_days=31)


def test_the_previous_period_stays_open_until_its_close_date():
    assert RULES.closes_on("2026") == date(2027, 2, 1)
    assert RULES.open_periods(date(2027, 1, 10)) == ["2026", "2027"]
    assert RULES.open_periods(date(2027, 1, 31)) == ["2026", "2027"]
    assert RULES.open_periods(date(2027, 2, 1)) == ["2027"]
    assert RULES.to_freeze(date(2027, 1, 31)) is None
    assert RULES.to_freeze(date(2027, 2, 1)) == "2026"


def test_attendance_of_last_year_syncing_before_the_close_counts_in_last_year():
    assert RULES.counted_day(date(2026, 12, 30), date(2027, 1, 20)) == (date(2026, 12, 30), False)


def test_attendance_arriving_after_the_close_counts_on_its_arrival_day():
    assert RULES.counted_day(date(2026, 12, 30), date(2027, 2, 1)) == (date(2027, 2, 1), True)
    assert RULES.counted_day(date(2027, 3, 1), date(2027, 3, 5)) == (date(2027, 3, 1), False)


def test_an_explicit_close_date_per_period_wins():
    rules = parse_periods({"close_after_days": 10, "close": {"2026": date(2027, 3, 15)}})
    assert rules.closes_on("2026") == date(2027, 3, 15)
    assert rules.closes_on("2025") == date(2026, 1, 11)
    for bad in ({"close_after_days": -1}, {"close_after_days": True}, {"close": {"2026": date(2026, 6, 1)}},
                {"unknown": 1}, "31", {"first": 1}, {"first": "2010"}, {"first": True}):  # fmt: skip
        with pytest.raises(ValueError):
            parse_periods(bad)


def test_the_street_records_begin_in_a_configured_year():
    assert parse_periods({"first": 2015}).first == 2015
    assert parse_periods({}).first == 2010


def test_the_indicator_file_sets_the_close_and_refuses_a_wrong_one():
    text = DEFAULT_INDICATORS.read_text(encoding="utf-8")
    assert parse_indicator_set(text).periods == PeriodRules(31, first=2010)
    with pytest.raises(IndicatorFileError, match="close_after_days"):
        parse_indicator_set(text.replace("close_after_days: 31", "close_after_days: many"))


def test_values_counting_attendance_carry_the_late_note_in_both_languages():
    indicators = parse_indicator_set(DEFAULT_INDICATORS.read_text(encoding="utf-8"))
    view = annotate_late(score_community(indicators, {}, {}), 3, "2027", RULES)
    assert view["late_counted"] == 3 and "2026" in view["late_en"] and "迟到" in view["late_zh"]
    leaves = {leaf["id"]: leaf for a in view["aspects"] for leaf in a["indicators"]}
    assert leaves["implementation.participation_12m"]["late_counted"] == 3
    assert "late_counted" not in leaves["organisation.enrolment_fill"]
    assert annotate_late(score_community(indicators, {}, {}), 0, "2027", RULES)["late_counted"] == 0


async def test_in_january_the_rule_pass_nominates_for_last_year_too(monkeypatch):
    """Attendance of last year synced after 1 January still leads to last year's honours: until
    the close, the leader's rule pass evaluates last year beside this one (it evaluated only the
    period of the real clock before)."""
    seen: list = []

    async def evaluate(uow, rules, chosen, now, periods=None):
        seen.append(periods)
        return 0

    monkeypatch.setattr(handlers, "evaluate_honours", evaluate)
    engine = IndexEngine(load_indicator_file(DEFAULT_INDICATORS), load_reference("reference/pinghu"),
                         clock=lambda: datetime(2031, 1, 20, 2, tzinfo=UTC))  # fmt: skip
    await engine.award_honours()
    assert {"2030", "2031"} <= set(seen[-1])
    engine.clock = lambda: datetime(2031, 2, 1, 2, tzinfo=UTC)  # closed on 1 February: 2030 is final
    await engine.award_honours()
    assert "2030" not in seen[-1] and "2031" in seen[-1]


class _Uow:
    conn = None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    async def commit(self):
        pass


async def test_the_rule_pass_runs_for_each_open_period(monkeypatch):
    periods: list[str] = []

    async def award(conn, period, rules, *, state, at):
        periods.append(period)
        return []

    async def no_steps(conn, steps):
        return None

    monkeypatch.setattr(repository, "award_rule_honours", award)
    monkeypatch.setattr(repository, "add_steps", no_steps)
    now = datetime(2031, 1, 20, tzinfo=UTC)
    await handlers.evaluate_honours(_Uow, HonourRules(), SelectionRules(), now, periods=["2030", "2031"])
    assert periods == ["2030", "2031"]
    await handlers.evaluate_honours(_Uow, HonourRules(), SelectionRules(), now)
    assert periods[2:] == ["2031"]
