"""Survey and satisfaction rules (services/activities/domain/surveys.py): questions checked at
publication, answers checked against their question's kind with the field named, the results'
response rate bounded, the needs ranking weighted by low ratings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.activities.domain import model
from services.activities.domain import surveys as s
from services.activities.domain.model import RuleViolated

OPTIONS = [{"id": "a", "label_zh": "甲", "label_en": "A"}, {"id": "b", "label_zh": "乙", "label_en": "B"}]
QUESTIONS = [
    {"id": "q1", "kind": "single", "title_zh": "一", "title_en": "One", "options": OPTIONS},
    {"id": "q2", "kind": "multiple", "title_zh": "二", "title_en": "Two", "options": OPTIONS},
    {"id": "q3", "kind": "scale", "title_zh": "三", "title_en": "Three", "scale_max": 5},
    {"id": "q4", "kind": "text", "title_zh": "四", "title_en": "Four", "required": False},
]


def refused(fn, *args) -> str:
    with pytest.raises(RuleViolated) as e:
        fn(*args)
    return e.value.field


def test_questions_of_every_kind_are_parsed():
    qs = s.parse_questions(QUESTIONS)
    assert [q.kind for q in qs] == ["single", "multiple", "scale", "text"]
    assert qs[0].options[1] == s.Option("b", "乙", "B") and qs[2].scale_max == 5 and not qs[3].required


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda q: q.append({**q[0]}), "questions[4].id"),  # duplicate question id
        (lambda q: q[1].update(options=[OPTIONS[0], OPTIONS[0]]), "questions[1].options[1].id"),
        (lambda q: q[0].update(options=OPTIONS[:1]), "questions[0].options"),
        (lambda q: q[0].update(kind="ranking"), "questions[0].kind"),
        (lambda q: q[2].update(scale_max=11), "questions[2].scale_max"),
        (lambda q: q[2].update(scale_max=True), "questions[2].scale_max"),
        (lambda q: q[3].update(scale_max=5), "questions[3].scale_max"),
        (lambda q: q[3].update(options=OPTIONS), "questions[3].options"),
        (lambda q: q[1].update(title_en=" "), "questions[1].title_en"),
        (lambda q: q[0].update(id="no spaces"), "questions[0].id"),
        (lambda q: q[0].update(title_zh="长" * 501), "questions[0].title_zh"),
    ],
)
def test_a_wrong_question_is_refused_naming_its_field(change, field):
    questions = [dict(q) for q in QUESTIONS]
    change(questions)
    assert refused(s.parse_questions, questions) == field


def test_no_question_and_too_many_are_refused():
    assert refused(s.parse_questions, []) == "questions"
    many = [{**QUESTIONS[3], "id": f"q{i}"} for i in range(s.MAX_QUESTIONS + 1)]
    assert refused(s.parse_questions, many) == "questions"


def test_answers_are_checked_against_their_kinds():
    qs = s.parse_questions(QUESTIONS)
    answers = [{"question_id": "q1", "value": "a"}, {"question_id": "q2", "value": ["b", "a"]},
               {"question_id": "q3", "value": 5}, {"question_id": "q4", "value": " more weekend classes "}]  # fmt: skip
    assert s.check_answers(qs, answers) == {"q1": "a", "q2": ["a", "b"], "q3": 5, "q4": "more weekend classes"}
    # an optional question may stay unanswered
    assert "q4" not in s.check_answers(qs, answers[:3])


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ([{"question_id": "q1", "value": "zzz"}], "answers[0].value"),  # unknown option
        ([{"question_id": "q1", "value": ["a"]}], "answers[0].value"),  # a list for a single choice
        ([{"question_id": "q2", "value": ["a", "nope"]}], "answers[0].value"),
        ([{"question_id": "q2", "value": ["a", "a"]}], "answers[0].value"),
        ([{"question_id": "q2", "value": []}], "answers[0].value"),
        ([{"question_id": "q3", "value": 6}], "answers[0].value"),  # scale out of range
        ([{"question_id": "q3", "value": 0}], "answers[0].value"),
        ([{"question_id": "q3", "value": "3"}], "answers[0].value"),
        ([{"question_id": "q3", "value": True}], "answers[0].value"),  # a bool is not a point of a scale
        ([{"question_id": "q4", "value": "x" * (s.MAX_TEXT_ANSWER + 1)}], "answers[0].value"),  # huge text
        ([{"question_id": "q4", "value": "   "}], "answers[0].value"),
        ([{"question_id": "q9", "value": "a"}], "answers[0].question_id"),  # unknown question
        ([{"question_id": "q1", "value": "a"}, {"question_id": "q1", "value": "b"}], "answers[1].question_id"),
        ([{"question_id": "q1", "value": "a"}], "answers"),  # required q2, q3 missing
    ],
)
def test_a_wrong_answer_is_refused_naming_its_field(answers, field):
    qs = s.parse_questions(QUESTIONS)
    complete = {"q1": "a", "q2": ["a"], "q3": 3}
    given_ids = {a["question_id"] for a in answers}
    if field != "answers":  # complete the rest so that only the wrong answer is wrong
        answers = answers + [{"question_id": q, "value": v} for q, v in complete.items() if q not in given_ids]
    assert refused(s.check_answers, qs, answers) == field


def test_the_audience_must_be_said_and_known():
    known = ["xinnan", "baihuadong"]
    assert refused(s.check_audience, s.Audience(), known) == "audience"
    assert s.check_audience(s.Audience(everyone=True), known).everyone
    assert refused(s.check_audience, s.Audience(("xinnan", "mars")), known) == "audience.community_ids[1]"
    assert refused(s.check_audience, s.Audience((), ("pets",)), known) == "audience.audience_groups[0]"
    assert refused(s.check_audience, s.Audience(("xinnan", "xinnan")), known) == "audience.community_ids"


def test_who_an_audience_includes():
    a = s.Audience(("xinnan",), ("elderly",))
    assert a.includes("xinnan", "elderly")
    assert not a.includes("baihuadong", "elderly") and not a.includes("xinnan", "adult")
    assert s.Audience(everyone=True).includes("anywhere", "adult")
    assert s.Audience(("xinnan",)).includes("xinnan", "child")


@given(st.integers(-5, 10_000), st.integers(-5, 10_000))
def test_the_response_rate_stays_within_0_and_1(respondents, targeted):
    rate = s.response_rate(respondents, targeted)
    assert 0.0 <= rate <= 1.0
    if targeted <= 0:
        assert rate == 0.0  # nobody targeted is no credit, not a perfect rate


def test_the_response_rate_is_respondents_over_targeted():
    assert s.response_rate(2, 3) == pytest.approx(0.6667)
    assert s.CommunityResult("xinnan", targeted=4, respondents=1).response_rate == 0.25


def test_tally_counts_options_scale_and_bounds_the_texts():
    qs = s.parse_questions(QUESTIONS)
    sets = [{"q1": "a", "q2": ["a", "b"], "q3": 5, "q4": f"text {i}"} for i in range(s.MAX_TEXTS_IN_RESULTS + 3)]
    sets.append({"q1": "b", "q2": ["b"], "q3": 1})
    t = s.tally(qs, sets)
    n = s.MAX_TEXTS_IN_RESULTS + 3
    assert t["q1"]["options"] == {"a": n, "b": 1} and t["q1"]["answered"] == n + 1
    assert t["q2"]["options"] == {"a": n, "b": n + 1}
    assert t["q3"]["points"]["5"] == n and t["q3"]["points"]["1"] == 1
    assert t["q3"]["mean"] == pytest.approx((5 * n + 1) / (n + 1), abs=1e-3)
    assert len(t["q4"]["texts"]) == s.MAX_TEXTS_IN_RESULTS and t["q4"]["texts_truncated"]
    assert t["q4"]["texts"][0] == "text 0"  # the newest first, as given
    empty = s.tally(qs, [])
    assert empty["q3"]["mean"] is None and empty["q1"]["options"] == {"a": 0, "b": 0}


@pytest.mark.parametrize(
    ("score", "comment", "field"),
    [(0, None, "score"), (6, None, "score"), ("5", None, "score"), (True, None, "score"), (4, "x" * 1001, "comment")],
)
def test_a_rating_is_1_to_5_with_a_bounded_comment(score, comment, field):
    assert refused(s.check_rating, score, comment) == field


def test_a_rating_is_kept_with_its_trimmed_comment():
    assert s.check_rating(5, "  很好 ") == (5, "很好")
    assert s.check_rating(1, None) == (1, "")


def test_one_rating_id_per_resident_and_session():
    assert s.rating_id("r1", "s1") == s.rating_id("r1", "s1")
    assert len({s.rating_id("r1", "s1"), s.rating_id("r2", "s1"), s.rating_id("r1", "s2")}) == 3


def test_low_ratings_add_to_a_themes_need():
    ranked = model.rank_needs({"health": 3, "arts": 2}, {"arts": ["c1"]}, {"arts": 2, "safety": 1})
    assert [(n.theme, n.votes, n.low_ratings, n.weight) for n in ranked] == [
        ("arts", 2, 2, 4), ("health", 3, 0, 3), ("safety", 0, 1, 1),
    ]  # fmt: skip
    assert ranked[0].has_course  # the course exists and did not serve them: the need stays
