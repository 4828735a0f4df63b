"""The rules of organisation and family nominations, competitions set up with rounds and places,
volunteer service hours and Excellent Volunteer (issue 14), as pure functions, and the indicator
file's reading of them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from services.scoring.adapters.indicator_file import IndicatorFileError, load_indicator_file, parse_indicator_set
from services.scoring.domain import organisations as org
from services.scoring.domain import volunteering as vol
from services.scoring.domain.competitions import Competition, check_results
from services.scoring.domain.honours import KINDS
from services.scoring.domain.selection import Refused
from shared.reference import load_reference

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "services/scoring/indicators/shenzhen-learning-street-v1.yaml"
TODAY = date(2026, 12, 5)


def _refused(call, field: str, *, conflict: bool = False) -> str:
    with pytest.raises(Refused) as e:
        call()
    assert (e.value.field, e.value.conflict) == (field, conflict)
    return e.value.reason


# --- organisations and nominations -----------------------------------------------------------------

BRANCH = org.Organisation("pb-1", org.PARTY_ORGANISATION, "hehua")
FIRM = org.Organisation("ent-1", org.ENTERPRISE, "hehua")


def test_an_advanced_party_organisation_is_a_registered_party_organisation_of_the_nominating_community():
    assert org.check_organisation_nomination(org.ADVANCED_PARTY_ORGANISATION, "hehua", BRANCH) == "employer"
    assert "registered as enterprise" in _refused(
        lambda: org.check_organisation_nomination(org.ADVANCED_PARTY_ORGANISATION, "hehua", FIRM), "recipient_id"
    )
    _refused(lambda: org.check_organisation_nomination(org.ADVANCED_PARTY_ORGANISATION, "hehua", None), "recipient_id")
    _refused(
        lambda: org.check_organisation_nomination(org.ADVANCED_PARTY_ORGANISATION, "xinmu", BRANCH), "community_id"
    )


def test_any_registered_organisation_may_be_a_learning_organisation_but_not_a_family():
    for kind in org.ORGANISATION_KINDS:
        unit = org.Organisation("u", kind, "hehua")
        assert org.check_organisation_nomination(org.LEARNING_ORGANISATION, "hehua", unit) == "employer"
    _refused(lambda: org.check_family_nomination(org.LEARNING_ORGANISATION, "hehua", ["hehua"]), "recipient_id")


def test_a_most_beautiful_family_has_registered_members_in_the_nominating_community():
    assert org.check_family_nomination(org.MOST_BEAUTIFUL_FAMILY, "hehua", ["hehua", "hehua"]) == "family"
    _refused(lambda: org.check_family_nomination(org.MOST_BEAUTIFUL_FAMILY, "hehua", []), "recipient_id")
    _refused(lambda: org.check_family_nomination(org.MOST_BEAUTIFUL_FAMILY, "xinmu", ["hehua"]), "community_id")
    _refused(lambda: org.check_organisation_nomination(org.MOST_BEAUTIFUL_FAMILY, "hehua", BRANCH), "recipient_id")


def test_rule_and_competition_honours_are_not_nominated_by_people():
    assert "nominated by rules" in _refused(
        lambda: org.check_family_nomination("learning_star", "hehua", ["hehua"]), "kind"
    )


def test_registration_names_a_known_kind_and_community():
    org.check_registration(org.SOCIAL_ORGANISATION, "hehua", {"hehua"})
    _refused(lambda: org.check_registration("club", "hehua", {"hehua"}), "kind")
    _refused(lambda: org.check_registration(org.UNIT, "mars", {"hehua"}), "community_id")


def test_every_honour_kind_has_its_name_in_both_languages():
    names = load_reference(ROOT / "reference/pinghu")
    for kind in KINDS:
        assert kind in names.honours, kind
        assert names.honours[kind]["zh-CN"] and names.honours[kind]["en"], kind
    assert names.honour_name(org.MOST_BEAUTIFUL_FAMILY, "zh-CN") == "最美家庭"
    assert names.honour_name(org.ADVANCED_PARTY_ORGANISATION, "zh-CN") == "先进基层党组织"
    assert names.honour_name(org.LEARNING_ORGANISATION, "en") == "Learning-type Organisation"


def test_the_shipped_file_gives_the_nominated_kinds_places():
    selection = load_indicator_file(SHIPPED).selection
    for kind in org.NOMINATED_KINDS:
        assert selection.quota(kind, "hehua") >= 1, kind


# --- competitions ----------------------------------------------------------------------------------

QUIZ = Competition("quiz", "知识竞赛", "Quiz", rounds=2, places=3)


def test_results_name_a_set_up_competition_a_round_of_it_and_a_rank_within_its_places():
    check_results(QUIZ, "quiz", 2, [1, 2, 3])
    _refused(lambda: check_results(None, "quiz", 1, [1]), "competition_id")
    assert "rounds 1 to 2" in _refused(lambda: check_results(QUIZ, "quiz", 3, [1]), "round")
    assert "places 1 to 3, not 4" in _refused(lambda: check_results(QUIZ, "quiz", 1, [1, 4]), "results.1.place")


def test_the_same_set_up_is_recognised_and_another_is_not():
    assert QUIZ.same_setup(Competition("quiz", "知识竞赛", "Quiz", 2, 3))
    assert not QUIZ.same_setup(Competition("quiz", "知识竞赛", "Quiz", 2, 4))


# --- volunteer service -----------------------------------------------------------------------------


def test_service_hours_are_a_positive_part_of_a_past_day():
    vol.check_service(3.5, TODAY, TODAY, 0)
    vol.check_service(24, TODAY - timedelta(days=30), TODAY, 0)
    _refused(lambda: vol.check_service(-2, TODAY, TODAY, 0), "hours")
    _refused(lambda: vol.check_service(0, TODAY, TODAY, 0), "hours")
    assert "a day has 24 hours, not 25" in _refused(lambda: vol.check_service(25, TODAY, TODAY, 0), "hours")
    assert "in the future" in _refused(lambda: vol.check_service(2, TODAY + timedelta(days=1), TODAY, 0), "day")
    _refused(lambda: vol.check_service(2, TODAY - timedelta(days=400), TODAY, 0), "day")


def test_one_day_holds_no_more_than_24_hours_of_one_volunteer_across_records():
    vol.check_service(4, TODAY, TODAY, 20)
    assert "20 hours are already recorded" in _refused(lambda: vol.check_service(5, TODAY, TODAY, 20), "hours")


def test_a_coordinator_confirms_or_rejects_with_a_reason_once():
    assert vol.decide(vol.RECORDED, "confirmed", None) == vol.CONFIRMED
    assert vol.decide(vol.RECORDED, "rejected", "no sign-in sheet") == vol.REJECTED
    _refused(lambda: vol.decide(vol.RECORDED, "rejected", " "), "reason")
    _refused(lambda: vol.decide(vol.CONFIRMED, "rejected", "late"), "state", conflict=True)
    _refused(lambda: vol.decide(vol.REJECTED, "confirmed", None), "state", conflict=True)


@pytest.mark.parametrize(
    ("teaching", "service", "either", "candidate"),
    [
        (20, 0, True, True),
        (0, 40, True, True),
        (19.9, 39.9, True, False),
        (20, 0, False, False),
        (0, 40, False, False),
        (20, 40, False, True),
    ],
)
def test_excellent_volunteer_by_teaching_or_confirmed_service_hours(teaching, service, either, candidate):
    rule = vol.VolunteerRule(min_teaching_hours=20, min_service_hours=40, either=either)
    assert vol.excellent_volunteer(teaching, service, rule) is candidate


def test_the_indicator_file_sets_the_excellent_volunteer_rule():
    rules = load_indicator_file(SHIPPED).honours
    assert (rules.volunteer_min_teaching_hours, rules.volunteer_min_service_hours, rules.volunteer_either) == (
        20, 40, True)  # fmt: skip
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "excellent_volunteer: {min_teaching_hours: 20, min_service_hours: 40, either: true}",
        "excellent_volunteer: {min_teaching_hours: 10, min_service_hours: 30, either: false}",
    )
    rules = parse_indicator_set(text).honours
    assert (rules.volunteer_min_service_minutes, rules.volunteer_either) == (1800, False)
    with pytest.raises(IndicatorFileError, match="either must be true or false"):
        parse_indicator_set(text.replace("either: false", "either: sometimes"))
