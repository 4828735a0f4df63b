"""Questionnaires (问卷) and session satisfaction (满意度): the rules, without I/O.

A survey is addressed to an audience (communities and/or audience groups); a resident answers it
once; its results are per community: respondents over targeted residents, counts per option,
scale means and the free texts (bounded). A satisfaction rating is one score 1..5 per resident
per session attended, optionally with a comment.

Every refusal is a `RuleViolated` naming the field as the client sent it (`questions[2].id`,
`answers[0].value`), so the HTTP layer answers 422 with it, never 500.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from services.activities.domain.model import EVENT_NS, RuleViolated
from shared.events.catalogue import AudienceGroup

Kind = Literal["single", "multiple", "scale", "text"]
KINDS: tuple[str, ...] = ("single", "multiple", "scale", "text")
ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MAX_QUESTIONS = 50
MAX_OPTIONS = 20
MIN_OPTIONS = 2
SCALE_MIN_TOP, SCALE_MAX_TOP = 2, 10
MAX_TEXT_ANSWER = 2000  # characters of one free-text answer
MAX_TITLE = 500
MAX_TEXTS_IN_RESULTS = 100  # the newest free texts per question and community in the results
SATISFACTION_SCORES = range(1, 6)
SATISFIED_FROM = 4  # a rating of 4 or 5 counts as satisfied (scoring's satisfaction indicator)
MAX_COMMENT = 1000
# Needs ranking: a rating of 1 or 2 of a theme's session counts as one more need for that theme in
# the venue's community (the course was there, the resident was not served by it).
LOW_SCORE_AT_MOST = 2


@dataclass(frozen=True)
class Option:
    id: str
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class Question:
    id: str
    kind: Kind
    title_zh: str
    title_en: str
    required: bool = True
    options: tuple[Option, ...] = ()
    scale_max: int | None = None  # scale questions: answers 1..scale_max


@dataclass(frozen=True)
class Audience:
    """Who is asked: residents of one of `community_ids` (any when empty) and of one of
    `audience_groups` (any when empty); `everyone` must say so when both are empty."""

    community_ids: tuple[str, ...] = ()
    audience_groups: tuple[str, ...] = ()
    everyone: bool = False

    def includes(self, community_id: str | None, audience_group: str | None) -> bool:
        if self.community_ids and community_id not in self.community_ids:
            return False
        return not self.audience_groups or audience_group in self.audience_groups


@dataclass(frozen=True)
class Survey:
    survey_id: str
    title_zh: str
    title_en: str
    questions: tuple[Question, ...]
    audience: Audience
    created_by: str = ""
    closes_at: Any = None  # datetime | None


def _text(value: Any, where: str, *, limit: int = MAX_TITLE) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleViolated(where, "must be a non-empty text")
    if len(value) > limit:
        raise RuleViolated(where, f"at most {limit} characters ({len(value)} given)")
    return value.strip()


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not ID.match(value):
        raise RuleViolated(where, "an id of 1-32 letters, digits, '_', '.' or '-'")
    return value


def check_audience(audience: Audience, known_communities: Iterable[str]) -> Audience:
    known = set(known_communities)
    if not audience.community_ids and not audience.audience_groups and not audience.everyone:
        raise RuleViolated("audience", "name community_ids and/or audience_groups, or set everyone: true")
    for i, c in enumerate(audience.community_ids):
        if c not in known:
            raise RuleViolated(f"audience.community_ids[{i}]", f"unknown community {c!r}")
    groups = {str(g) for g in AudienceGroup}
    for i, g in enumerate(audience.audience_groups):
        if g not in groups:
            raise RuleViolated(f"audience.audience_groups[{i}]", f"one of {', '.join(sorted(groups))}")
    if len(set(audience.community_ids)) != len(audience.community_ids):
        raise RuleViolated("audience.community_ids", "a community is named twice")
    if len(set(audience.audience_groups)) != len(audience.audience_groups):
        raise RuleViolated("audience.audience_groups", "an audience group is named twice")
    return audience


def parse_questions(raw: Sequence[Mapping[str, Any]]) -> tuple[Question, ...]:
    """The questions of a survey as the operator sent them, checked: unique ids, a known kind,
    titles in both languages, options (unique ids) for choices only, a scale top for scales only."""
    if not raw:
        raise RuleViolated("questions", "a survey asks at least one question")
    if len(raw) > MAX_QUESTIONS:
        raise RuleViolated("questions", f"at most {MAX_QUESTIONS} questions")
    seen: set[str] = set()
    out = []
    for i, q in enumerate(raw):
        at = f"questions[{i}]"
        qid = _id(q.get("id"), f"{at}.id")
        if qid in seen:
            raise RuleViolated(f"{at}.id", f"question id {qid!r} is used twice")
        seen.add(qid)
        kind = q.get("kind")
        if kind not in KINDS:
            raise RuleViolated(f"{at}.kind", f"one of {', '.join(KINDS)}")
        title_zh, title_en = _text(q.get("title_zh"), f"{at}.title_zh"), _text(q.get("title_en"), f"{at}.title_en")
        options: tuple[Option, ...] = ()
        raw_options = q.get("options") or []
        if kind in ("single", "multiple"):
            if not (MIN_OPTIONS <= len(raw_options) <= MAX_OPTIONS):
                raise RuleViolated(f"{at}.options", f"a choice has {MIN_OPTIONS} to {MAX_OPTIONS} options")
            ids: set[str] = set()
            for j, o in enumerate(raw_options):
                oid = _id(o.get("id"), f"{at}.options[{j}].id")
                if oid in ids:
                    raise RuleViolated(f"{at}.options[{j}].id", f"option id {oid!r} is used twice")
                ids.add(oid)
                label_zh = _text(o.get("label_zh"), f"{at}.options[{j}].label_zh")
                options += (Option(oid, label_zh, _text(o.get("label_en"), f"{at}.options[{j}].label_en")),)
        elif raw_options:
            raise RuleViolated(f"{at}.options", f"a {kind} question has no options")
        scale_max = q.get("scale_max")
        if kind == "scale":
            if type(scale_max) is not int or not (SCALE_MIN_TOP <= scale_max <= SCALE_MAX_TOP):
                raise RuleViolated(
                    f"{at}.scale_max", f"a scale runs 1..N with N from {SCALE_MIN_TOP} to {SCALE_MAX_TOP}"
                )
        elif scale_max is not None:
            raise RuleViolated(f"{at}.scale_max", f"only scale questions have one, not {kind}")
        required = q.get("required", True)
        if not isinstance(required, bool):
            raise RuleViolated(f"{at}.required", "true or false")
        out.append(Question(qid, kind, title_zh, title_en, required, options, scale_max))
    return tuple(out)


def check_answers(questions: Sequence[Question], answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One resident's answers, checked against the questions' kinds: {question id: value} with a
    value per kind (single: an option id; multiple: distinct option ids; scale: an integer 1..N;
    text: a text of at most MAX_TEXT_ANSWER characters). Unanswered optional questions are absent."""
    by_id = {q.id: q for q in questions}
    out: dict[str, Any] = {}
    for i, a in enumerate(answers):
        at = f"answers[{i}]"
        qid = a.get("question_id")
        if qid not in by_id:
            raise RuleViolated(f"{at}.question_id", f"no question {qid!r} in this survey")
        if qid in out:
            raise RuleViolated(f"{at}.question_id", f"question {qid!r} is answered twice")
        out[qid] = _value(by_id[qid], a.get("value"), f"{at}.value")
    for q in questions:
        if q.required and q.id not in out:
            raise RuleViolated("answers", f"question {q.id!r} needs an answer")
    return out


