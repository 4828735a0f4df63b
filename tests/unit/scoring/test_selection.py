"""The selection state machine (services/scoring/domain/selection.py), pure: every allowed step, every
refused one with the field and the kind of refusal (409 or 422), the quota, the notice period, and a
property over arbitrary sequences of steps: nothing is awarded without a street approval, a notice
period that ended and no objection open, and approvals never exceed the quota."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.adapters.indicator_file import IndicatorFileError, load_indicator_file, parse_selection
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.domain import selection as sel
from services.scoring.domain.honours import KINDS
from services.scoring.domain.selection import Refused, SelectionRules

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
RULES = SelectionRules(notice_days=7, quotas={"learning_star": {"default": 2, "hehua": 3}, "knowledge_competition":
                                              {"default": 1}})  # fmt: skip


def _refused(fn, *args, **kw) -> Refused:
    with pytest.raises(Refused) as caught:
        fn(*args, **kw)
    return caught.value


def _approve(state: str, taken: int = 0, community: str | None = "pinghu", kind: str = "learning_star"):
    quota = RULES.quota(kind, community)
    return sel.approve(state, places_taken=taken, quota=quota, kind=kind, community_id=community, now=T0, rules=RULES)


def test_a_candidate_goes_from_nomination_through_notice_to_award():
    state = sel.initial_state("reviewed")
    assert state == sel.NOMINATED
    state = sel.review(state, "approved", None)
    assert state == sel.COMMUNITY_APPROVED
    state, ends = _approve(state)
    assert state == sel.IN_NOTICE and ends == T0 + timedelta(days=7)
    sel.lodge_objection(state, notice_ends_at=ends, now=T0 + timedelta(days=1), reason="he was abroad all year")
    assert not sel.notice_over(state, notice_ends_at=ends, open_objections=1, now=ends + timedelta(days=3))
    state = sel.resolve_objection(state, objection_outcome=None, outcome=sel.DISMISSED, reason="records checked")
    assert state == sel.IN_NOTICE
    assert not sel.notice_over(state, notice_ends_at=ends, open_objections=0, now=ends - timedelta(seconds=1))
    assert sel.notice_over(state, notice_ends_at=ends, open_objections=0, now=ends)
    assert sel.revoke(sel.AWARDED) == sel.REVOKED


def test_an_upheld_objection_withdraws_the_candidate():
    state = sel.resolve_objection(sel.IN_NOTICE, objection_outcome=None, outcome=sel.UPHELD, reason="false hours")
    assert state == sel.WITHDRAWN
    assert not sel.notice_over(state, notice_ends_at=T0, open_objections=0, now=T0 + timedelta(days=30))


def test_automatic_selection_awards_at_once():
    assert sel.initial_state("automatic") == sel.AWARDED


def test_rejections_need_a_reason_and_end_the_candidacy():
    refused = _refused(sel.review, sel.NOMINATED, "rejected", "  ")
    assert (refused.field, refused.conflict) == ("reason", False)
    assert sel.review(sel.NOMINATED, "rejected", "not resident here") == sel.REJECTED
    assert sel.street_reject(sel.COMMUNITY_APPROVED, "quota better used elsewhere") == sel.REJECTED
    assert _refused(sel.street_reject, sel.NOMINATED, "x").field == "state"


@pytest.mark.parametrize("state", [sel.REJECTED, sel.NOMINATED, sel.IN_NOTICE, sel.WITHDRAWN, sel.AWARDED])
def test_the_street_approves_only_what_the_community_approved(state):
    refused = _refused(_approve, state)
    assert refused.conflict and refused.field == "state" and state in refused.reason


@pytest.mark.parametrize("state", [s for s in sel.STATES if s != sel.NOMINATED])
def test_a_community_reviews_only_a_fresh_candidate(state):
    refused = _refused(sel.review, state, "approved", None)
    assert refused.conflict and refused.field == "state"


def test_the_quota_is_per_kind_and_community_and_named_when_full():
    assert RULES.quota("learning_star", "hehua") == 3
    assert RULES.quota("learning_star", "pinghu") == 2
    assert RULES.quota("learning_star", None) == 2
    assert RULES.quota("knowledge_competition:quiz-2026", "pinghu") == 1  # per competition, the base kind's
    assert RULES.quota("learning_family", "pinghu") == 0  # a kind the file gives no quota has no places
    assert _approve(sel.COMMUNITY_APPROVED, taken=1)[0] == sel.IN_NOTICE
    refused = _refused(_approve, sel.COMMUNITY_APPROVED, taken=2)
    assert refused.conflict and refused.field == "quota"
    assert "quota learning_star for community pinghu is 2" in refused.reason
    assert _approve(sel.COMMUNITY_APPROVED, taken=2, community="hehua")[0] == sel.IN_NOTICE
    assert _refused(_approve, sel.COMMUNITY_APPROVED, kind="learning_family").field == "quota"


def test_objections_only_during_the_notice_period_and_with_a_reason():
    ends = T0 + timedelta(days=7)
    assert _refused(sel.lodge_objection, sel.IN_NOTICE, notice_ends_at=ends, now=ends, reason="late").field == "state"
    refused = _refused(sel.lodge_objection, sel.IN_NOTICE, notice_ends_at=ends, now=T0, reason="")
    assert (refused.field, refused.conflict) == ("reason", False)
    for state in (sel.NOMINATED, sel.COMMUNITY_APPROVED, sel.AWARDED, sel.WITHDRAWN):
        assert _refused(sel.lodge_objection, state, notice_ends_at=ends, now=T0, reason="x").field == "state"


def test_an_objection_is_resolved_once():
    refused = _refused(sel.resolve_objection, sel.IN_NOTICE, objection_outcome=sel.DISMISSED, outcome=sel.UPHELD,
                       reason="second thoughts")  # fmt: skip
    assert refused.conflict and refused.field == "objection_id"
    refused = _refused(sel.resolve_objection, sel.IN_NOTICE, objection_outcome=None, outcome="maybe", reason="x")
    assert (refused.field, refused.conflict) == ("outcome", False)


def test_only_an_awarded_honour_is_revoked():
    assert _refused(sel.revoke, sel.REVOKED).field == "honour_id"
    for state in (sel.NOMINATED, sel.IN_NOTICE, sel.WITHDRAWN, sel.REJECTED):
        assert _refused(sel.revoke, state).conflict


def test_the_indicator_files_selection_section():
    assert parse_selection(None, "f") == SelectionRules()
    rules = parse_selection({"mode": "automatic", "notice_days": 2, "quotas": {"learning_star": 4,
                             "learning_family": {"default": 1, "hehua": 2}}}, "f")  # fmt: skip
    assert rules.mode == "automatic" and rules.notice == timedelta(days=2)
    assert rules.quota("learning_family", "hehua") == 2 and rules.quota("learning_star", "xinmu") == 4
    for bad in ({"mode": "manual"}, {"quotas": {"learning_star": -1}}, {"quotas": {"learning_star": 1.5}},
                {"notice_days": "seven"}, ["reviewed"]):  # fmt: skip
        with pytest.raises(IndicatorFileError):
            parse_selection(bad, "f")


# --- property: arbitrary sequences of steps over three candidates of one kind and community (2 places) -------------

STEPS = st.lists(
    st.tuples(
        st.integers(0, 2),
        # approvals weigh more, so that sequences reach the quota and the end of notice periods
        st.sampled_from(
            ["approve"] * 3
            + ["street_approve"] * 3
            + ["reject", "street_reject", "object", "uphold", "dismiss", "tick", "tick"]
        ),
        st.integers(0, 10),  # days the clock moves first
    ),
    min_size=6,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_no_award_without_approval_an_ended_notice_and_no_open_objection(steps):
    quota = RULES.quota("learning_star", "pinghu")
    now = T0
    state = {i: sel.NOMINATED for i in range(3)}
    ends: dict[int, datetime] = {}
    open_objections = {i: 0 for i in range(3)}
    history: dict[int, list[str]] = {i: [sel.NOMINATED] for i in range(3)}
    for i, action, days in steps:
        now += timedelta(days=days)
        try:
            if action in ("approve", "reject"):
                state[i] = sel.review(state[i], "approved" if action == "approve" else "rejected", "r")
            elif action == "street_approve":
                taken = sum(s in sel.HOLDS_A_PLACE for s in state.values())
                state[i], ends[i] = sel.approve(state[i], places_taken=taken, quota=quota, kind="learning_star",
                                                community_id="pinghu", now=now, rules=RULES)  # fmt: skip
            elif action == "street_reject":
                state[i] = sel.street_reject(state[i], "r")
            elif action == "object":
                sel.lodge_objection(state[i], notice_ends_at=ends.get(i), now=now, reason="r")
                open_objections[i] += 1
            elif action in ("uphold", "dismiss"):
                if open_objections[i] == 0:
                    continue
                outcome = sel.UPHELD if action == "uphold" else sel.DISMISSED
                state[i] = sel.resolve_objection(state[i], objection_outcome=None, outcome=outcome, reason="r")
                open_objections[i] -= 1
            else:
                for j in state:
                    if sel.notice_over(state[j], notice_ends_at=ends.get(j), open_objections=open_objections[j],
                                       now=now):  # fmt: skip
                        state[j] = sel.AWARDED
                        history[j].append(sel.AWARDED)
                        assert now >= ends[j] and open_objections[j] == 0
        except Refused:
            pass
        history[i].append(state[i])
        assert sum(s in sel.HOLDS_A_PLACE for s in state.values()) <= quota
    for states in history.values():
        if sel.AWARDED in states:
            before = states[: states.index(sel.AWARDED)]
            assert sel.COMMUNITY_APPROVED in before and sel.IN_NOTICE in before


def test_the_shipped_indicator_file_selects_with_a_quota_for_every_kind():
    rules = load_indicator_file(DEFAULT_INDICATORS).selection
    assert rules.mode == "reviewed" and rules.notice == timedelta(days=7)
    assert all(rules.quota(kind, "pinghu") > 0 for kind in KINDS), rules.quotas
