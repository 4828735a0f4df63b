"""Selection (评选): how a candidate becomes an honour, as a state machine over one honour.

    nominated ─(community approves)─► community_approved ─(street approves, within quota)─► in_notice (公示)
    nominated, community_approved ─(rejected with a reason)─► rejected
    in_notice ─(an objection upheld)─► withdrawn
    in_notice ─(notice period over, no objection open)─► awarded ─(revoked with a reason)─► revoked

Rules (`HonourRules`) and operators' competition results only nominate (提名). A community
workstation approves or rejects its community's candidates; the street approves within a quota
per honour kind and community (`SelectionRules.quota`), which starts the public notice period;
during it anyone signed in may object with a reason, and an operator resolves each objection
(upheld: the candidate is withdrawn; dismissed: the notice goes on). When the period has ended
and no objection is open, the index leader awards the honour (`notice_over`).

With `mode: automatic` (an indicator file's choice) candidates are awarded at once, as before
selection existed. Every function here is pure: the caller passes the state it read under a row
lock and the time of its clock, and stores what comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

NOMINATED = "nominated"
COMMUNITY_APPROVED = "community_approved"
REJECTED = "rejected"
IN_NOTICE = "in_notice"
WITHDRAWN = "withdrawn"
AWARDED = "awarded"
REVOKED = "revoked"
STATES = (NOMINATED, COMMUNITY_APPROVED, REJECTED, IN_NOTICE, WITHDRAWN, AWARDED, REVOKED)
# States that hold one of the street's places: a withdrawn, rejected or revoked honour frees its place.
HOLDS_A_PLACE = (IN_NOTICE, AWARDED)

UPHELD = "upheld"
DISMISSED = "dismissed"

Mode = Literal["reviewed", "automatic"]
DEFAULT_QUOTA_KEY = "default"


class Refused(Exception):
    """A step the honour's state (or the street's quota) does not allow. `conflict`: the request
    was well formed but the honour is in the wrong state (409); otherwise the input is wrong (422)."""

    def __init__(self, reason: str, *, field: str, conflict: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.conflict = conflict


@dataclass(frozen=True)
class SelectionRules:
    """The indicator file's `selection:`. `quotas`: honour kind → community id (or `default`) →
    places per community and period; a knowledge competition's quota is per competition."""

    mode: Mode = "reviewed"
    notice_days: float = 7
    quotas: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def notice(self) -> timedelta:
        return timedelta(days=self.notice_days)

    def quota(self, kind: str, community_id: str | None) -> int:
        """Places for `kind` in `community_id` (a kind the file gives no quota has none)."""
        per = self.quotas.get(base_kind(kind), {})
        if community_id is not None and community_id in per:
            return per[community_id]
        return per.get(DEFAULT_QUOTA_KEY, 0)


def base_kind(kind: str) -> str:
    """`knowledge_competition:<id>` → `knowledge_competition`: the quota and the name are the base kind's."""
    return kind.split(":", 1)[0]


def initial_state(mode: Mode) -> str:
    return AWARDED if mode == "automatic" else NOMINATED


def _expect(state: str, wanted: str, doing: str) -> None:
    if state != wanted:
        raise Refused(f"cannot {doing} an honour that is {state} (only one that is {wanted})", field="state")


def _need_reason(reason: str | None, doing: str) -> None:
    if not (reason or "").strip():
        raise Refused(f"{doing} needs a reason", field="reason", conflict=False)


def review(state: str, decision: str, reason: str | None) -> str:
    """A community workstation's decision on its candidate; a rejection says why."""
    _expect(state, NOMINATED, f"review ({decision})")
    if decision == "rejected":
        _need_reason(reason, "a rejection")
        return REJECTED
    if decision != "approved":
        raise Refused(f"decision must be approved or rejected, not {decision!r}", field="decision", conflict=False)
    return COMMUNITY_APPROVED


def street_reject(state: str, reason: str | None) -> str:
    _expect(state, COMMUNITY_APPROVED, "reject at street level")
    _need_reason(reason, "a rejection")
    return REJECTED


def approve(state: str, *, places_taken: int, quota: int, kind: str, community_id: str | None,
            now: datetime, rules: SelectionRules) -> tuple[str, datetime]:  # fmt: skip
    """The street's approval within its quota: starts the notice period, which ends at the returned time.
    `places_taken`: honours of the same kind, period and community that already hold a place."""
    _expect(state, COMMUNITY_APPROVED, "approve at street level")
    if places_taken >= quota:
        raise Refused(
            f"quota {base_kind(kind)} for community {community_id or '(none)'} is {quota} per period, "
            f"{places_taken} already approved",
            field="quota",
        )
    return IN_NOTICE, now + rules.notice


def lodge_objection(state: str, *, notice_ends_at: datetime | None, now: datetime, reason: str | None) -> None:
    """Anyone signed in may object during the notice period, with a reason."""
    _need_reason(reason, "an objection")
    _expect(state, IN_NOTICE, "object to")
    if notice_ends_at is None or now >= notice_ends_at:
        raise Refused(f"the notice period ended at {notice_ends_at}", field="state")


def resolve_objection(state: str, *, objection_outcome: str | None, outcome: str, reason: str | None) -> str:
    """An operator's resolution of an open objection; returns the honour's new state."""
    if objection_outcome is not None:
        raise Refused(f"the objection is already resolved ({objection_outcome})", field="objection_id")
    if outcome not in (UPHELD, DISMISSED):
        raise Refused(f"outcome must be upheld or dismissed, not {outcome!r}", field="outcome", conflict=False)
    _need_reason(reason, "a resolution")
    # An objection stays open past the notice's end (no award meanwhile), so the honour is still in notice.
    _expect(state, IN_NOTICE, "resolve an objection to")
    return WITHDRAWN if outcome == UPHELD else IN_NOTICE


def notice_over(state: str, *, notice_ends_at: datetime | None, open_objections: int, now: datetime) -> bool:
    """Whether the honour is awarded now: its notice period has ended and no objection is open."""
    return state == IN_NOTICE and notice_ends_at is not None and now >= notice_ends_at and open_objections == 0


def revoke(state: str) -> str:
    """Only an awarded honour is revoked; a candidate is rejected or objected to instead."""
    if state == REVOKED:
        raise Refused("the honour is already revoked", field="honour_id")
    _expect(state, AWARDED, "revoke")
    return REVOKED