def _value(q: Question, value: Any, at: str) -> Any:
    options = {o.id for o in q.options}
    if q.kind == "single":
        if not isinstance(value, str) or value not in options:
            raise RuleViolated(at, f"one option id of question {q.id!r}: {', '.join(sorted(options))}")
        return value
    if q.kind == "multiple":
        if not isinstance(value, list) or not value:
            raise RuleViolated(at, f"a non-empty list of option ids of question {q.id!r}")
        for v in value:
            if not isinstance(v, str) or v not in options:
                raise RuleViolated(at, f"unknown option {v!r} of question {q.id!r}")
        if len(set(value)) != len(value):
            raise RuleViolated(at, "an option is chosen twice")
        return sorted(value)
    if q.kind == "scale":
        assert q.scale_max is not None
        if type(value) is not int or not (1 <= value <= q.scale_max):
            raise RuleViolated(at, f"an integer from 1 to {q.scale_max}")
        return value
    if not isinstance(value, str) or not value.strip():
        raise RuleViolated(at, "a non-empty text")
    if len(value) > MAX_TEXT_ANSWER:
        raise RuleViolated(at, f"at most {MAX_TEXT_ANSWER} characters ({len(value)} given)")
    return value.strip()


# --- results ----------------------------------------------------------------------------------


