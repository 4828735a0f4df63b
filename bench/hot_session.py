"""Hot session (抢报): N residents press "enrol" for one popular session at the same moment.

The same N enrolment requests are sent twice with the same client and concurrency: once for ONE
session of `seats` seats (the hot load) and once spread over N / seats sessions (the spread load).
The hot load must stay correct (the first `seats` arrivals confirmed, the others waitlisted with
positions 1..N-seats in arrival order) and reach a share of the spread rate: once requests are
cheap, the one session row every request locks is what could limit it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson

from bench import enrolment_load, env, http_burst


@dataclass
class HotRun:
    hot: http_burst.Burst
    spread: http_burst.Burst
    correct: bool
    problems: list[str]

    @property
    def ratio(self) -> float:
        return self.hot.rate / self.spread.rate if self.spread.rate else 0.0


def _enrolments(prefix: str, residents: int, sessions: int) -> list[http_burst.Request]:
    return [
        http_burst.Request(
            "POST", f"/v1/sessions/{prefix}-s{i % sessions + 1}/enrolments",
            orjson.dumps({"resident_id": f"{prefix}-r{i + 1}"}),
        )
        for i in range(residents)
    ]  # fmt: skip


def check_hot(burst: http_burst.Burst, seats: int) -> list[str]:
    """What is wrong with the hot session's answers (empty when every request was answered right)."""
    if set(burst.statuses) != {201}:
        return [f"status codes {burst.statuses}, expected only 201"]
    answers = sorted((orjson.loads(body) for body in burst.bodies), key=lambda e: e["seq"])
    n = len(answers)
    problems = []
    if [a["seq"] for a in answers] != list(range(1, n + 1)):
        problems.append("arrival sequence has gaps or repeats")
    statuses = [a["status"] for a in answers]
    if statuses != ["confirmed"] * seats + ["waitlisted"] * (n - seats):
        problems.append(f"{statuses.count('confirmed')} confirmed, expected the first {seats} arrivals")
    if [a["position"] for a in answers[seats:]] != list(range(1, n - seats + 1)):
        problems.append("waitlist positions are not 1..N in arrival order")
    return problems


async def run(*, requests: int = 2000, seats: int = 50, connections: int = 64) -> HotRun:
    hot_prefix, spread_prefix = f"hot{uuid.uuid4().hex[:8]}", f"spread{uuid.uuid4().hex[:8]}"
    await enrolment_load.prepare(hot_prefix, requests, 1, seats)
    await enrolment_load.prepare(spread_prefix, requests, max(1, requests // seats), seats)
    url, token = env.service_url("enrolment"), env.token("operator")
    spread = await http_burst.run(url, token, _enrolments(spread_prefix, requests, requests // seats), connections)
    hot = await http_burst.run(url, token, _enrolments(hot_prefix, requests, 1), connections)
    problems = check_hot(hot, seats)
    return HotRun(hot, spread, not problems, problems)
