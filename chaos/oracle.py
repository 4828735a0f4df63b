"""The independent oracle: what the platform must have recorded, recomputed from the harness's own
record of what it sent and the documented rules, sharing no code with services/.

Deliberately simple: one pass over the acknowledged scans, no batching, no caches. The rules
(docs/kiosk-checkin-contract.md, docs/indicators.md) as the harness reads them:
- a (resident, session) pair with at least one acknowledged valid scan is one attendance;
- its minutes: the whole session without a check-out; with one, from the earliest check-in (or
  the session's start, whichever is later) to the latest check-out (capped at the session's end),
  in whole minutes, never below zero;
- a walk-in (no confirmed seat) gets a seat only while seats are left: of the residents who scan
  into a full session, exactly `capacity` are recorded (which ones is the platform's choice);
- a resident's minutes are the sum over their attendances; a learning star (百姓学习之星) goes to a
  resident whose minutes in the year reach `learning_star.min_hours` of the indicator file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
import yaml

from chaos.plan import MALFORMED, Checkin, Street

Pair = tuple[str, str]  # (resident, session)


@dataclass
class Expected:
    minutes: dict[Pair, int]  # every pair that must be recorded, with its minutes
    contested: dict[str, tuple[int, dict[Pair, int]]]  # session -> (seats, scanned pairs with their minutes)

    def resolve(self, recorded_pairs: Iterable[Pair]) -> dict[Pair, int]:
        """The attendances the platform must hold once it chose who got the contested seats."""
        recorded = set(recorded_pairs)
        out = dict(self.minutes)
        for _, pairs in self.contested.values():
            out |= {p: m for p, m in pairs.items() if p in recorded}
        return out


@dataclass
class Scans:
    ins: list[datetime] = field(default_factory=list)
    outs: list[datetime] = field(default_factory=list)


def session_minutes(starts_at: datetime, ends_at: datetime, scans: Scans) -> int:
    if not scans.outs:
        return int((ends_at - starts_at).total_seconds() // 60)
    begin = max(min(scans.ins), starts_at) if scans.ins else starts_at
    finish = min(max(scans.outs), ends_at)
    return max(0, int((finish - begin).total_seconds() // 60))


def expected_attendance(street: Street, acknowledged: Iterable[Checkin]) -> Expected:
    sessions = {s.session_id: s for s in street.all_sessions}
    contest = {s.session_id for s in street.contest_sessions}
    scans: dict[Pair, Scans] = defaultdict(Scans)
    for c in acknowledged:
        if c.kind == MALFORMED or c.pair is None:
            continue
        body = orjson.loads(c.value)
        at = datetime.fromisoformat(body["scanned_at"])
        (scans[c.pair].ins if body["direction"] == "in" else scans[c.pair].outs).append(at)
    minutes: dict[Pair, int] = {}
    contested: dict[str, tuple[int, dict[Pair, int]]] = {}
    for pair, seen in scans.items():
        s = sessions[pair[1]]
        m = session_minutes(s.starts_at, s.ends_at, seen)
        if s.session_id in contest:
            contested.setdefault(s.session_id, (s.capacity, {}))[1][pair] = m
        else:
            minutes[pair] = m
    return Expected(minutes, contested)


def resident_minutes(attendance: Mapping[Pair, int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (resident, _), m in attendance.items():
        out[resident] += m
    return dict(out)


def learning_stars(minutes_by_resident: Mapping[str, int], min_hours: float) -> set[str]:
    return {r for r, m in minutes_by_resident.items() if m >= min_hours * 60}


def by_community(street: Street, attendance: Mapping[Pair, int]) -> dict[str, tuple[int, int, int]]:
    """Per community of the venue: (attendances, minutes); and per home community: distinct attendees.
    Returned as community -> (attendances, minutes, attendees)."""
    venue_community = {s.session_id: s.venue.community_id for s in street.all_sessions}
    home = {r.resident_id: r.community_id for r in street.all_residents}
    counts: dict[str, list] = defaultdict(lambda: [0, 0, set()])
    for (resident, session), m in attendance.items():
        c = counts[venue_community[session]]
        c[0] += 1
        c[1] += m
        counts[home[resident]][2].add(resident)
    return {k: (a, m, len(people)) for k, (a, m, people) in counts.items()}


def star_threshold_hours(indicator_file: Path) -> float:
    """The learning star's threshold as the street's indicator file sets it (data, not code)."""
    doc = yaml.safe_load(indicator_file.read_text(encoding="utf-8"))
    return float(doc["honours"]["learning_star"]["min_hours"])
