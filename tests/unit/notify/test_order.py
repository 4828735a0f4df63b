"""Issue 13: what residents are told does not depend on the order in which notify's topics
arrive. Hypothesis merges the topics' streams in any interleaving (each stream keeps its own
order, as a partition does) with delivery rounds anywhere in between, and drives the pure rules
of services/notify/domain/model.py through tests/unit/notify/world.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events.catalogue import (
    CourseCancelled,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    HonourRevoked,
    ResidentContactChanged,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
)
from tests.unit.notify.world import World

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
STARTS = NOW + timedelta(days=5)
CANCELLATIONS = {"session_cancelled", "course_cancelled", "enrolment_cancelled"}
GOOD_NEWS = {"enrolment_confirmed", "enrolment_promoted", "enrolment_waitlisted"}


def scheduled(session="s1", course="c1", starts=STARTS) -> SessionScheduled:
    return SessionScheduled(session_id=session, course_id=course, venue_id="v1", community_id="k1",
                            starts_at=starts, ends_at=starts + timedelta(hours=2), capacity=20)  # fmt: skip


def changed(starts, session="s1", course="c1") -> SessionChanged:
    return SessionChanged(**{**scheduled(session, course).model_dump(), "starts_at": starts,
                             "ends_at": starts + timedelta(hours=2)})  # fmt: skip


def seat_event(cls, enrolment="e1", resident="r1", session="s1", course="c1", at=NOW, **kw):
    return cls(enrolment_id=enrolment, session_id=session, course_id=course, resident_id=resident,
               session_starts_at=STARTS, at=at, **kw)  # fmt: skip


@st.composite
def interleaving(draw, streams: dict[str, list]) -> list:
    """The events of every stream merged in an order Kafka may deliver them, with `None` (a
    delivery round) anywhere."""
    labels = draw(st.permutations([name for name, events in streams.items() for _ in events]))
    cursors = dict.fromkeys(streams, 0)
    merged = []
    for name in labels:
        merged.append(streams[name][cursors[name]])
        cursors[name] += 1
        if draw(st.booleans()):
            merged.append(None)
    return merged


def run(steps: list) -> World:
    world = World(NOW)
    for step in steps:
        world.deliver() if step is None else world.apply(step)
    world.deliver()
    return world


# --- a cancelled session is the last word ----------------------------------------------------------


def _cancel_streams(cancel) -> dict[str, list]:
    confirm = seat_event(EnrolmentConfirmed)
    return {
        "catalogue": [scheduled(), cancel],
        # the enrolment service cancels the seats of a cancelled session, after it learnt of it
        "enrolments": [confirm, seat_event(EnrolmentCancelled, at=NOW + timedelta(minutes=1), reason="cancelled")],
        "contacts": [ResidentContactChanged(resident_id="r1", consent=True, phone="+8613800000000")],
    }


@settings(max_examples=300, deadline=None)
@given(data=st.data(), course=st.booleans(), enrolment_cancel_seen=st.booleans())
def test_a_cancelled_session_or_course_is_the_last_word_whatever_the_order(data, course, enrolment_cancel_seen):
    cancel = CourseCancelled(course_id="c1", reason="x") if course else SessionCancelled(session_id="s1",
                                                                                        course_id="c1")  # fmt: skip
    streams = _cancel_streams(cancel)
    if not enrolment_cancel_seen:
        streams["enrolments"].pop()  # the seat's own cancellation may not have come yet
    world = run(data.draw(interleaving(streams)))
    said = world.said("r1")
    assert said and said[-1] in CANCELLATIONS, said
    assert len([k for k in said if k in CANCELLATIONS]) == 1, said  # told once, not three ways
    assert not [k for k in world.pending("r1") if k.startswith("reminder")]


# --- promotion supersedes the waiting list ---------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.data(), replay_at=st.integers(0, 3))
def test_a_promotion_is_never_followed_by_a_waitlisted_notice(data, replay_at):
    waitlisted = seat_event(EnrolmentWaitlisted, position=3)
    promoted = seat_event(EnrolmentPromoted, at=NOW + timedelta(minutes=5))
    enrolments = [waitlisted, promoted]
    enrolments.insert(max(1, min(replay_at, 2)), waitlisted)  # a replay of the older fact, after the original
    streams = {
        # a move after the replay finds the seat confirmed (not set back to waitlisted): reminders follow it
        "catalogue": [scheduled(), changed(STARTS + timedelta(days=1))],
        "enrolments": enrolments,
        # the contact may come late: until then the waiting-list notice stays queued
        "contacts": [ResidentContactChanged(resident_id="r1", consent=True, phone="+8613800000000")],
    }
    world = run(data.draw(interleaving(streams)))
    said = world.said("r1")
    assert said.count("enrolment_promoted") == 1, said
    assert "enrolment_waitlisted" not in said[said.index("enrolment_promoted") :], said
    assert "enrolment_waitlisted" not in world.pending("r1")
    reminders = [r for r in world.rows.values() if r.kind.startswith("reminder") and r.status == "queued"]
    assert sorted((r.kind, r.starts_at) for r in reminders) == [
        ("reminder_24h", STARTS + timedelta(days=1)),
        ("reminder_2h", STARTS + timedelta(days=1)),
    ]


# --- a revoked honour -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.data(), replayed=st.booleans())
def test_a_revoked_honour_is_either_never_told_or_told_then_revoked(data, replayed):
    award = HonourAwarded(honour_id="h1", kind="learning_star", period="2026", recipient_kind="family",
                          recipient_id="f1", resident_ids=["r1", "r2"])  # fmt: skip
    honours = [award, HonourRevoked(honour_id="h1", reason="error")] + ([award] if replayed else [])
    streams = {
        "honours": honours,
        "contacts": [ResidentContactChanged(resident_id="r1", consent=True, phone="+8613800000000")],
    }
    world = run(data.draw(interleaving(streams)))
    assert world.said("r1") in ([], ["honour_awarded", "honour_revoked"]), world.said("r1")
    assert world.said("r2") == [] and world.pending("r2") == []  # r2 has no contact: nothing left to tell
    assert world.pending("r1") == []


# --- message identity: repetition gives one notice, recurrence a new one ---------------------------


def test_the_same_events_applied_twice_queue_nothing_new():
    events = [
        scheduled(),
        seat_event(EnrolmentWaitlisted, position=1),
        seat_event(EnrolmentPromoted, at=NOW + timedelta(minutes=1)),
        changed(STARTS + timedelta(days=1)),
        seat_event(EnrolmentConfirmed, enrolment="e2", resident="r2"),
        seat_event(EnrolmentCancelled, enrolment="e2", resident="r2", at=NOW + timedelta(minutes=2)),
        seat_event(EnrolmentConfirmed, enrolment="e3", resident="r3", session="s2"),
        SessionCancelled(session_id="s2", course_id="c1"),
        seat_event(EnrolmentConfirmed, enrolment="e4", resident="r4", session="s3", course="c2"),
        CourseCancelled(course_id="c2"),
        HonourAwarded(
            honour_id="h1",
            kind="learning_star",
            period="2026",
            recipient_kind="resident",
            recipient_id="r5",
            resident_ids=["r5"],
        ),
    ]
    once, twice = World(NOW), World(NOW)
    for world in (once, twice):
        world.contacts.update({"r1", "r2", "r3", "r4", "r5"})
    revoke = HonourRevoked(honour_id="h1", reason="error")
    for event in [*events, revoke]:
        once.apply(event)
        once.deliver()
        for _ in range(2):  # redelivered (a retried batch, a restarted consumer), then delivered again
            twice.apply(event)
            twice.deliver()
    kinds = {row.kind for row in once.rows.values()}
    assert kinds >= {"enrolment_waitlisted", "enrolment_promoted", "enrolment_confirmed", "enrolment_cancelled",
                     "session_changed", "session_cancelled", "course_cancelled", "reminder_24h", "reminder_2h",
                     "honour_awarded", "honour_revoked"}  # fmt: skip
    assert set(twice.rows) == set(once.rows)
    assert [r.key for r in twice.sent] == [r.key for r in once.sent]


class _Told(World):
    """A world whose worker sends each notice as soon as it is queued."""

    def apply(self, event) -> None:
        super().apply(event)
        self.deliver()


def _world(*residents: str) -> World:
    world = _Told(NOW)
    world.contacts.update(residents)
    return world


def test_a_resident_who_cancels_and_enrols_again_gets_reminders_again():
    world = _world("r1")
    world.apply(scheduled())
    world.apply(seat_event(EnrolmentConfirmed))
    world.apply(seat_event(EnrolmentCancelled, at=NOW + timedelta(minutes=1)))
    world.apply(seat_event(EnrolmentConfirmed, enrolment="e2", at=NOW + timedelta(minutes=2)))
    world.deliver()
    assert world.said("r1") == ["enrolment_confirmed", "enrolment_cancelled", "enrolment_confirmed"]
    assert world.pending("r1") == ["reminder_24h", "reminder_2h"]


def test_a_session_moved_a_b_a_b_gives_each_change_and_reminders_for_the_schedule_it_ends_on():
    world = _world("r1")
    world.apply(scheduled())
    world.apply(seat_event(EnrolmentConfirmed))
    b = STARTS + timedelta(days=1)
    for starts in (b, STARTS, b):
        world.apply(changed(starts))
        world.deliver()
        world.apply(changed(starts))  # a republished change is not a new one
        world.deliver()
    assert world.said("r1") == ["enrolment_confirmed", "session_changed", "session_changed", "session_changed"]
    reminders = [r for r in world.rows.values() if r.kind.startswith("reminder") and r.status == "queued"]
    assert sorted(r.starts_at for r in reminders) == [b, b]


def test_reminders_come_back_when_a_session_moves_back():
    world = _world("r1")
    world.apply(scheduled())
    world.apply(seat_event(EnrolmentConfirmed))
    world.apply(changed(STARTS + timedelta(days=1)))
    world.apply(changed(STARTS))
    reminders = [r for r in world.rows.values() if r.kind == "reminder_24h" and r.status == "queued"]
    assert [r.starts_at for r in reminders] == [STARTS]


def test_every_seat_notice_recurs_with_a_new_enrolment():
    world = _world("r1")
    world.apply(scheduled())
    for n in (1, 2):
        at = NOW + timedelta(minutes=10 * n)
        world.apply(seat_event(EnrolmentWaitlisted, enrolment=f"e{n}", at=at, position=1))
        world.apply(seat_event(EnrolmentPromoted, enrolment=f"e{n}", at=at + timedelta(minutes=1)))
        world.apply(seat_event(EnrolmentCancelled, enrolment=f"e{n}", at=at + timedelta(minutes=2)))
        world.deliver()
    said = world.said("r1")
    for kind in ("enrolment_waitlisted", "enrolment_promoted", "enrolment_cancelled"):
        assert said.count(kind) == 2, said
    world.apply(seat_event(EnrolmentConfirmed, enrolment="e3", at=NOW + timedelta(hours=1)))
    world.apply(seat_event(EnrolmentConfirmed, enrolment="e4", at=NOW + timedelta(hours=2)))
    assert world.said("r1").count("enrolment_confirmed") == 2


def test_session_course_and_honour_notices_recur_with_a_new_fact_only():
    world = _world("r1")
    for session, course in (("s1", "c1"), ("s2", "c1"), ("s3", "c2"), ("s4", "c3")):
        world.apply(scheduled(session, course))
        world.apply(seat_event(EnrolmentConfirmed, enrolment=f"e-{session}", session=session, course=course))
    world.apply(SessionCancelled(session_id="s1", course_id="c1"))
    world.apply(SessionCancelled(session_id="s2", course_id="c1"))
    world.apply(CourseCancelled(course_id="c2"))
    world.apply(CourseCancelled(course_id="c3"))
    for honour in ("h1", "h2"):
        world.apply(HonourAwarded(honour_id=honour, kind="learning_star", period="2026", recipient_kind="resident",
                                  recipient_id="r1", resident_ids=["r1"]))  # fmt: skip
    world.deliver()
    for honour in ("h1", "h2"):
        world.apply(HonourRevoked(honour_id=honour, reason="error"))
    world.deliver()
    said = world.said("r1")
    for kind in ("session_cancelled", "course_cancelled", "honour_awarded", "honour_revoked"):
        assert said.count(kind) == 2, (kind, said)


def test_a_confirmation_for_a_session_already_cancelled_is_told_as_the_cancellation():
    world = _world("r1")
    world.apply(SessionCancelled(session_id="s1", course_id="c1", starts_at=STARTS))
    world.apply(seat_event(EnrolmentConfirmed))
    world.deliver()
    assert world.said("r1") == ["session_cancelled"] and world.pending("r1") == []
