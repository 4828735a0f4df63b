"""Questionnaires (问卷) and session satisfaction (满意度), docs/decisions/0016-surveys-and-satisfaction.md:
who may publish and read results, the resident's community and audience group (this service's
copy of enrolment's registrations), the once-only answer and rating, and the `session.rated`
event published through the outbox in the rating's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.activities.adapters import repository
from services.activities.adapters import surveys as store
from services.activities.domain import surveys as rules
from services.activities.domain.model import RuleViolated
from services.activities.domain.surveys import Audience, CommunityResult, Survey
from services.activities.service_layer.handlers import SOURCE, Context
from shared.events import catalogue as ev
from shared.events.envelope import envelop, utcnow
from shared.http.auth import Principal
from shared.http.errors import Conflict, DomainError, Invalid, NotFound


class Forbidden(DomainError):
    """403 with the field and the reason (not a role refusal: this resident or worker, this record)."""

    status_code = 403


def _rule(fn, *args):
    try:
        return fn(*args)
    except RuleViolated as e:
        raise Invalid(e.reason, field=e.field) from None


def _check_staff_reach(staff: Principal, audience: Audience) -> None:
    """A community worker publishes to their own community only, and must say so (no street-wide
    or group-only survey from one community's workstation)."""
    if staff.role != "community_worker":
        return
    if list(audience.community_ids) != [staff.community_id]:
        raise Forbidden(
            f"you act for community {staff.community_id} only: set audience.community_ids to [{staff.community_id!r}]",
            field="audience.community_ids",
        )


async def publish(
    ctx: Context, staff: Principal, survey_id: str, title_zh: str, title_en: str, questions: list[dict],
    audience: Audience, closes_at: datetime | None,
) -> tuple[Survey, datetime]:  # fmt: skip
    audience = _rule(rules.check_audience, audience, ctx.reference.communities)
    _check_staff_reach(staff, audience)
    parsed = _rule(rules.parse_questions, questions)
    if closes_at is not None and closes_at <= utcnow():
        raise Invalid("a survey closes in the future", field="closes_at")
    survey = Survey(survey_id, title_zh, title_en, parsed, audience, staff.subject, closes_at)
    async with ctx.uow() as uow:
        created = await store.add_survey(uow.conn, survey)
        if created is None:
            raise Conflict(f"survey {survey_id} exists already", field="survey_id")
        await uow.commit()
    return survey, created


NO_SURVEY_CONSENT = (
    "you have not agreed to surveys in the street's privacy notice: agree first"
    " (PUT /v1/residents/{id}/consents/surveys on enrolment) / 您尚未同意问卷调查用途，请先同意后再填写"
)


async def _check_consent(conn, resident_id: str) -> None:
    """Answers and ratings are the `surveys` purpose of the privacy notice (PIPL Art. 14)."""
    if not await store.agrees_to(conn, resident_id, "surveys"):
        raise Forbidden(NO_SURVEY_CONSENT, field="consent")


async def _survey(ctx: Context, survey_id: str) -> tuple[Survey, datetime]:
    async with ctx.uow() as uow:
        found = await store.get_survey(uow.conn, survey_id)
    if found is None:
        raise NotFound(f"no survey {survey_id}", field="survey_id")
    return found


async def _resident(ctx: Context, resident_id: str) -> tuple[str, str] | None:
    """(community, audience group) of a resident registered with enrolment, as this service knows it."""
    known = ctx.caches.residents.get(resident_id)
    if known is not None:
        return known.community_id, str(known.audience_group)
    async with ctx.uow() as uow:
        row = await store.resident(uow.conn, resident_id)
    return (row["community_id"], row["audience_group"]) if row else None


async def list_for(ctx: Context, user: Principal, open_only: bool) -> list[tuple[Survey, datetime]]:
    """A resident: the surveys addressed to them (open ones they have not answered when `open_only`,
    which is what a resident's list always is). Staff: every survey (a community worker: those
    that may reach their community)."""
    if user.role == "resident":
        known = await _resident(ctx, user.subject)
        if known is None:
            return []  # their registration has not reached us: nothing is addressed to them yet
        async with ctx.uow() as uow:
            return await store.open_for(uow.conn, user.subject, known[0], known[1], utcnow())
    reaching = user.community_id if user.role == "community_worker" else None
    async with ctx.uow() as uow:
        found = await store.list_surveys(uow.conn, reaching=reaching)
    if open_only:
        now = utcnow()
        found = [(s, at) for s, at in found if s.closes_at is None or s.closes_at > now]
    return found


async def get_for(ctx: Context, user: Principal, survey_id: str) -> tuple[Survey, datetime]:
    survey, created = await _survey(ctx, survey_id)
    if user.role == "resident":
        known = await _resident(ctx, user.subject)
        if known is None or not survey.audience.includes(*known):
            raise NotFound(f"no survey {survey_id} for you", field="survey_id")
    else:
        _check_reads(user, survey)
    return survey, created


def _check_reads(user: Principal, survey: Survey) -> None:
    """A community worker reads surveys that may reach their community (theirs or street-wide)."""
    ids = survey.audience.community_ids
    if user.role == "community_worker" and ids and user.community_id not in ids:
        raise Forbidden(f"you act for community {user.community_id} only; this survey asks {', '.join(ids)}",
                        field="survey_id")  # fmt: skip


async def answer(ctx: Context, resident_id: str, survey_id: str, answers: list[dict]) -> datetime:
    survey, _ = await _survey(ctx, survey_id)
    known = await _resident(ctx, resident_id)
    if known is None:
        raise Forbidden("your registration has not reached this service yet; try again shortly", field="survey_id")
    if not survey.audience.includes(*known):
        raise Forbidden(f"survey {survey_id} is not addressed to you", field="survey_id")
    if survey.closes_at is not None and survey.closes_at <= utcnow():
        raise Conflict(f"survey {survey_id} closed at {survey.closes_at.isoformat()}", field="survey_id")
    checked = _rule(rules.check_answers, survey.questions, answers)
    async with ctx.uow() as uow:
        await _check_consent(uow.conn, resident_id)
        at = await store.add_response(uow.conn, survey_id, resident_id, known[0], known[1], checked)
        if at is None:
            raise Conflict(f"you answered survey {survey_id} already", field="survey_id")
        await uow.commit()
    return at


async def results(ctx: Context, user: Principal, survey_id: str) -> tuple[Survey, list[CommunityResult]]:
    """Per community: respondents (by the community they had when answering) over targeted
    residents = respondents + residents known NOW (at read time) whom the survey addresses and who
    have not answered; so the rate stays within [0, 1] when residents register or move after
    publication. A community worker reads their community's row only."""
    survey, _ = await _survey(ctx, survey_id)
    only = None
    if user.role == "community_worker":
        _check_reads(user, survey)
        only = user.community_id
    async with ctx.uow() as uow:
        rows = await store.responses(uow.conn, survey_id, only)
        rest = await store.not_responded(uow.conn, survey, only)
    by_community: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_community.setdefault(r["community_id"], []).append(r["answers"])
    communities = set(by_community) | set(rest) | ({only} if only else set(survey.audience.community_ids))
    out = []
    for c in sorted(communities):
        answered = by_community.get(c, [])
        out.append(
            CommunityResult(c, len(answered) + rest.get(c, 0), len(answered), rules.tally(survey.questions, answered))
        )
    return survey, out


# --- a resident's own answers and ratings -----------------------------------------------------


async def check_reads_resident(ctx: Context, user: Principal, resident_id: str) -> None:
    """The resident themself, an operator, or a community worker of the community the resident is
    registered in as this service knows it (enrolment's registrations). A resident unknown here
    (never registered, not yet arrived, or erased) belongs to no community: a worker is refused."""
    if user.role == "resident":
        if user.subject != resident_id:
            raise Forbidden("residents read only their own answers and ratings / 居民只能查看自己的问卷和评分",
                            field="resident_id")  # fmt: skip
        return
    if user.role == "community_worker":
        known = await _resident(ctx, resident_id)
        if known is None or known[0] != user.community_id:
            raise Forbidden(
                f"you act for community {user.community_id} only; resident {resident_id} is not registered there"
                f" / 您只能查看本社区（{user.community_id}）居民的数据",
                field="resident_id",
            )


async def responses_of(ctx: Context, resident_id: str) -> list[dict[str, Any]]:
    """The resident's answer sets, newest first; each answer as sent ({question_id, value}), in the
    order of the survey's questions. An unknown or erased resident has none (erasure deletes them)."""
    async with ctx.uow() as uow:
        rows = await store.responses_of(uow.conn, resident_id)
    out = []
    for r in rows:
        order = [q["id"] for q in r["questions"]]
        given = r["answers"]
        ids = [q for q in order if q in given] + sorted(q for q in given if q not in order)
        out.append({
            "survey_id": r["survey_id"], "title_zh": r["title_zh"], "title_en": r["title_en"],
            "answered_at": r["answered_at"], "answers": [{"question_id": q, "value": given[q]} for q in ids],
        })  # fmt: skip
    return out


async def ratings_of(ctx: Context, resident_id: str) -> list[dict[str, Any]]:
    """The resident's session ratings, newest first. Erasure moves ratings to a pseudonym (the
    index keeps counting them) and blanks their comment: an erased resident has none."""
    async with ctx.uow() as uow:
        return [dict(r) for r in await store.ratings_of(uow.conn, resident_id)]


# --- satisfaction -----------------------------------------------------------------------------


async def rate(
    ctx: Context, resident_id: str, session_id: str, score: int, comment: str | None, correlation_id: str | None
) -> dict[str, Any]:
    score, comment = _rule(rules.check_rating, score, comment)
    async with ctx.uow() as uow:
        session = await repository.get_session(uow.conn, session_id)
        if session is None:
            raise NotFound(f"no session {session_id}", field="session_id")
        if await repository.get_attendance(uow.conn, resident_id, session_id) is None:
            raise Forbidden(f"only residents who attended session {session_id} rate it", field="session_id")
        await _check_consent(uow.conn, resident_id)
        course = await repository.get_course(uow.conn, session.course_id)
        row = {
            "session_id": session_id, "resident_id": resident_id,
            "rating_id": rules.rating_id(resident_id, session_id), "course_id": session.course_id,
            "community_id": session.community_id, "theme": course.theme if course else None,
            "score": score, "comment": comment,
        }  # fmt: skip
        rated_at = await store.add_rating(uow.conn, row)
        if rated_at is None:
            raise Conflict(f"you rated session {session_id} already", field="session_id")
        event = ev.SessionRated(
            rating_id=row["rating_id"], session_id=session_id, course_id=session.course_id,
            community_id=session.community_id, theme=row["theme"], score=score, session_starts_at=session.starts_at,
        )  # fmt: skip
        uow.publish(envelop(event, source=SOURCE, correlation_id=correlation_id))
        await uow.commit()
    return {**row, "rated_at": rated_at}
