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
from datetime import date, datetime
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
