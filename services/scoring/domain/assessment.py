"""Assessed indicators: self-assessment (自评) and expert assessment (专家评估) kept apart.

The street or a community assesses itself (an operator, or a community worker for its own
community); an expert assessment comes only from the role assessor. Neither replaces the other:
each kind keeps its own history, and an indicator's score in the index is its latest expert score
when there is one, else its latest self score (`effective`), so the experts' judgement is never
overwritten by the assessed party's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SELF = "self"
EXPERT = "expert"
KINDS = (SELF, EXPERT)
EXPERT_ROLE = "assessor"
SELF_ROLES = ("operator", "community_worker")


class NotPermitted(Exception):
    """The caller's roles do not allow this kind of assessment (403)."""


def kind_for(requested: str | None, role: str, roles: frozenset[str]) -> tuple[str, str]:
    """The kind of an assessment and the role it is recorded in. Without a request, an assessor's
    is expert and anyone else's is self; an expert score needs the assessor role."""
    kind = requested or (EXPERT if role == EXPERT_ROLE else SELF)
    if kind == EXPERT:
        if EXPERT_ROLE not in roles:
            raise NotPermitted("only an assessor records an expert assessment (专家评估)")
        return EXPERT, EXPERT_ROLE
    acting = role if role in SELF_ROLES else next((r for r in SELF_ROLES if r in roles), None)
    if acting is None:
        raise NotPermitted("a self-assessment (自评) is the street's or a community's: an operator or community worker")
    return SELF, acting


def effective(latest: Mapping[str, Mapping[str, Any]]) -> tuple[float | None, str | None]:
    """The score the index uses and where it comes from: the latest expert score, else the latest self score."""
    for kind in (EXPERT, SELF):
        if kind in latest:
            return float(latest[kind]["score"]), kind
    return None, None
