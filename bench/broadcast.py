"""Broadcast (宣传, issue 18): one learning-week announcement to N residents, event to `sent`.

N bench residents (`BENCH_BROADCAST_RESIDENTS`) are imported through enrolment's registry import
(1,000 a request; ids are fixed, so a later run reuses them and the import changes nothing), with
a phone (four in five, the local SMS gateway) or an e-mail address (one in five, the mail sink),
consent to notifications and their own quiet hours "00:00"-"00:00" (none: the street's default
22:00-08:00 Beijing time would defer every message of a run in the Chinese night). They share an
audience no other resident of the street is generated in (BENCH_COMMUNITY × BENCH_GROUP), so the
broadcast goes to them and to the few residents tests may have put there.

Once notify knows their community and contacts (from enrolment.residents and .contacts), an
operator sends the broadcast through notify's API. The figures come from notify's database: for
each bench message, seconds from the broadcast's creation (`broadcasts.created_at`) to its
`sent_at` (same clock), and its lag behind the schedule the rate limit gave it (created_at +
position / rate, position = rank by resident id as notify queues them). The counts (targeted,
suppressed, sent, failed) are the broadcast's report (GET /v1/broadcasts/{id}).

notify spreads a broadcast at `NOTIFY_BROADCAST_RATE_PER_S` (default 200/s). A run as configured
shows what that limit allows; the delivery capacity is measured on notify restarted with the
limit lifted (every message due at once), which is what `broadcast_per_s` reports.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench import env, stats
from services.notify.config import NotifySettings

PREFIX = "bench-bcast-r"
BENCH_COMMUNITY, BENCH_GROUP = "lichang", "infant"
PARKED_GROUP = "special"  # bench residents beyond this run's N wait here, out of the audience
EMAIL_EVERY = 5
NO_QUIET_HOURS = "00:00"
IMPORT_CHUNK = 1000
LIFTED_RATE_PER_S = 1_000_000.0
TERMINAL = ("sent", "failed", "suppressed", "cancelled")
MESSAGE_ZH = "平湖学习周下周一开幕，欢迎到社区学校报名参加。"
MESSAGE_EN = "Pinghu learning week opens next Monday: enrol at your community school."


def resident_id(i: int) -> str:
    return f"{PREFIX}{i:06d}"


def resident(i: int) -> dict:
    """The i-th bench resident as the registry import takes it (same fields on every run)."""
    by_email = i % EMAIL_EVERY == EMAIL_EVERY - 1
    body = {
        "resident_id": resident_id(i),
        "community_id": BENCH_COMMUNITY,
        "audience_group": BENCH_GROUP,
        "language": "en" if i % 10 == 9 else "zh-CN",
        "consent": True,
        "consents": ["notifications"],
        "preferred_channel": "email" if by_email else "sms",
        "quiet_hours_start": NO_QUIET_HOURS,
        "quiet_hours_end": NO_QUIET_HOURS,
    }
    if by_email:
        body["email"] = f"{resident_id(i)}@bench.learnstreet.local"
    else:
        body["phone"] = f"+86139{i:08d}"
    return body


def configured_rate_per_s() -> float:
    """The broadcast rate the running notify was started with (credentials file and environment,
    as `env.start_service` gives them, else the service's default)."""
    raw = env.credentials().get("NOTIFY_BROADCAST_RATE_PER_S")
    return float(raw) if raw else float(NotifySettings.model_fields["broadcast_rate_per_s"].default)


def quiet_hours_note(now: datetime | None = None) -> str:
    """Beijing time now and whether the street's default quiet hours hold (they decide unless the
    resident's contact carries its own)."""
    from services.notify.domain.model import QuietHours
    from services.notify.service_layer.delivery import timezone

    defaults = NotifySettings.model_fields
    start, end = defaults["quiet_hours_start"].default, defaults["quiet_hours_end"].default
    start = env.credentials().get("NOTIFY_QUIET_HOURS_START", start)
    end = env.credentials().get("NOTIFY_QUIET_HOURS_END", end)
    tz = timezone(env.credentials().get("NOTIFY_TIMEZONE", defaults["timezone"].default))
    now = now or datetime.now(UTC)
    inside = QuietHours.parse(start, end, tz).contains(now)
    return (
        f"{now.astimezone(tz):%H:%M} in Beijing, {'inside' if inside else 'outside'} the street's quiet hours "
        f"{start}-{end}; the bench residents carry their own quiet hours {NO_QUIET_HOURS}-{NO_QUIET_HOURS} (none), "
        f"so nothing is deferred either way"
    )


# --- residents --------------------------------------------------------------------------------------


async def register(n: int) -> tuple[int, int]:
    """Import residents 0..n-1 (existing ones are left as they are); (registered, existing)."""
    chunks = [list(range(start, min(n, start + IMPORT_CHUNK))) for start in range(0, n, IMPORT_CHUNK)]
    registered = existing = 0
    async with env.client("enrolment") as http:
        http.timeout = 120.0

        async def one(chunk: list[int]) -> None:
            nonlocal registered, existing
            body = {"residents": [resident(i) for i in chunk]}
            response = await env.patiently(lambda: http.post("/v1/residents/import", json=body))
            if response.status_code != 200:
                raise RuntimeError(f"registry import: {response.status_code} {response.text[:300]}")
            answer = response.json()
            registered += answer["registered"]
            existing += len(answer["existing"])

        queue = list(chunks)

        async def worker() -> None:
            while queue:
                await one(queue.pop())

        await asyncio.gather(*(worker() for _ in range(2)))
    return registered, existing


def index_of(resident: str) -> int | None:
    number = resident.removeprefix(PREFIX)
    return int(number) if resident.startswith(PREFIX) and number.isdigit() else None


def realign(groups: dict[str, str], n: int) -> dict[str, str]:
    """The audience group each bench resident must be moved to so that the audience holds exactly
    residents 0..n-1: those beyond n (an earlier, larger run) are parked in PARKED_GROUP, parked
    ones below n come back. `groups`: resident id → its audience group as notify knows it."""
    moves = {}
    for resident, group in groups.items():
        i = index_of(resident)
        if i is None:
            continue
        if i >= n and group == BENCH_GROUP:
            moves[resident] = PARKED_GROUP
        elif i < n and group != BENCH_GROUP:
            moves[resident] = BENCH_GROUP
    return moves


async def align_audience(n: int) -> int:
    """PATCH the bench residents whose audience group does not match this run's N (through
    enrolment's API, as a change of registry data; notify learns it from enrolment.residents);
    returns how many were moved."""
    conn = await env.database("notify")
    try:
        rows = await conn.fetch(
            "SELECT resident_id, audience_group FROM residents WHERE resident_id LIKE $1 AND community_id = $2",
            f"{PREFIX}%", BENCH_COMMUNITY,
        )  # fmt: skip
    finally:
        await conn.close()
    moves = list(realign({r["resident_id"]: r["audience_group"] for r in rows}, n).items())
    if not moves:
        return 0
    async with env.client("enrolment") as http:

        async def worker() -> None:
            while moves:
                resident, group = moves.pop()
                response = await env.patiently(
                    lambda r=resident, g=group: http.patch(f"/v1/residents/{r}", json={"audience_group": g})
                )
                if response.status_code != 200:
                    raise RuntimeError(f"moving {resident}: {response.status_code} {response.text[:300]}")

        total = len(moves)
        await asyncio.gather(*(worker() for _ in range(16)))
    return total


async def wait_contacts(n: int, timeout_s: float) -> float:
    """Until notify knows every bench resident's community and contact (consent, no quiet hours)
    and the audience holds no other bench resident; returns the seconds waited."""
    started = time.monotonic()
    conn = await env.database("notify")
    try:
        while True:
            row = await conn.fetchrow(
                """SELECT count(*) AS audience,
                          count(*) FILTER (WHERE r.resident_id < $4 AND k.consent
                                             AND k.quiet_hours_start = k.quiet_hours_end) AS ready
                     FROM residents r LEFT JOIN contacts k USING (resident_id)
                    WHERE r.resident_id LIKE $1 AND r.community_id = $2 AND r.audience_group = $3""",
                f"{PREFIX}%", BENCH_COMMUNITY, BENCH_GROUP, resident_id(n),
            )  # fmt: skip
            if row["ready"] == n and row["audience"] == n:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(
                    f"after {timeout_s:.0f} s notify holds {row['ready']:,} of {n:,} bench residents ready and "
                    f"{row['audience']:,} bench residents in the audience"
                )
            await asyncio.sleep(1.0)
    finally:
        await conn.close()


# --- one broadcast -------------------------------------------------------------------------------------


@dataclass
class Run:
    broadcast_id: uuid.UUID
    rate_limit_per_s: float
    messages: int  # bench residents' messages queued
    from_creation_s: list[float] = field(default_factory=list)  # per message sent: creation → sent
    lag_s: list[float] = field(default_factory=list)  # per message sent: its scheduled time → sent
    report: dict = field(default_factory=dict)
    unfinished: int = 0
    request_s: float = 0.0  # the operator's POST, which queues every message
    cpu_ms_per_message: dict[str, float] = field(default_factory=dict)  # process → CPU ms per message sent

    @property
    def summary(self) -> dict[str, float]:
        return stats.broadcast_summary(self.from_creation_s)

    @property
    def others(self) -> int:
        """Residents of the audience that are not the bench's (tests may register some there)."""
        return int(self.report.get("targeted", 0)) - self.messages


async def send(n: int, rate_limit_per_s: float, timeout_s: float) -> Run:
    """One broadcast to the bench audience; waits until each of the n bench messages is final."""
    broadcast_id = uuid.uuid4()
    processes = delivery_processes()
    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    backends = database_backends("notify")
    db_before = {pid: cpu_seconds(pid) for pid in backends}
    async with env.client("notify") as http:
        started = time.monotonic()
        response = await http.post(
            "/v1/broadcasts",
            json={
                "broadcast_id": str(broadcast_id), "category": "learning_week",
                "message_zh": MESSAGE_ZH, "message_en": MESSAGE_EN,
                "audience": {"community_ids": [BENCH_COMMUNITY], "audience_groups": [BENCH_GROUP]},
            },
            timeout=300.0,
        )  # fmt: skip
        request_s = time.monotonic() - started
        if response.status_code != 201:
            raise RuntimeError(f"broadcast: {response.status_code} {response.text[:300]}")
        run = Run(broadcast_id, rate_limit_per_s, 0, request_s=request_s)
        conn = await env.database("notify")
        try:
            progress, last_change = -1, time.monotonic()
            while True:
                row = await conn.fetchrow(
                    """SELECT count(*) AS messages, count(*) FILTER (WHERE status = ANY($2::text[])) AS final
                       FROM notifications
                       WHERE kind = 'announcement' AND params->>'broadcast_id' = $1 AND resident_id LIKE $3""",
                    str(broadcast_id), list(TERMINAL), f"{PREFIX}%",
                )  # fmt: skip
                run.messages, run.unfinished = row["messages"], row["messages"] - row["final"]
                if run.unfinished == 0:
                    break
                if row["final"] != progress:
                    progress, last_change = row["final"], time.monotonic()
                if time.monotonic() - started > timeout_s or time.monotonic() - last_change > 60:
                    break  # reported as unfinished
                await asyncio.sleep(1.0)
            rows = await conn.fetch(
                f"""SELECT n.resident_id LIKE '{PREFIX}%' AS ours, n.status,
                           extract(epoch FROM n.sent_at - b.created_at) AS from_creation,
                           extract(epoch FROM n.sent_at - (b.created_at + make_interval(
                               secs => (row_number() OVER (ORDER BY n.resident_id) - 1) / $2::float8))) AS lag
                      FROM notifications n JOIN broadcasts b ON b.broadcast_id = $1::uuid
                     WHERE n.kind = 'announcement' AND n.params->>'broadcast_id' = $3::text""",
                broadcast_id, rate_limit_per_s, str(broadcast_id),
            )  # fmt: skip
        finally:
            await conn.close()
        cpu_after = {name: cpu_seconds(pid) for name, pid in processes.items()}
        db_after = {pid: cpu_seconds(pid) for pid in backends}
        spent = {
            name: cpu_after[name] - cpu_before[name]
            for name in processes
            if cpu_before[name] is not None and cpu_after[name] is not None
        }
        # backends that lived through the whole broadcast (notify's pool keeps its connections)
        spent["postgres (notify's connections)"] = sum(
            db_after[pid] - db_before[pid] for pid in backends if None not in (db_before[pid], db_after[pid])
        )
        sent_all = sum(1 for r in rows if r["status"] == "sent")
        run.cpu_ms_per_message = {name: 1000 * seconds / sent_all for name, seconds in spent.items() if sent_all}
        sent = [r for r in rows if r["ours"] and r["status"] == "sent"]
        run.from_creation_s = [float(r["from_creation"]) for r in sent]
        run.lag_s = [float(r["lag"]) for r in sent]
        report = await http.get(f"/v1/broadcasts/{broadcast_id}")
        report.raise_for_status()
        run.report = report.json()
    return run


def describe(run: Run, label: str) -> str:
    r = run.report
    s = run.summary
    lag = stats.percentile(run.lag_s, 99) if run.lag_s else float("nan")
    return (
        f"broadcast {label} (limit {run.rate_limit_per_s:,.0f}/s): {len(run.from_creation_s):,} of "
        f"{run.messages:,} bench messages sent, {s.get('broadcast_per_s', 0):,.0f}/s from creation to the last "
        f"sent, p50 {stats.percentile(run.from_creation_s, 50) if run.from_creation_s else float('nan'):.1f} s, "
        f"p99 {s.get('broadcast_p99_s', float('nan')):.1f} s from creation; p99 {lag:.1f} s behind the "
        f"limit's schedule; the operator's request took {run.request_s:.1f} s; CPU per message sent: "
        f"{', '.join(f'{name} {ms:.1f} ms' for name, ms in run.cpu_ms_per_message.items()) or '-'}; report: targeted "
        f"{r.get('targeted')}, suppressed {r.get('suppressed')} {r.get('suppressed_by_reason')}, sent "
        f"{r.get('sent')}, failed {r.get('failed')}, pending {r.get('pending')}"
        + (f" ({run.others} of them other residents of the audience)" if run.others else "")
        + (f"; {run.unfinished:,} bench messages NOT final when the stage gave up" if run.unfinished else "")
    )


# --- notify with the broadcast limit lifted ----------------------------------------------------------


async def restart_notify(extra_env: dict[str, str] | None = None) -> None:
    env.stop_service("notify")
    env.start_service("notify", extra_env)
    await env.wait_ready("notify", timeout_s=90)


def lifted() -> dict[str, str]:
    return {"NOTIFY_BROADCAST_RATE_PER_S": str(LIFTED_RATE_PER_S)}


def auxiliary_pid(script: str) -> int | None:
    """An auxiliary process of the stack (not a service), e.g. the local SMS gateway."""
    for entry in env.Path("/proc").iterdir():
        if entry.name.isdigit() and f"deploy/local/{script}" in env._cmdline(int(entry.name)):
            return int(entry.name)
    return None


def sms_gateway_pid() -> int | None:
    return auxiliary_pid("sms_gateway.py")


def delivery_processes() -> dict[str, int]:
    """notify's process and the local channels', whose CPU time a broadcast costs."""
    found = {"notify": (env.service_pids("notify") or [None])[0], "sms gateway": sms_gateway_pid(),
             "mail sink": auxiliary_pid("mailsink.py")}  # fmt: skip
    return {name: pid for name, pid in found.items() if pid is not None}


def database_backends(service: str) -> list[int]:
    """PostgreSQL's backend processes serving the service's connections (their command line names
    the database: "postgres: learnstreet_notify learnstreet_notify 127.0.0.1(…) idle")."""
    marker = f"postgres: learnstreet_{service} "
    return [
        int(entry.name)
        for entry in env.Path("/proc").iterdir()
        if entry.name.isdigit() and env._cmdline(int(entry.name)).startswith(marker)
    ]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (/proc/<pid>/stat), None once it is gone."""
    try:
        fields = env.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
