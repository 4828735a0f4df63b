"""The harness's own checks, on made-up records (no Kafka): a lost, duplicated or unaccounted
record must be counted, or the chaos figures would prove nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from aiokafka.structs import ConsumerRecord

from chaos import plan as kinds
from chaos.plan import CONTEST_RESIDENTS, CONTEST_SEATS, CONTEST_SESSIONS, fault_schedule, make_plan
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
    contested = CONTEST_SESSIONS * CONTEST_RESIDENTS
    assert plan.counts == {
        kinds.VALID: 1740 - contested, kinds.LATE: 40, kinds.DUPLICATE: 100, kinds.MALFORMED: 20,
        kinds.RESCAN: 40, kinds.CHECKOUT: 60, kinds.CONTESTED: contested,
    }  # fmt: skip
    pairs = [c.pair for c in plan.checkins + plan.late if c.kind in (kinds.VALID, kinds.LATE, kinds.CONTESTED)]
    assert len(pairs) == len(set(pairs)) == 1780
    assert len(plan.checkins) + len(plan.late) == 2000
    position = {c.seq: i for i, c in enumerate(plan.checkins)}
    derived = [c for c in plan.checkins if c.origin is not None]
    assert all(position[c.origin] < position[c.seq] for c in derived if not c.before_origin)
    overtaking = [c for c in derived if c.before_origin]
    assert overtaking and all(position[c.seq] < position[c.origin] for c in overtaking)
    assert all(c.kind == kinds.CHECKOUT and b'"direction":"out"' in c.value for c in overtaking)
    assert any(c.reason == "too_large" for c in plan.checkins)
    assert all(s.capacity == CONTEST_SEATS < CONTEST_RESIDENTS for s in plan.street.contest_sessions)


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
    bad = [c for c in plan.checkins if c.kind == kinds.MALFORMED]
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


# ---------------------------------------------------------------- the oracle and the effect checks
def oracle_inputs(n: int = 3000, seed: int = 5):
    from chaos import oracle

    plan = make_plan(RUN, n, seed=seed, now=datetime(2026, 5, 1, 10, tzinfo=UTC))
    sent = plan.checkins + plan.late
    expected = oracle.expected_attendance(plan.street, sent)
    # a platform that did everything right: the first seats of each contested session taken
    chosen = {p for _, (seats, pairs) in expected.contested.items() for p in sorted(pairs)[:seats]}
    held = expected.resolve(chosen)
    return plan, expected, held


def perfect_effects(plan, held):
    from chaos import oracle

    rows = [(r, s, m) for (r, s), m in held.items()]
    return rows, oracle.resident_minutes(held), oracle.by_community(plan.street, held)


def compare(plan, expected, rows, minutes, communities, stars, hours=40.0):
    from chaos import oracle
    from chaos.verify import check_against_oracle

    return check_against_oracle(
        expected, rows, minutes, communities, lambda must: oracle.by_community(plan.street, must), stars, hours
    )


def test_the_oracle_computes_minutes_from_the_earliest_in_and_latest_out():
    from chaos.oracle import Scans, session_minutes

    start, end = datetime(2026, 5, 1, 8, tzinfo=UTC), datetime(2026, 5, 1, 13, tzinfo=UTC)
    at = lambda h, m=0: datetime(2026, 5, 1, h, m, tzinfo=UTC)  # noqa: E731
    assert session_minutes(start, end, Scans(ins=[at(9)])) == 300  # no check-out: the whole session
    assert session_minutes(start, end, Scans(ins=[at(9, 30), at(9)], outs=[at(11), at(12, 15)])) == 195
    assert session_minutes(start, end, Scans(outs=[at(10)])) == 120  # check-out alone: from the start
    assert session_minutes(start, end, Scans(ins=[at(7)], outs=[at(14)])) == 300  # capped to the session
    assert session_minutes(start, end, Scans(ins=[at(12)], outs=[at(11)])) == 0


def test_the_oracle_check_passes_a_platform_that_did_everything_right():
    from chaos import oracle

    plan, expected, held = oracle_inputs()
    rows, minutes, communities = perfect_effects(plan, held)
    stars = sorted(oracle.learning_stars(minutes, 40.0))
    assert any(c.kind == kinds.CHECKOUT for c in plan.checkins) and any(m < 300 for m in held.values())
    f = compare(plan, expected, rows, minutes, communities, stars)
    assert (f.oracle_mismatches, f.minutes_mismatches, f.honour_mismatches) == (0, 0, 0), f.detail
    assert stars, "the plan must give some residents a learning star, or the honour check proves nothing"


def test_the_oracle_check_catches_each_failure_it_names():
    from chaos import oracle

    plan, expected, held = oracle_inputs()
    rows, minutes, communities = perfect_effects(plan, held)
    stars = sorted(oracle.learning_stars(minutes, 40.0))
    (r, s, m) = rows[0]
    # an attendance lost, one recorded twice, one with other minutes
    assert compare(plan, expected, rows[1:], minutes, communities, stars).attendance_mismatches >= 1
    assert compare(plan, expected, [*rows, rows[0]], minutes, communities, stars).attendance_mismatches == 1
    wrong = [(r, s, m + 1), *rows[1:]]
    assert compare(plan, expected, wrong, minutes, communities, stars).attendance_mismatches == 1
    # a walk-in beyond the seats of a contested session
    _, (seats, pairs) = next(iter(expected.contested.items()))
    loser = sorted(pairs)[seats]
    over = [*rows, (*loser, pairs[loser])]
    assert compare(plan, expected, over, minutes, communities, stars).contest_overflow == 1
    # a resident's minutes counted twice (an attendance.recorded applied twice)
    doubled = {**minutes, r: minutes[r] + m}
    assert compare(plan, expected, rows, doubled, communities, stars).minutes_mismatches == 1
    # the community aggregates counting an attendance twice
    c = next(iter(communities))
    a, mins, people = communities[c]
    more = {**communities, c: (a + 1, mins + 300, people)}
    assert compare(plan, expected, rows, minutes, more, stars).community_mismatches == 1
    # a second honour for one resident, a missing one, one not earned
    assert compare(plan, expected, rows, minutes, communities, [*stars, stars[0]]).honour_mismatches == 1
    assert compare(plan, expected, rows, minutes, communities, stars[1:]).honour_mismatches == 1
    unearned = next(p for p in minutes if p not in stars)
    assert compare(plan, expected, rows, minutes, communities, [*stars, unearned]).honour_mismatches == 1


def test_sms_repeats_count_requests_after_an_accepted_one(tmp_path):
    import time as _time

    from chaos.verify import sms_repeats

    now = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime())
    lines = [
        {"idempotency_key": "k1", "outcome": "injected_503"},  # failed, then retried: not a repeat
        {"idempotency_key": "k1", "outcome": "accepted"},
        {"idempotency_key": "k2", "outcome": "accepted"},
        {"idempotency_key": "k2", "outcome": "replayed"},  # the gateway de-duplicated; a carrier would not
        {"idempotency_key": "k2", "outcome": "in_flight"},
    ]
    (tmp_path / "requests.jsonl").write_bytes(b"".join(orjson.dumps({**x, "received_at": now}) + b"\n" for x in lines))
    n, detail = sms_repeats(tmp_path, _time.time() - 60)
    assert n == 2 and "k2" in detail[0]
    none, why = sms_repeats(tmp_path / "missing", 0)
    assert none == 0 and "does not exist" in why[0]


async def test_the_aiokafka_kiosk_sends_a_failed_scan_again_until_it_is_acknowledged(monkeypatch):
    """A send that fails (broker down, timeout) is retried with the same bytes through a new producer."""
    import asyncio

    from chaos import kafka_io

    class Meta:
        partition, offset = 0, 7

    made: list = []

    class FlakyProducer:
        def __init__(self, **_):
            self.sent: list = []
            made.append(self)

        async def start(self):
            pass

        async def stop(self):
            pass

        async def flush(self):
            pass

        async def send(self, topic, value, key=None, headers=None):
            self.sent.append(value)
            fut = asyncio.get_running_loop().create_future()
            if len(made) == 1:  # the first producer's sends all time out
                fut.set_exception(TimeoutError("request timed out"))
            else:
                fut.set_result(Meta())
            return fut

    monkeypatch.setattr(kafka_io, "AIOKafkaProducer", FlakyProducer)
    monkeypatch.setattr(kafka_io, "auth", lambda env, who: {})
    monkeypatch.setattr(kafka_io.AiokafkaKiosk, "RETRY_DELAY_S", 0.01)
    plan = make_plan(RUN, 200, seed=4)
    acked = []
    kiosk = kafka_io.AiokafkaKiosk({}, RUN, lambda c, p, o: acked.append(c.seq))
    await kiosk.start()
    scans = plan.checkins[:5]
    for c in scans:
        await kiosk.send(c)
    await kiosk.flush(timeout_s=10)
    await kiosk.stop()
    assert sorted(acked) == sorted(c.seq for c in scans) and not kiosk.unacked
    assert kiosk.failures == 5 and kiosk.retries == 5 and kiosk.replaced >= 1
    assert made[-1].sent == [c.value for c in scans]  # the same bytes, so the same checkin_ids
