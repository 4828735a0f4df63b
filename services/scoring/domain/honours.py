"""Honours (评选表彰): the kinds scoring awards, the thresholds of the rule-based ones, and their ids.

The rules, evaluated for a calendar year (`period`) on the aggregates by
`adapters/repository.py: award_rule_honours`, which executes only the thresholds passed in here:
- learning star (百姓学习之星): a resident with at least `learning_star_min_hours` learning hours;
- learning family (书香家庭): a family with at least `family_min_members` members who each have at
  least `family_min_hours` learning hours, credited to the community most of them live in;
- book-fragrant enterprise (书香企业): an employer with at least `enterprise_min_registered`
  registered employees of whom at least the share `enterprise_min_share` learnt at least
  `enterprise_min_hours_each` hours, credited to the community it is registered with (organisations)
  or else the one most of its staff live in;
- excellent volunteer (优秀志愿者): a volunteer provider who taught at least
  `volunteer_min_teaching_hours` (the length of their sessions held, not attendee-hours), or who
  served at least `volunteer_min_service_hours`
  confirmed service hours (domain/volunteering.py); with `volunteer_either` false, both.
Knowledge-competition places are recorded by operators (`competition_kind`), not by a rule; the
organisation honours and the Most Beautiful Family are nominated by people (domain/organisations.py).

The defaults are the shipped indicator file's; a street sets its own under `honours:` there.
Names shown to people are in the reference data (`honours.yaml`, `shared/reference.py`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

LEARNING_STAR = "learning_star"
LEARNING_FAMILY = "learning_family"
BOOK_FRAGRANT_ENTERPRISE = "book_fragrant_enterprise"
EXCELLENT_VOLUNTEER = "excellent_volunteer"
KNOWLEDGE_COMPETITION = "knowledge_competition"
MOST_BEAUTIFUL_FAMILY = "most_beautiful_family"
ADVANCED_PARTY_ORGANISATION = "advanced_party_organisation"
LEARNING_ORGANISATION = "learning_organisation"

RULE_KINDS = (LEARNING_STAR, LEARNING_FAMILY, BOOK_FRAGRANT_ENTERPRISE, EXCELLENT_VOLUNTEER)
NOMINATED_KINDS = (MOST_BEAUTIFUL_FAMILY, ADVANCED_PARTY_ORGANISATION, LEARNING_ORGANISATION)
KINDS = (*RULE_KINDS, KNOWLEDGE_COMPETITION, *NOMINATED_KINDS)


@dataclass(frozen=True)
class HonourRules:
    learning_star_min_hours: float = 40
    family_min_members: int = 3
    family_min_hours: float = 10
    enterprise_min_share: float = 0.5
    enterprise_min_registered: int = 5
    # an employee counts as learning only after this many hours in the year, never one scan
    enterprise_min_hours_each: float = 8
    volunteer_min_teaching_hours: float = 20
    volunteer_min_service_hours: float = 40
    volunteer_either: bool = True

    # The aggregates count minutes: the thresholds in the unit the SQL compares with.
    @property
    def learning_star_min_minutes(self) -> int:
        return int(self.learning_star_min_hours * 60)

    @property
    def family_min_minutes(self) -> int:
        return int(self.family_min_hours * 60)

    @property
    def enterprise_min_minutes_each(self) -> int:
        return int(self.enterprise_min_hours_each * 60)

    @property
    def volunteer_min_teaching_minutes(self) -> int:
        return int(self.volunteer_min_teaching_hours * 60)

    @property
    def volunteer_min_service_minutes(self) -> int:
        return int(self.volunteer_min_service_hours * 60)


def competition_kind(competition_id: str) -> str:
    """A competition's honours are one kind per competition: a resident is placed once in each."""
    return f"{KNOWLEDGE_COMPETITION}:{competition_id}"


def honour_id(kind: str, period: str, recipient_id: str) -> uuid.UUID:
    """Deterministic, and the same as the SQL rule evaluation computes (md5 of the same text)."""
    return uuid.UUID(hashlib.md5(f"learnstreet:honour:{kind}:{period}:{recipient_id}".encode()).hexdigest())
