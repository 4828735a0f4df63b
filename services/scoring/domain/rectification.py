"""Rectification (整改): how much would lift a leaf below its pass line to it, in words an operator acts on."""

from __future__ import annotations

import math
from datetime import date

from services.scoring.domain.indicators import METRICS, Indicator, MetricValue


def gap(ind: Indicator, mv: MetricValue) -> tuple[float, str, str]:
    """How much of the numerator would lift a computed leaf to its pass line, with the words for it."""
    assert ind.metric is not None
    m = METRICS[ind.metric]
    if mv.denominator == 0:  # nothing measured yet: the first step is the activity itself, not a number
        return (
            0.0,
            "尚无可统计的数据：请先开展并记录相关活动",
            "nothing to measure yet: hold and record the activity first",
        )
    if m.lower_is_better:
        amount = mv.numerator - ind.pass_line * mv.denominator
    else:
        amount = ind.pass_line * mv.denominator - mv.numerator
    amount = max(0.0, amount)
    amount = math.ceil(amount - 1e-9) if m.integral else math.ceil(amount * 10 - 1e-9) / 10
    n = f"{amount:g}"
    return amount, m.gap_zh.format(n=n), m.gap_en.format(n=n)


def assessed_gap(ind: Indicator, assessed: float | None) -> tuple[float, str, str]:
    """How many points an assessed leaf lacks to its pass line, with the words for it."""
    if assessed is None:
        return (
            round(ind.pass_line, 4),
            "尚未评估：请专家录入评分与佐证材料",
            "not assessed yet: an assessor should record a score with evidence",
        )
    missing = ind.pass_line - assessed
    return (
        round(missing, 4),
        f"专家评分需再提高 {missing:g} 分：补充佐证材料后复评",
        f"{missing:g} more points from the experts: add evidence, reassess",
    )


# --- rectification tasks (整改任务): an item of the list, tracked until an assessor verifies it -------
#
#     open ─(owner starts)─► in_progress ─(owner finishes)─► done ─(assessor or operator verifies)─► verified
#     done ─(assessor or operator reopens, with a reason)─► open
#
# The owner is a street department (its work is recorded by operators) or a community workstation
# (its community workers, or an operator acting for it). Verified is final: a later shortfall of the
# same indicator is a new task.

OPEN = "open"
IN_PROGRESS = "in_progress"
DONE = "done"
VERIFIED = "verified"
TASK_STATUSES = (OPEN, IN_PROGRESS, DONE, VERIFIED)
# Statuses whose deadline still matters: a task done waits for verification, not for its owner.
PENDING = (OPEN, IN_PROGRESS)
DEPARTMENT = "department"
COMMUNITY = "community"
OWNER_KINDS = (DEPARTMENT, COMMUNITY)

# (from, to) → who may take the step: the task's owner, or a verifier (assessor or operator).
_OWNER, _VERIFIER = "owner", "verifier"
_STEPS = {
    (OPEN, IN_PROGRESS): _OWNER,
    (IN_PROGRESS, DONE): _OWNER,
    (DONE, VERIFIED): _VERIFIER,
    (DONE, OPEN): _VERIFIER,
}
VERIFIER_ROLES = ("assessor", "operator")


class TaskRefused(Exception):
    """A step the task's status does not allow (`conflict`: 409) or a wrong input (422), with the field."""

    def __init__(self, reason: str, *, field: str, conflict: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.conflict = conflict


class NotPermitted(Exception):
    """The caller's role or community does not allow this step on this task (403)."""


def owns(owner_kind: str, owner: str, role: str, community_id: str | None) -> bool:
    """Whether the caller works for the task's owner: an operator for every owner (it records a
    department's work and may act for a workstation), a community worker for its own community."""
    if role == "operator":
        return True
    return role == "community_worker" and owner_kind == COMMUNITY and owner == community_id


def check_owner(owner_kind: str, owner: str, communities: set[str], item_community: str) -> None:
    """A community workstation owns only its own community's items; a department may own any item."""
    if owner_kind not in OWNER_KINDS:
        raise TaskRefused(f"owner_kind must be one of {', '.join(OWNER_KINDS)}", field="owner_kind", conflict=False)
    if not owner.strip():
        raise TaskRefused("a task needs an owner", field="owner", conflict=False)
    if owner_kind == COMMUNITY and owner not in communities:
        raise TaskRefused(f"unknown community workstation {owner!r}", field="owner", conflict=False)
    if owner_kind == COMMUNITY and item_community in communities and owner != item_community:
        raise TaskRefused(
            f"the workstation of {owner} cannot own an item of community {item_community}", field="owner",
            conflict=False,
        )  # fmt: skip


def move(status: str, to: str, *, role: str, is_owner: bool, reason: str | None) -> str:
    """The task's next status, if the caller may take it there from `status`."""
    if to not in TASK_STATUSES:
        raise TaskRefused(f"status must be one of {', '.join(TASK_STATUSES)}, not {to!r}", field="status",
                          conflict=False)  # fmt: skip
    who = _STEPS.get((status, to))
    if who is None:
        allowed = sorted(t for f, t in _STEPS if f == status)
        raise TaskRefused(
            f"cannot move a task that is {status} to {to} (only to {', '.join(allowed) or 'nothing: it is final'})",
            field="status",
        )
    if who == _OWNER and not is_owner:
        raise NotPermitted(f"only the task's owner (or an operator) moves it from {status} to {to}")
    if who == _VERIFIER and role not in VERIFIER_ROLES:
        raise NotPermitted(f"only an assessor or an operator moves a task from {status} to {to}")
    if (status, to) == (DONE, OPEN) and not (reason or "").strip():
        raise TaskRefused("reopening a task needs a reason", field="reason", conflict=False)
    return to


def reassignable(status: str) -> None:
    """Owner and deadline change while the work is not verified."""
    if status == VERIFIED:
        raise TaskRefused("a verified task is final: open a new one", field="status")


def is_overdue(status: str, deadline: date, today: date) -> bool:
    """Past its deadline (the whole deadline day counts, in the street's calendar) and not yet done."""
    return status in PENDING and today > deadline
