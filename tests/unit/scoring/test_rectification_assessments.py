"""Self-assessment (自评) and expert assessment (专家评估) kept apart (services/scoring/domain/assessment.py)."""

from __future__ import annotations

import pytest

from services.scoring.adapters.indicator_file import parse_indicator_set
from services.scoring.domain import assessment as a
from services.scoring.domain.scoring import score_community
from tests.unit.scoring.test_indicators import small


def test_the_kind_follows_the_role_and_only_an_assessor_records_an_expert_score():
    assert a.kind_for(None, "assessor", frozenset({"assessor"})) == ("expert", "assessor")
    assert a.kind_for(None, "operator", frozenset({"operator"})) == ("self", "operator")
    assert a.kind_for("self", "community_worker", frozenset({"community_worker"})) == ("self", "community_worker")
    # a person who is both operator and assessor records an expert score only when asking for one
    assert a.kind_for(None, "operator", frozenset({"operator", "assessor"})) == ("self", "operator")
    assert a.kind_for("expert", "operator", frozenset({"operator", "assessor"})) == ("expert", "assessor")
    for role in ("operator", "community_worker"):
        with pytest.raises(a.NotPermitted):
            a.kind_for("expert", role, frozenset({role}))
    with pytest.raises(a.NotPermitted):  # an assessor's own view is expert, never the assessed party's
        a.kind_for("self", "assessor", frozenset({"assessor"}))


def test_the_index_uses_the_expert_score_when_present_else_the_self_score():
    expert, own = {"score": 2.0, "by": "e"}, {"score": 5.5, "by": "o"}
    assert a.effective({"expert": expert, "self": own}) == (2.0, "expert")
    assert a.effective({"self": own}) == (5.5, "self")
    assert a.effective({}) == (None, None)


def test_a_leaf_shows_both_kinds_and_counts_the_expert_one():
    latest = {"a.plan": {"self": {"score": 3.9, "by": "ws-hehua"}, "expert": {"score": 2.5, "by": "expert-1"}}}
    effective = {i: a.effective(k)[0] for i, k in latest.items()}
    view = score_community(parse_indicator_set(small()), {}, effective, "community", latest)
    leaf = next(i for i in view["aspects"][0]["indicators"] if i["id"] == "a.plan")
    assert (leaf["score"], leaf["assessed_by"]) == (2.5, "expert")
    assert (leaf["self_assessment"]["score"], leaf["expert_assessment"]["score"]) == (3.9, 2.5)
    assert [i["indicator_id"] for i in view["rectification"]].count("a.plan") == 1  # 2.5 is below the pass line 3
