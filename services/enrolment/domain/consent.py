"""Consent per purpose (PIPL Art. 14: consent is specific; Art. 15: it can be withdrawn).

The street's privacy notice declares the purposes (reference/pinghu/privacy_notice.yaml) under a
version. A resident agrees to a purpose under the notice's current version, or withdraws it; every
decision is kept (the record is append-only) and the latest per purpose is the resident's state.
What each purpose lets the services do:

- `notifications`: notify sends them messages (the resident's `consent` flag, which notify holds);
- `surveys`: activities takes their survey answers and session ratings;
- `learning_record`: enrolment serves the resident's learning passport, certificates of learning
  and Open Badges credentials (ADR 0019, amendment); without it they are refused, while attendance
  still counts for the street's index and the passport is still projected from the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, get_args

Purpose = Literal["learning_record", "notifications", "surveys"]
PURPOSES: tuple[str, ...] = get_args(Purpose)


LEARNING_RECORD = "learning_record"
NO_LEARNING_RECORD = (
    "the resident has not agreed to learning_record (their learning record) in the street's privacy notice:"
    " their learning passport, certificates and credentials are served once they agree"
    " (PUT /v1/residents/{id}/consents/learning_record) / 居民尚未同意“学习档案”用途："
    "同意后方可查看学习档案、学习证明和荣誉证书"
)


@dataclass(frozen=True)
class Notice:
    version: str
    published: date
    purposes: Mapping[str, Mapping[str, str]]  # purpose → language → what it means


@dataclass(frozen=True)
class Decision:
    purpose: str
    granted: bool
    notice_version: str
    decided_at: datetime
    recorded_by: str  # "resident" or the operator's role and subject


def check_notice(notice: Notice) -> Notice:
    missing = [p for p in PURPOSES if p not in notice.purposes]
    unknown = [p for p in notice.purposes if p not in PURPOSES]
    if missing or unknown:
        raise ValueError(f"the privacy notice must declare exactly {', '.join(PURPOSES)}"
                         f" (missing: {missing or 'none'}; unknown: {unknown or 'none'})")  # fmt: skip
    return notice


def unknown_purpose(purpose: str) -> str | None:
    """Why `purpose` cannot be decided on (None: it is one the notice declares)."""
    if purpose in PURPOSES:
        return None
    return f"unknown purpose {purpose!r}; the notice declares {', '.join(PURPOSES)}"


def stale_notice(notice: Notice, notice_version: str) -> str | None:
    """A consent names the notice the resident read: only the current one can be agreed to."""
    if notice_version == notice.version:
        return None
    return (
        f"the current privacy notice is {notice.version}, not {notice_version}: show the resident the"
        f" current notice (GET /v1/privacy-notice) / 请按现行告知（{notice.version}）征得同意"
    )


def changes_nothing(latest: Decision | None, granted: bool, notice_version: str) -> bool:
    """Whether a decision would leave the state as it is (ADR 0019, amendment "bursts and two tabs"):
    agreeing again under the same notice, or withdrawing what is withdrawn. Such a decision records
    and publishes nothing. Agreeing under a newer notice is a change (the resident read the new
    text); a first withdrawal of a purpose never decided is one too (asked, and refused)."""
    if latest is None:
        return False
    if granted:
        return latest.granted and latest.notice_version == notice_version
    return not latest.granted


HOUR = timedelta(hours=1)


def agreement_wait(now: datetime, recent: Iterable[datetime], per_hour: int) -> timedelta | None:
    """How long until one more agreement to a purpose may be recorded, given when the resident's
    decisions on it were recorded (None: now). At most `per_hour` changes of a purpose within an
    hour; a withdrawal is never refused (PIPL Art. 15), so the history of a purpose grows by at
    most `per_hour` + 1 rows an hour whatever a client sends."""
    within = sorted(t for t in recent if now - t < HOUR)
    if len(within) < per_hour:
        return None
    return within[-per_hour] + HOUR - now


def wait_seconds(wait: timedelta) -> int:
    return max(1, int(-(-wait.total_seconds() // 1)))  # rounded up, at least 1


def too_many_changes(purpose: str, per_hour: int, wait: timedelta) -> str:
    minutes = max(1, -(-wait_seconds(wait) // 60))
    return (
        f"{purpose} changed {per_hour} times within the hour: agreeing again is accepted in {minutes} min;"
        f" withdrawing is always accepted / “{purpose}”用途本小时已变更{per_hour}次，"
        f"请{minutes}分钟后再同意；撤回同意不受限制"
    )


def current(decisions: Iterable[Decision]) -> dict[str, Decision]:
    """The latest decision per purpose (decisions in the order they were recorded)."""
    latest: dict[str, Decision] = {}
    for decision in decisions:
        latest[decision.purpose] = decision
    return latest


def granted(decisions: Iterable[Decision]) -> list[str]:
    """The purposes the resident agrees to now, in the notice's order."""
    latest = current(decisions)
    return [p for p in PURPOSES if p in latest and latest[p].granted]
