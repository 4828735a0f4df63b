"""The harness's own checks, on made-up records (no Kafka): a lost, duplicated or unaccounted
record must be counted, or the chaos figures would prove nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from aiokafka.structs import ConsumerRecord

from chaos.plan import DUPLICATE, LATE, MALFORMED, VALID, fault_schedule, make_plan
from chaos.verify import Ledger, check_attendance, check_dead_letters, check_enrolments

RUN = "chaos-test"


def rec(headers: dict[str, str], value: dict | bytes, topic: str = "t") -> ConsumerRecord:
    body = value if isinstance(value, bytes) else orjson.dumps(value)
    return ConsumerRecord(
        topic, 0, 0, 0, 0, None, body, None, 0, len(body), [(k, v.encode()) for k, v in headers.items()]
    )


def attendance(resident: str, session: str, attendance_id: str | None = None, event_id: str | None = None):
    return rec(
        {"ce_type": "learnstreet.activities.attendance.recorded.v1", "ce_id": event_id or str(uuid.uuid4())},
        {"resident_id": resident, "session_id": session, "attendance_id": attendance_id or f"{resident}/{session}"},
    )


def test_the_plan_has_the_requested_mix_and_every_valid_pair_once():
    plan = make_plan(RUN, 2000, seed=1, now=datetime(2026, 5, 1, tzinfo=UTC))
    assert plan.counts == {VALID: 1840, LATE: 40, DUPLICATE: 100, MALFORMED: 20}
    pairs = [c.pair for c in plan.checkins + plan.late if c.kind in (VALID, LATE)]
    assert len(pairs) == len(set(pairs)) == 1880
    position = {c.seq: i for i, c in enumerate(plan.checkins)}
    assert all(position[c.origin] < position[c.seq] for c in plan.checkins if c.origin is not None)
    assert any(c.reason == "too_large" for c in plan.checkins)


def test_the_fault_schedule_has_every_fault_within_the_load():
    faults = fault_schedule(seed=3, load_s=100, services=("a", "b"), kills_per_service=3)
    kinds = sorted(f.kind for f in faults)
    assert kinds.count("sigkill") == 6 and kinds.count("sigterm") == 2
    assert {"kafka_restart", "pg_terminate", "pause"} <= set(kinds)
    assert all(0 < f.at_s < 100 for f in faults) and [f.at_s for f in faults] == sorted(f.at_s for f in faults)


def ledger_of(plan) -> Ledger:
    ledger = Ledger()
    for c in plan.checkins + plan.late:
        ledger.send(c)
        ledger.ack(c, 0, c.seq)
    return ledger


def test_attendance_check_counts_lost_duplicated_and_redelivered():
    plan = make_plan(RUN, 200, seed=2)
    ledger = ledger_of(plan)
    pairs = sorted({c.pair for c in plan.checkins + plan.late if c.pair})
    records = [attendance(r, s) for r, s in pairs]
    ok = check_attendance(ledger, records, RUN)
    assert (ok.lost, ok.duplicated, ok.recorded, ok.phantom) == (0, 0, len(pairs), 0)

    lost = check_attendance(ledger, records[1:], RUN)
    assert lost.lost == 1 and lost.lost_examples == [pairs[0]]
    r, s = pairs[0]
    twice = check_attendance(ledger, [*records, attendance(r, s, attendance_id="another")], RUN)
    assert twice.duplicated == 1
    again = check_attendance(ledger, [*records, records[0]], RUN)  # the same event read twice
    assert again.duplicated == 0 and again.redelivered == 1
    ghost = check_attendance(ledger, [*records, attendance(f"{RUN}-r99999", "nowhere")], RUN)
    assert ghost.phantom == 1


def test_dead_letter_check_counts_unaccounted_and_wrong_reasons():
    plan = make_plan(RUN, 1000, seed=3)
    ledger = ledger_of(plan)
    bad = [c for c in plan.checkins if c.kind == MALFORMED]
    letters = [rec({"chaos_run": RUN, "chaos_seq": str(c.seq), "dlq_reason": c.reason}, b"x") for c in bad]
    ok = check_dead_letters(ledger, letters, RUN)
    assert (ok.dead_lettered, ok.unaccounted, ok.wrong_reason) == (len(bad), 0, 0)
    assert check_dead_letters(ledger, letters[1:], RUN).unaccounted == 1
    no_reason = [rec({"chaos_run": RUN, "chaos_seq": str(bad[0].seq)}, b"x"), *letters[1:]]
    assert check_dead_letters(ledger, no_reason, RUN).unaccounted == 1
    big = next(c for c in bad if c.reason == "too_large")
    mislabelled = [rec({"chaos_run": RUN, "chaos_seq": str(c.seq), "dlq_reason": "invalid"}, b"x") for c in bad]
    assert check_dead_letters(ledger, mislabelled, RUN).wrong_reason == 1 and big


def enrolment_event(action: str, enrolment_id: str, session: str = "s1"):
    return rec(
        {"ce_type": f"learnstreet.enrolment.enrolment.{action}.v1", "ce_id": str(uuid.uuid4())},
        {"enrolment_id": enrolment_id, "session_id": session},
    )


def test_enrolment_check_finds_over_capacity_and_double_promotions():
    fine = [enrolment_event("confirmed", "e1"), enrolment_event("waitlisted", "e2"),
            enrolment_event("cancelled", "e1"), enrolment_event("promoted", "e2")]  # fmt: skip
    assert check_enrolments(fine, {"s1": 1}).over_capacity == 0
    over = [enrolment_event("confirmed", "e1"), enrolment_event("promoted", "e2")]
    assert check_enrolments(over, {"s1": 1}).over_capacity == 1
    double = [*fine, enrolment_event("cancelled", "e2"), enrolment_event("promoted", "e2")]
    assert check_enrolments(double, {"s1": 1}).double_promotions == 1
