"""The passport fold: events one by one (`Ledger.apply`, the meaning) and the same events in
batches as set-based writes (`BatchChanges`, with the statements' semantics of
adapters/passport.apply_changes) give the same passports, whatever the batch boundaries and
redeliveries."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.enrolment.domain.passport import (
    ADJUSTED,
    AWARDED,
    RECORDED,
    REVOKED,
    BatchChanges,
    Ledger,
    honour_residents,
    revoked_placeholder,
)
from shared.events.catalogue import AttendanceAdjusted, AttendanceRecorded, HonourAwarded, HonourRevoked

T0 = datetime(2026, 4, 1, 1, tzinfo=UTC)


def recorded(att: str, resident: str, minutes: int) -> tuple[str, object, datetime]:
    data = AttendanceRecorded(
        attendance_id=att, checkin_id=uuid.uuid5(uuid.NAMESPACE_URL, att), resident_id=resident,
        session_id=f"s-{att}", course_id="c1", venue_id="v1", community_id="pinghu", theme="reading",
        minutes=minutes, scanned_at=T0,
    )  # fmt: skip
    return RECORDED, data, T0


def adjusted(att: str, resident: str, minutes: int) -> tuple[str, object, datetime]:
    data = AttendanceAdjusted(attendance_id=att, resident_id=resident, session_id=f"s-{att}",
                              community_id="pinghu", minutes=minutes)  # fmt: skip
    return ADJUSTED, data, T0


def awarded(honour: str, at: datetime, **kw) -> tuple[str, object, datetime]:
    fields = {"kind": "learning_star", "period": "2026", "recipient_kind": "resident", "recipient_id": "r1", **kw}
    return AWARDED, HonourAwarded(honour_id=honour, **fields), at


def revoked(honour: str, at: datetime, reason: str = "error") -> tuple[str, object, datetime]:
    return REVOKED, HonourRevoked(honour_id=honour, reason=reason), at


class Store:
    """The two tables as adapters/passport.apply_changes writes them."""

    def __init__(self) -> None:
        self.attendance: dict = {}
        self.honours: dict = {}

    def apply(self, changes: BatchChanges) -> None:
        for key, entry in changes.recorded.items():  # ON CONFLICT DO NOTHING
            self.attendance.setdefault(key, entry)
        for key, minutes in changes.adjusted.items():  # UPDATE ... WHERE attendance_id
            if key in self.attendance:
                self.attendance[key] = replace(self.attendance[key], minutes=minutes)
        for key, award in changes.awarded.items():  # upsert WHERE kind = '' (keeps revocation)
            known = self.honours.get(key)
            if known is None:
                self.honours[key] = award
            elif known.kind == "":
                self.honours[key] = replace(
                    award, revoked=known.revoked, revoke_reason=known.revoke_reason, revoked_at=known.revoked_at
                )
        for key, (reason, at) in changes.revoked.items():  # upsert WHERE NOT revoked
            known = self.honours.get(key)
            if known is None:
                self.honours[key] = revoked_placeholder(key, reason, at)
            elif not known.revoked:
                self.honours[key] = replace(known, revoked=True, revoke_reason=reason, revoked_at=at)


def stream(rng: random.Random) -> list:
    """Per key (attendance, honour) in causal order, as one partition delivers them; redeliveries."""
    events = []
    for i in range(rng.randint(5, 30)):
        att, resident = f"att{i}", f"r{i % 4}"
        per_key = [recorded(att, resident, rng.randint(0, 180))]
        per_key += [adjusted(att, resident, rng.randint(0, 180)) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.3:
            per_key.insert(rng.randint(1, len(per_key)), recorded(att, resident, rng.randint(0, 180)))
        events.append(per_key)
    for i in range(rng.randint(0, 8)):
        at = T0 + timedelta(days=i)
        per_key = [awarded(f"h{i}", at, recipient_id=f"r{i % 4}")]
        if rng.random() < 0.4:
            per_key.append(revoked(f"h{i}", at + timedelta(hours=1), reason=f"why{i}"))
        if rng.random() < 0.2:
            per_key.reverse()  # a revocation that overtook its award (another producer's order)
        if rng.random() < 0.3:
            per_key.append(per_key[0])  # a redelivery
        events.append(per_key)
    # Interleave the keys, keeping each key's order.
    out = []
    while events:
        key = rng.randrange(len(events))
        out.append(events[key].pop(0))
        if not events[key]:
            events.pop(key)
    return out


def test_batches_equal_the_event_by_event_fold():
    for seed in range(300):
        rng = random.Random(seed)
        events = stream(rng)
        ledger = Ledger()
        for type_name, data, at in events:
            ledger.apply(type_name, data, at)
        store = Store()
        i = 0
        while i < len(events):
            size = rng.randint(1, 7)
            store.apply(BatchChanges.of(events[i : i + size]))
            i += size
        assert store.attendance == ledger.attendance, seed
        assert store.honours == ledger.honours, seed


def test_adjustment_sets_the_total_and_a_redelivered_recording_does_not_undo_it():
    ledger = Ledger()
    for e in (recorded("a", "r1", 90), adjusted("a", "r1", 45), recorded("a", "r1", 90)):
        ledger.apply(*e)
    assert ledger.attendance["a"].minutes == 45


def test_a_revocation_wins_in_either_order_and_keeps_its_reason():
    first, second = Ledger(), Ledger()
    for e in (awarded("h", T0), revoked("h", T0 + timedelta(hours=1), "duplicate award")):
        first.apply(*e)
    for e in (revoked("h", T0 + timedelta(hours=1), "duplicate award"), awarded("h", T0)):
        second.apply(*e)
    assert first.honours == second.honours
    honour = first.honours["h"]
    assert honour.state == "revoked" and honour.revoke_reason == "duplicate award" and honour.kind == "learning_star"


def test_family_honours_show_in_the_named_residents_passports():
    assert honour_residents("family", "f1", ["r1", "r2", "r1"]) == ("r1", "r2")
    assert honour_residents("resident", "r3", []) == ("r3",)
    assert honour_residents("resident", "r3", ["r3"]) == ("r3",)
