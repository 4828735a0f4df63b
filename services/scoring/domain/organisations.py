"""Organisations and units registered with their community, and the honours a workstation or the
street nominates (提名) rather than a rule: organisation honours and the Most Beautiful Family.

- 先进基层党组织 (advanced_party_organisation): a registered party organisation (党组织/党支部);
- 学习型组织 (learning_organisation): any registered organisation or unit (a party organisation, an
  enterprise, an agency or school, a social organisation) its community puts forward;
- 最美家庭 (most_beautiful_family): a family of residents (no attendance rule: a family is chosen for
  its conduct, which no event measures).

A nomination names the honour kind, the recipient, its community and why; the community must be the
recipient's (an organisation's registration, a family's members). What follows is the selection of
domain/selection.py: community review, the street's approval in quota, notice, award.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from services.scoring.domain.honours import ADVANCED_PARTY_ORGANISATION, LEARNING_ORGANISATION, MOST_BEAUTIFUL_FAMILY
from services.scoring.domain.selection import Refused

PARTY_ORGANISATION = "party_organisation"  # a grassroots Party organisation (党组织, 党支部)
ENTERPRISE = "enterprise"
UNIT = "unit"  # an agency, school, hospital or other unit (单位) that is not an enterprise
SOCIAL_ORGANISATION = "social_organisation"  # an association, reading club or volunteer team (社会组织)
ORGANISATION_KINDS = (PARTY_ORGANISATION, ENTERPRISE, UNIT, SOCIAL_ORGANISATION)

# HonourAwarded.v1 names three recipient kinds; an organisation or unit travels as "employer" (a
# unit, 单位), which its consumers already handle as a recipient with no resident of its own.
ORGANISATION_RECIPIENT = "employer"
FAMILY_RECIPIENT = "family"


@dataclass(frozen=True)
class Nominable:
    """An honour kind nominated by people: which recipients it admits."""

    recipient: str  # "organisation" or "family"
    organisation_kinds: tuple[str, ...] = ()


NOMINATED_KINDS: dict[str, Nominable] = {
    ADVANCED_PARTY_ORGANISATION: Nominable("organisation", (PARTY_ORGANISATION,)),
    LEARNING_ORGANISATION: Nominable("organisation", ORGANISATION_KINDS),
    MOST_BEAUTIFUL_FAMILY: Nominable("family"),
}


@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    kind: str
    community_id: str


def check_registration(kind: str, community_id: str, communities: Collection[str]) -> None:
    if kind not in ORGANISATION_KINDS:
        raise Refused(f"kind must be one of {', '.join(ORGANISATION_KINDS)}, not {kind!r}", field="kind",
                      conflict=False)  # fmt: skip
    if community_id not in communities:
        raise Refused(f"unknown community {community_id!r}", field="community_id", conflict=False)


def check_organisation_nomination(kind: str, community_id: str, organisation: Organisation | None) -> str:
    """The recipient kind of an organisation honour's nomination, or why it is refused."""
    rule = _rule(kind)
    if rule.recipient != "organisation":
        raise Refused(f"{kind} is given to a family, not an organisation", field="recipient_id", conflict=False)
    if organisation is None:
        raise Refused("no organisation registered under this id", field="recipient_id", conflict=False)
    if organisation.kind not in rule.organisation_kinds:
        raise Refused(
            f"{kind} is for {' or '.join(rule.organisation_kinds)}; organisation {organisation.organisation_id} "
            f"is registered as {organisation.kind}",
            field="recipient_id", conflict=False,
        )  # fmt: skip
    if organisation.community_id != community_id:
        raise Refused(
            f"organisation {organisation.organisation_id} is registered with community "
            f"{organisation.community_id}, not {community_id}",
            field="community_id", conflict=False,
        )  # fmt: skip
    return ORGANISATION_RECIPIENT


def check_family_nomination(kind: str, community_id: str, member_communities: Collection[str]) -> str:
    """A family is nominated by the community its members are registered in (`member_communities`:
    one per member; none when no registered resident has this family id)."""
    rule = _rule(kind)
    if rule.recipient != "family":
        raise Refused(f"{kind} is given to an organisation, not a family", field="recipient_id", conflict=False)
    if not member_communities:
        raise Refused("no registered resident belongs to this family", field="recipient_id", conflict=False)
    if community_id not in member_communities:
        raise Refused(f"the family's members are registered in {', '.join(sorted(set(member_communities)))}, "
                      f"not {community_id}", field="community_id", conflict=False)  # fmt: skip
    return FAMILY_RECIPIENT


def _rule(kind: str) -> Nominable:
    rule = NOMINATED_KINDS.get(kind)
    if rule is None:
        raise Refused(f"kind must be one of {', '.join(NOMINATED_KINDS)} (the others are nominated by rules "
                      f"or competition results), not {kind!r}", field="kind", conflict=False)  # fmt: skip
    return rule


def recipient_rule(kind: str) -> Nominable:
    return _rule(kind)
