"""Questionnaires (问卷) and session satisfaction (满意度) over HTTP (docs/decisions/0016-surveys-and-satisfaction.md).

Operators (and community workers for their own community) publish a survey to an audience and
read its results per community; residents, signed in on the mobile page, list the surveys
addressed to them, answer each once, and rate each session they attended once. Errors are
`{"detail": [{"loc": [...], "msg": ...}]}` with the field as sent (`questions[1].id`,
`answers[0].value`, `score`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from services.activities.domain import surveys as rules
from services.activities.domain.surveys import Audience, CommunityResult, Survey
from services.activities.service_layer import surveys
from services.activities.service_layer.handlers import Context
from shared.http.audit import Audited
from shared.http.auth import CommunityStaff, Principal, ResidentOnly, ResidentOrStaff

router = APIRouter(prefix="/v1")

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
TAGS: list[str | Any] = ["surveys"]


def _ctx(request: Request) -> Context:
    return request.app.state.activities


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- questionnaires ---------------------------------------------------------------------------


class OptionIn(_In):
    id: str = Field(min_length=1, max_length=32, description="unique within the question", examples=["often"])
    label_zh: str = Field(min_length=1, max_length=rules.MAX_TITLE)
    label_en: str = Field(min_length=1, max_length=rules.MAX_TITLE)


class QuestionIn(_In):
    id: str = Field(min_length=1, max_length=32, description="unique within the survey", examples=["q1"])
    kind: Literal["single", "multiple", "scale", "text"] = Field(
        description="single: one option; multiple: one or more options; scale: an integer 1..scale_max; "
        f"text: free text of at most {rules.MAX_TEXT_ANSWER} characters"
    )
    title_zh: str = Field(min_length=1, max_length=rules.MAX_TITLE)
    title_en: str = Field(min_length=1, max_length=rules.MAX_TITLE)
    required: bool = True
    options: list[OptionIn] = Field(
        default_factory=list, max_length=rules.MAX_OPTIONS,
        description=f"single and multiple only: {rules.MIN_OPTIONS} to {rules.MAX_OPTIONS} options",
    )  # fmt: skip
    scale_max: int | None = Field(
        None, description=f"scale only: the top of the scale, {rules.SCALE_MIN_TOP} to {rules.SCALE_MAX_TOP}"
    )


class AudienceIn(_In):
    """Residents of one of `community_ids` (any when empty) AND of one of `audience_groups` (any when
    empty); both empty needs `everyone: true`. A community worker must name exactly their community."""

    community_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)
    audience_groups: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=6
    )
    everyone: bool = False


class SurveyIn(_In):
    survey_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=ID_PATTERN,
        description="give one to make a retried request safe (409 when it exists)",
    )  # fmt: skip
    title_zh: str = Field(min_length=1, max_length=rules.MAX_TITLE)
    title_en: str = Field(min_length=1, max_length=rules.MAX_TITLE)
    questions: list[QuestionIn] = Field(min_length=1, max_length=rules.MAX_QUESTIONS)
    audience: AudienceIn
    closes_at: AwareDatetime | None = Field(None, description="no answers after it (409); open-ended when absent")


class OptionOut(BaseModel):
    id: str
    label_zh: str
    label_en: str


class QuestionOut(BaseModel):
    id: str
    kind: str
    title_zh: str
    title_en: str
    required: bool
    options: list[OptionOut]
    scale_max: int | None


class SurveyOut(BaseModel):
    survey_id: str
    title_zh: str
    title_en: str
    questions: list[QuestionOut]
    audience: dict[str, Any]
    closes_at: datetime | None
    created_by: str
    created_at: datetime


def _out(survey: Survey, created_at: datetime) -> SurveyOut:
    a = survey.audience
    return SurveyOut(
        survey_id=survey.survey_id, title_zh=survey.title_zh, title_en=survey.title_en,
        questions=[QuestionOut(id=q.id, kind=q.kind, title_zh=q.title_zh, title_en=q.title_en, required=q.required,
                               options=[OptionOut(**vars(o)) for o in q.options], scale_max=q.scale_max)
                   for q in survey.questions],
        audience={"community_ids": list(a.community_ids), "audience_groups": list(a.audience_groups),
                  "everyone": a.everyone},
        closes_at=survey.closes_at, created_by=survey.created_by, created_at=created_at,
    )  # fmt: skip


@router.post("/surveys", status_code=status.HTTP_201_CREATED, response_model=SurveyOut, tags=TAGS)
async def publish_survey(body: SurveyIn, request: Request, staff: CommunityStaff) -> SurveyOut:
    """Publishes a questionnaire to an audience. Questions have unique ids; choices have options
    with unique ids; a scale has `scale_max`; titles and labels in zh-CN and en. 422 names the
    field (`questions[1].options[0].id`); a community worker publishing beyond their community: 403."""
    a = body.audience
    survey, created = await surveys.publish(
        _ctx(request), staff, body.survey_id or f"sv-{uuid.uuid4().hex[:12]}", body.title_zh, body.title_en,
        [q.model_dump() for q in body.questions],
        Audience(tuple(a.community_ids), tuple(a.audience_groups), a.everyone), body.closes_at,
    )  # fmt: skip
    return _out(survey, created)


@router.get("/surveys", response_model=list[SurveyOut], tags=TAGS)
async def list_surveys(
    request: Request,
    user: ResidentOrStaff,
    open: Annotated[bool, Query(description="only surveys still open (and, for a resident, not answered)")] = False,
) -> list[SurveyOut]:
    """A resident: the open surveys addressed to them (their community and audience group as
    enrolment registered them) that they have not answered, newest first, whatever `open` says.
    Staff: the surveys (a community worker: those that may reach their community), newest first."""
    found = await surveys.list_for(_ctx(request), user, open)
    return [_out(s, at) for s, at in found]


@router.get("/surveys/{survey_id}", response_model=SurveyOut, tags=TAGS)
async def get_survey(survey_id: Id, request: Request, user: ResidentOrStaff) -> SurveyOut:
    """One survey; a resident reads only the surveys addressed to them (404 otherwise)."""
    return _out(*await surveys.get_for(_ctx(request), user, survey_id))


class AnswerIn(_In):
    question_id: str = Field(min_length=1, max_length=64)
    value: StrictInt | StrictStr | list[StrictStr] = Field(
        description="single: an option id; multiple: a list of distinct option ids; scale: an integer "
        f"1..scale_max; text: a text of at most {rules.MAX_TEXT_ANSWER} characters",
        examples=["often", ["health", "arts"], 4, "更多周末课程"],
    )


class ResponseIn(_In):
    answers: list[AnswerIn] = Field(max_length=rules.MAX_QUESTIONS, description="one per question answered")


class ResponseOut(BaseModel):
    survey_id: str
    resident_id: str
    answered_at: datetime


@router.post("/surveys/{survey_id}/responses", status_code=status.HTTP_201_CREATED, response_model=ResponseOut,
             tags=TAGS)  # fmt: skip
async def answer_survey(survey_id: Id, body: ResponseIn, request: Request, resident: ResidentOnly) -> ResponseOut:
    """The signed-in resident answers a survey addressed to them, once: a second answer is 409; a
    survey not addressed to them (another community or audience group) 403; an answer that does
    not fit its question (unknown question or option, scale out of range, text too long, a
    question answered twice, a required one missing) 422 naming `answers[i].value` or the like."""
    answers = [a.model_dump() for a in body.answers]
    at = await surveys.answer(_ctx(request), resident.subject, survey_id, answers)
    return ResponseOut(survey_id=survey_id, resident_id=resident.subject, answered_at=at)


class CommunityResultOut(BaseModel):
    community_id: str
    targeted: int = Field(
        description="respondents + residents known now whom the survey addresses and who did not answer"
    )
    respondents: int
    response_rate: float = Field(description="respondents / targeted, within [0, 1]; 0 when nobody is targeted")
    questions: dict[str, dict[str, Any]] = Field(
        description="per question id: `answered`; choices: count per option id; scale: `mean` and count per "
        f"point; text: the newest {rules.MAX_TEXTS_IN_RESULTS} texts and `texts_truncated`"
    )


class ResultsOut(BaseModel):
    survey_id: str
    title_zh: str
    title_en: str
    targets_counted_at: Literal["read_time"] = "read_time"
    communities: list[CommunityResultOut]


def _result(r: CommunityResult) -> CommunityResultOut:
    return CommunityResultOut(community_id=r.community_id, targeted=r.targeted, respondents=r.respondents,
                              response_rate=r.response_rate, questions=r.questions)  # fmt: skip


@router.get("/surveys/{survey_id}/results", response_model=ResultsOut, tags=TAGS)
async def survey_results(survey_id: Id, request: Request, staff: CommunityStaff) -> ResultsOut:
    """Results per community. Targeted residents are counted when read: the respondents of the
    community (where they lived when answering) plus the residents this service knows now (from
    enrolment's registrations) whom the audience addresses and who did not answer. A community
    worker reads their community's row only (403 for a survey of other communities)."""
    survey, found = await surveys.results(_ctx(request), staff, survey_id)
    return ResultsOut(survey_id=survey.survey_id, title_zh=survey.title_zh, title_en=survey.title_en,
                      communities=[_result(r) for r in found])  # fmt: skip


# --- satisfaction after a session --------------------------------------------------------------


class SatisfactionIn(_In):
    score: StrictInt = Field(description="1 (very dissatisfied) .. 5 (very satisfied)", examples=[5])
    comment: str | None = Field(None, description=f"optional, at most {rules.MAX_COMMENT} characters")


class SatisfactionOut(BaseModel):
    session_id: str
    resident_id: str
    score: int
    comment: str
    rated_at: datetime


@router.post("/sessions/{session_id}/satisfaction", status_code=status.HTTP_201_CREATED,
             response_model=SatisfactionOut, tags=TAGS)  # fmt: skip
async def rate_session(
    session_id: Id, body: SatisfactionIn, request: Request, resident: ResidentOnly
) -> SatisfactionOut:
    """The signed-in resident rates a session they attended (an attendance is recorded), once:
    no attendance 403, a second rating 409, a score outside 1..5 or a comment too long 422. Optional
    for the resident. Publishes `learnstreet.activities.session.rated.v1` (without the resident or
    the comment), from which scoring computes the satisfaction indicator; ratings of 1 or 2 add to
    the theme's weight in the needs ranking."""
    row = await surveys.rate(
        _ctx(request), resident.subject, session_id, body.score, body.comment, request.headers.get("x-correlation-id")
    )
    return SatisfactionOut(**{k: row[k] for k in ("session_id", "resident_id", "score", "comment", "rated_at")})


# --- a resident's own answers and ratings (the phone page after a reload) ----------------------
# Two collections, as the resident's other records here (`/residents/{id}/votes`): each is its
# own kind of record with its own erasure rule (answers deleted, ratings pseudonymised), and the
# page asks for both at once. An unknown or erased resident has none: 200 with an empty list,
# the same answer, so neither route tells whether a resident id exists.


async def _self_or_staff(resident_id: Id, request: Request, user: ResidentOrStaff) -> Principal:
    # a dependency, so a refused caller is refused before `Audited` records an access
    await surveys.check_reads_resident(_ctx(request), user, resident_id)
    return user


SelfOrStaff = Annotated[Principal, Depends(_self_or_staff)]


class GivenAnswerOut(BaseModel):
    question_id: str
    value: int | str | list[str]


class MyResponseOut(BaseModel):
    survey_id: str
    title_zh: str
    title_en: str
    answered_at: datetime
    answers: list[GivenAnswerOut] = Field(description="as the resident sent them, in the survey's question order")


@router.get("/residents/{resident_id}/survey-responses", response_model=list[MyResponseOut], tags=TAGS)
async def responses_of(resident_id: Id, request: Request, _who: SelfOrStaff, _audit: Audited) -> list[MyResponseOut]:
    """The surveys the resident answered, newest first, with their answers: the resident themself,
    an operator, or a worker of the resident's community (staff reads are audited); anyone else
    403. A resident unknown here or erased: an empty list (a community worker: 403, since the
    resident is not registered in their community)."""
    return [MyResponseOut.model_validate(r) for r in await surveys.responses_of(_ctx(request), resident_id)]


class MyRatingOut(BaseModel):
    session_id: str
    course_id: str
    score: int
    comment: str = Field(description="empty when the resident gave none")
    rated_at: datetime


@router.get("/residents/{resident_id}/satisfaction", response_model=list[MyRatingOut], tags=TAGS)
async def ratings_of(resident_id: Id, request: Request, _who: SelfOrStaff, _audit: Audited) -> list[MyRatingOut]:
    """The resident's session ratings, newest first; who may read them as for their survey
    responses. An erased resident's ratings stay only under a pseudonym: an empty list."""
    return [MyRatingOut.model_validate(r) for r in await surveys.ratings_of(_ctx(request), resident_id)]