@dataclass
class CommunityResult:
    community_id: str
    targeted: int  # residents addressed: respondents + known residents addressed who did not answer
    respondents: int
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def response_rate(self) -> float:
        return response_rate(self.respondents, self.targeted)


def response_rate(respondents: int, targeted: int) -> float:
    """respondents / targeted, within [0, 1]; 0 when nobody is targeted (no credit for no one)."""
    if targeted <= 0:
        return 0.0
    return round(max(0, min(respondents, targeted)) / targeted, 4)


def tally(questions: Sequence[Question], answer_sets: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per question: counts per option (single, multiple), count, mean and counts per point
    (scale), the newest free texts (text; `answer_sets` newest first), at most MAX_TEXTS_IN_RESULTS."""
    out: dict[str, dict[str, Any]] = {}
    for q in questions:
        if q.kind in ("single", "multiple"):
            out[q.id] = {"kind": q.kind, "answered": 0, "options": {o.id: 0 for o in q.options}}
        elif q.kind == "scale":
            out[q.id] = {"kind": q.kind, "answered": 0, "mean": None,
                         "points": {str(p): 0 for p in range(1, (q.scale_max or 0) + 1)}}  # fmt: skip
        else:
            out[q.id] = {"kind": q.kind, "answered": 0, "texts": [], "texts_truncated": False}
    sums: dict[str, int] = {}
    for answers in answer_sets:
        for q in questions:
            if q.id not in answers:
                continue
            v, r = answers[q.id], out[q.id]
            r["answered"] += 1
            if q.kind == "single" and v in r["options"]:
                r["options"][v] += 1
            elif q.kind == "multiple":
                for o in v:
                    if o in r["options"]:
                        r["options"][o] += 1
            elif q.kind == "scale" and str(v) in r["points"]:
                r["points"][str(v)] += 1
                sums[q.id] = sums.get(q.id, 0) + v
            elif q.kind == "text":
                if len(r["texts"]) < MAX_TEXTS_IN_RESULTS:
                    r["texts"].append(v)
                else:
                    r["texts_truncated"] = True
    for q in questions:
        if q.kind == "scale" and out[q.id]["answered"]:
            out[q.id]["mean"] = round(sums.get(q.id, 0) / out[q.id]["answered"], 3)
    return out


# --- satisfaction -----------------------------------------------------------------------------


def check_rating(score: Any, comment: str | None) -> tuple[int, str]:
    if type(score) is not int or score not in SATISFACTION_SCORES:
        raise RuleViolated("score", "an integer from 1 (very dissatisfied) to 5 (very satisfied)")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise RuleViolated("comment", f"at most {MAX_COMMENT} characters ({len(comment)} given)")
    return score, comment


def rating_id(resident_id: str, session_id: str) -> str:
    """One rating per resident and session: its id is derived from the pair (the event carries it,
    never the resident id)."""
    return str(uuid.uuid5(EVENT_NS, f"rating|{resident_id}|{session_id}"))
