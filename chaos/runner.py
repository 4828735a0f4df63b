"""One chaos run: register a street, load it through two kiosk clients while faults are injected,
quiesce, then check the invariants and print the figures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chaos import kafka_io, oracle, processes, street, verify
from chaos.plan import KCAT, Checkin, Fault, fault_schedule, make_plan
from chaos.processes import ROOT, SERVICES, Services
from shared.events import topics

ATTENDANCE, CHECKINS_DLQ, ENROLMENTS = topics.ATTENDANCE.name, topics.KIOSK_CHECKINS.dlq, topics.ENROLMENTS.name
KCAT_CHUNK = 500
RETRY_FOR_S = 600.0  # a kiosk keeps an unacknowledged scan and sends it again for this long


@dataclass
class Config:
    checkins: int = 100_000
    kills_per_service: int = 3
    sigterms_per_service: int = 1
    kafka_restarts: int = 1
    pg_terminations: int = 1
    broker_kills: int = 0  # on a cluster: SIGKILLs of the broker leading kiosk.checkins
    pauses: int = 1
    pause_targets: tuple[str, ...] = ("activities", "scoring")
    fault_services: tuple[str, ...] = SERVICES
    replicas: int | None = None  # instances of each service the run requires (None: what runs)
    brokers: int | None = None  # brokers the run requires (None: what runs)
    max_poll_interval_ms: int = 15_000
    load_s: float = 240.0
    quiesce_timeout_s: float = 900.0
    seed: int = 7
    helper_port: int = 18_180


@dataclass
class Run:
    cfg: Config
    console: Console
    env: dict[str, str] = field(default_factory=processes.load_env)
    faults_done: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    killed_brokers: list[int] = field(default_factory=list)


async def inject(run: Run, services: Services, fault: Fault) -> None:
    kind, target = fault.kind, fault.target
    if kind in ("sigkill", "sigterm"):
        sig = signal.SIGKILL if kind == "sigkill" else signal.SIGTERM
        # With several instances one goes down at a time, as in a rolling restart or a lost pod:
        # the others take its partitions while it is away and give them back when it returns.
        instance = run.rng.choice(services.instances[target]) if services.replicas(target) > 1 else None
        stopped = await services.stop(target, sig, instance=instance)
        if stopped:
            run.faults_done[kind] = run.faults_done.get(kind, 0) + 1
        for attempt in range(3):  # someone else may stop what we start: the stack must come back
            try:
                await services.ensure_running(target)
                break
            except RuntimeError as e:
                run.notes.append(f"restart of {target} after {kind}, attempt {attempt + 1}: {e}")
        return
    elif kind == "kafka_restart":
        await processes.restart_kafka(run.env)
    elif kind == "broker_kill":
        leaders = await kafka_io.partition_leaders(run.env, kafka_io.CHECKINS)
        led = Counter(leaders.values())
        node = led.most_common(1)[0][0] if led else 1
        run.killed_brokers.append(node)
        run.notes.append(f"broker_kill: node {node} led {led.get(node, 0)} of {len(leaders)} kiosk.checkins partitions")
        await processes.kill_broker(run.env, node)
    elif kind == "pg_terminate":
        n = await processes.terminate_pg_connections(run.env)
        run.notes.append(f"pg_terminate: {n} connections terminated")
    elif kind == "pause":
        await pause(run, services, target)
    run.faults_done[kind] = run.faults_done.get(kind, 0) + 1


async def pause(run: Run, services: Services, target: str) -> None:
    """SIGSTOP one instance past its max poll interval: another member of the group takes its
    partitions; when it wakes it is a zombie whose offsets and effects must not win. With one
    instance a helper instance joins the group for the pause."""
    instances = services.instances[target]
    helper = None
    if len(instances) > 1:
        inst = run.rng.choice(instances)
        pid = services.instance_pid(inst)
    else:
        pid = services.pid(target)
        helper = services.start_helper(target, run.cfg.helper_port)
        with contextlib.suppress(RuntimeError):
            await services.wait_ready(target, 90, helper)
    if pid is not None:
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(run.cfg.max_poll_interval_ms / 1000 + 5)
        finally:
            os.kill(pid, signal.SIGCONT)
    await asyncio.sleep(5)
    if helper is not None:
        await services.stop_helper(target)
    await services.ensure_running(target)


async def run_faults(run: Run, services: Services, faults: list[Fault], t0: float, progress, task) -> None:
    for f in faults:
        delay = t0 + f.at_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        progress.update(task, description=f"faults: {f.kind} {f.target}")
        try:
            await inject(run, services, f)
        except Exception as e:  # a fault that could not be injected is reported, not fatal
            run.notes.append(f"fault {f.kind} {f.target} failed: {type(e).__name__}: {e}")
            for s in SERVICES:
                with contextlib.suppress(Exception):
                    await services.ensure_running(s)
        progress.advance(task)
    progress.update(task, description="faults: done")


async def send_load(
    run: Run, ledger: verify.Ledger, records: list[Checkin], duration_s: float, progress, task, signer=None
) -> dict:
    """Paced over `duration_s`; aiokafka records one by one (signed by `signer` for the signing
    kiosks), kcat's in chunks (version-1 kiosks, unsigned)."""
    aio = kafka_io.AiokafkaKiosk(run.env, run.cfg_run_id, lambda c, p, o: ledger.ack(c, p, o), signer)
    await aio.start()
    kcat = kafka_io.KcatKiosk(run.env, run.cfg_run_id)
    kcat_tasks: set[asyncio.Task] = set()
    kcat_limit = asyncio.Semaphore(2)

    async def kcat_send(chunk: list[Checkin]) -> None:
        # kcat tells no per-record outcome: a failed chunk is sent again whole (the same bytes and
        # checkin_ids, which the platform takes as kiosk retries) until it is acknowledged.
        async with kcat_limit:
            deadline = time.monotonic() + RETRY_FOR_S
            while True:
                if await kcat.send_chunk(chunk):
                    for c in chunk:
                        ledger.ack(c)
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
            progress.advance(task, len(chunk))

    try:
        t0 = time.monotonic()
        pending: list[Checkin] = []
        step = max(1, len(records) // 400)
        for i, c in enumerate(records):
            ledger.send(c)
            if c.client == KCAT:
                pending.append(c)
                if len(pending) >= KCAT_CHUNK:
                    t = asyncio.create_task(kcat_send(pending))
                    kcat_tasks.add(t)
                    t.add_done_callback(kcat_tasks.discard)
                    pending = []
            else:
                await aio.send(c)
                progress.advance(task)
            if i % step == 0:
                ahead = t0 + duration_s * (i + 1) / len(records) - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if pending:
            await kcat_send(pending)
        if kcat_tasks:
            await asyncio.gather(*kcat_tasks)
        await aio.flush(RETRY_FOR_S)
        return {"aiokafka_failures": aio.failures, "aiokafka_retries": aio.retries,
                "aiokafka_producers_replaced": aio.replaced, "aiokafka_given_up": aio.given_up,
                "kcat_chunks": kcat.chunks,
                "kcat_failed_chunks": kcat.failed_chunks, "kcat_last_error": kcat.last_error}  # fmt: skip
    finally:
        await aio.stop()
        kcat.close()


async def quiesce(run: Run, timeout_s: float, progress, task) -> tuple[bool, dict[str, int], int]:
    """Until every service group has lag 0 and every outbox is empty, twice in a row."""
    import asyncpg

    deadline = time.monotonic() + timeout_s
    calm = 0
    lags: dict[str, int] = {}
    outbox = -1
    while time.monotonic() < deadline:
        try:
            lags = await kafka_io.consumer_lag(run.env)
            outbox = 0
            for s in SERVICES:
                conn = await asyncpg.connect(run.env[f"{s.upper()}_DATABASE_URL"], timeout=10)
                try:
                    if await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL"):
                        outbox += await conn.fetchval("SELECT count(*) FROM outbox")
                    if await conn.fetchval("SELECT to_regclass('checkin_outbox') IS NOT NULL"):
                        outbox += await conn.fetchval("SELECT count(*) FROM checkin_outbox")
                finally:
                    await conn.close()
        except Exception as e:
            run.notes.append(f"quiesce probe failed once: {type(e).__name__}: {e}")
            await asyncio.sleep(2)
            continue
        gating = sum(v for k, v in lags.items() if k in kafka_io.SERVICE_GROUPS)
        progress.update(task, description=f"quiesce: lag {gating}, outbox {outbox}")
        calm = calm + 1 if gating == 0 and outbox == 0 else 0
        if calm >= 2:
            return True, lags, outbox
        await asyncio.sleep(2)
    return False, lags, outbox


async def run_chaos(cfg: Config, console: Console) -> tuple[dict[str, Any], dict[str, Any], bool]:
    run = Run(cfg, console)
    run_id = f"chaos-{datetime.now(UTC):%m%d%H%M%S}-{uuid.uuid4().hex[:4]}"
    run.cfg_run_id = run_id  # type: ignore[attr-defined]
    started_wall = time.time()
    services = Services(run.env)
    run.rng = random.Random(cfg.seed + 2)
    shape_problem = topology_problem(cfg, services)
    if shape_problem:
        raise RuntimeError(shape_problem)
    for target in cfg.pause_targets if cfg.pauses else ():
        services.extra_env[target] = {f"{target.upper()}_MAX_POLL_INTERVAL_MS": str(cfg.max_poll_interval_ms)}
    for s in SERVICES:
        await services.ensure_running(s)
    for target in cfg.pause_targets if cfg.pauses else ():
        # the paused service runs with the lower max poll interval from the outset
        await services.restart(target, signal.SIGTERM)
    sms_since = time.time()
    api = street.Api(run.env)
    communities, themes = await street.reference(api)
    faults = fault_schedule(
        seed=cfg.seed, load_s=cfg.load_s, services=cfg.fault_services, kills_per_service=cfg.kills_per_service,
        sigterms_per_service=cfg.sigterms_per_service, kafka_restarts=cfg.kafka_restarts,
        pg_terminations=cfg.pg_terminations, pauses=cfg.pauses, pause_targets=cfg.pause_targets,
        broker_kills=cfg.broker_kills if services.brokers > 1 else 0,
    )  # fmt: skip
    plan = make_plan(run_id, cfg.checkins, seed=cfg.seed, faults=faults, communities=tuple(communities),
                     theme=themes[0] if themes else "safety")  # fmt: skip
    start = await kafka_io.end_offsets(run.env, [ATTENDANCE, CHECKINS_DLQ, ENROLMENTS])
    contacts = {r.resident_id for r in plan.street.residents[: min(60, len(plan.street.residents))]}
    ledger = verify.Ledger()
    extra: dict[str, Any] = {"run_id": run_id, "plan": plan.counts}
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=console, transient=False) as progress:
        n_setup = len(plan.street.venues) + 1 + len(plan.street.all_sessions)
        setup = progress.add_task("street: register", total=n_setup + len(plan.street.all_residents))
        await street.register(api, plan.street, contacts, lambda n: progress.advance(setup, n))
        load = progress.add_task("kiosk check-ins", total=len(plan.checkins) + len(plan.late))
        ftask = progress.add_task("faults", total=len(faults))
        traffic = street.EnrolmentTraffic(api, plan.street, sorted(contacts), cfg.seed)
        t0 = time.monotonic()
        fault_job = asyncio.create_task(run_faults(run, services, faults, t0, progress, ftask))
        traffic_job = asyncio.create_task(traffic.run())
        signer = kafka_io.KioskSigner(plan.street.signing_kiosks)
        extra["producers"] = await send_load(run, ledger, plan.checkins, cfg.load_s, progress, load, signer)
        # the offline kiosk comes back: its scans arrive late, after the others
        late = await send_load(run, ledger, plan.late, 5, progress, load, signer)
        extra["producers_late"] = late
        await fault_job
        await traffic_job
        extra["enrolment_api"] = traffic.counts
        extra["api_errors"] = api.errors
        for s in SERVICES:
            await services.ensure_running(s)
        q0 = time.monotonic()
        qtask = progress.add_task("quiesce", total=None)
        quiet, lags, outbox = await quiesce(run, cfg.quiesce_timeout_s, progress, qtask)
        quiesce_s = time.monotonic() - q0
    await api.close()
    end = await kafka_io.end_offsets(run.env, [ATTENDANCE, CHECKINS_DLQ, ENROLMENTS])

    def part(topic: str) -> tuple[dict, dict]:
        return (
            {tp: o for tp, o in start.items() if tp.topic == topic},
            {tp: o for tp, o in end.items() if tp.topic == topic},
        )

    att = verify.check_attendance(ledger, await kafka_io.read_range(run.env, *part(ATTENDANCE)), run_id)
    dlq = verify.check_dead_letters(ledger, await kafka_io.read_range(run.env, *part(CHECKINS_DLQ)), run_id)
    capacities = {s.session_id: s.capacity for s in plan.street.enrol_sessions}
    enr = verify.check_enrolments(await kafka_io.read_range(run.env, *part(ENROLMENTS)), capacities)
    notes = verify.check_notifications(ROOT / ".local" / "sms", ROOT / ".local" / "mail", started_wall)
    index_ok, index_detail = await check_index(run)
    acked = [ledger.sent[seq] for seq in ledger.acked]
    expected = oracle.expected_attendance(plan.street, acked)
    star_hours = oracle.star_threshold_hours(indicator_file(run.env))
    seen = await observe_scoring(run, plan.street, expected, star_hours)
    versus = verify.check_against_oracle(
        expected, seen.attendance, seen.resident_minutes, seen.communities,
        lambda must: oracle.by_community(plan.street, must), seen.stars, star_hours,
    )  # fmt: skip
    repeats, repeat_detail = verify.sms_repeats(ROOT / ".local" / "sms", sms_since)
    figures = {
        "sent": len(ledger.sent),
        "acknowledged": len(ledger.acked),
        "recorded": att.recorded,
        "lost": att.lost,
        "duplicated": att.duplicated,
        "dead_lettered": dlq.dead_lettered,
        "unaccounted": dlq.unaccounted,
        "index_matches_recompute": index_ok,
        "over_capacity": enr.over_capacity,
        "double_promotions": enr.double_promotions,
        "duplicate_sms": notes.duplicate_sms,
        "faults": dict(sorted(run.faults_done.items())),
        "quiesce_s": round(quiesce_s, 1),
        "replicas": {s: services.replicas(s) for s in SERVICES},
        "brokers": services.brokers,
        "broker_kills": run.faults_done.get("broker_kill", 0),
        "ack_ratio": round(len(ledger.acked) / len(ledger.sent), 6) if ledger.sent else 0.0,
        "oracle_mismatches": versus.oracle_mismatches,
        "minutes_mismatches": versus.minutes_mismatches,
        "honour_mismatches": versus.honour_mismatches,
        "sms_repeats": repeats,
    }
    expected_faults = {k.kind for k in faults}
    failures = []
    if not quiet:
        failures.append(f"not quiescent after {cfg.quiesce_timeout_s:.0f}s: lags {lags}, outbox rows {outbox}")
    if figures["ack_ratio"] < 1.0:
        failures.append(f"only {len(ledger.acked)} of {len(ledger.sent)} scans acknowledged after the kiosks' retries")
    names = ("lost", "duplicated", "unaccounted", "over_capacity", "double_promotions", "duplicate_sms",
             "oracle_mismatches", "minutes_mismatches", "honour_mismatches", "sms_repeats")  # fmt: skip
    for name in names:
        if figures[name]:
            failures.append(f"{name} = {figures[name]}")
    if att.phantom:
        failures.append(f"{att.phantom} attendances for check-ins never sent")
    if dlq.wrong_reason:
        failures.append(f"{dlq.wrong_reason} oversized records dead-lettered without reason too_large")
    if notes.conflicting_mail:
        failures.append(f"{notes.conflicting_mail} Message-IDs with different e-mails")
    if index_ok is not True:
        failures.append(f"index vs recompute: {index_detail}")
    if set(run.faults_done) != expected_faults or sum(run.faults_done.values()) != len(faults):
        failures.append(f"faults injected {run.faults_done}, planned {len(faults)}")
    extra |= {
        "lags": lags, "outbox_rows": outbox, "rejected": dict(att.rejected), "redelivered": att.redelivered,
        "lost_examples": att.lost_examples, "dlq_reasons": dict(dlq.reasons), "unaccounted_examples": dlq.examples,
        "enrolment": enr.detail, "enrolment_events": enr.events, "notifications": notes.detail,
        "sms_checked": notes.sms_checked, "mail_checked": notes.mail_checked, "notes": run.notes,
        "failures": failures, "index": index_detail, "oracle": versus.detail, "sms_repeats": repeat_detail,
        "oracle_pairs": len(expected.minutes), "killed_brokers": run.killed_brokers,
    }  # fmt: skip
    return figures, extra, not failures


def topology_problem(cfg: Config, services: Services) -> str | None:
    """The run asks for a shape of stack that is not the one running: say how to get it."""
    running = {services.replicas(s) for s in SERVICES}
    if cfg.replicas is not None and running != {cfg.replicas}:
        return (f"the run wants {cfg.replicas} instance(s) of every service, the stack runs {sorted(running)}: "
                f"`make down`, then `make chaos` (or `make up REPLICAS={cfg.replicas}`)")  # fmt: skip
    if cfg.brokers is not None and services.brokers != cfg.brokers:
        return (f"the run wants {cfg.brokers} broker(s), the stack runs {services.brokers}: "
                f"`make down`, then `make chaos` (or `make up BROKERS={cfg.brokers}`)")  # fmt: skip
    return None


def indicator_file(env: dict[str, str]) -> Path:
    configured = env.get("SCORING_INDICATORS_FILE") or os.environ.get("SCORING_INDICATORS_FILE")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else ROOT / path
    return ROOT / "services" / "scoring" / "indicators" / "shenzhen-learning-street-v1.yaml"


@dataclass
class ScoringEffects:
    attendance: list[tuple[str, str, int]]
    resident_minutes: dict[str, int]
    communities: dict[str, tuple[int, int, int]]
    stars: list[str]


async def observe_scoring(run: Run, plan_street, expected, star_hours: float, wait_s: float = 120.0) -> ScoringEffects:
    """What scoring holds about the run's residents and course, read from its database (the
    effects, not its events). Honours are awarded by a periodic rule pass: wait until the oracle's
    learning stars are there (or `wait_s`), then read once more."""
    import asyncpg

    prefix = plan_street.run_id + "-%"
    want_stars = oracle.learning_stars(oracle.resident_minutes(expected.minutes), star_hours)
    deadline = time.monotonic() + wait_s
    conn = await asyncpg.connect(run.env["SCORING_DATABASE_URL"], timeout=10)
    try:
        while True:
            stars = [
                r["recipient_id"]
                for r in await conn.fetch(
                    "SELECT recipient_id FROM honours WHERE kind = 'learning_star' AND recipient_id LIKE $1 "
                    "AND revoked_at IS NULL",
                    prefix,
                )
            ]
            if want_stars <= set(stars) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        attendance = [
            (r["resident_id"], r["session_id"], r["minutes"])
            for r in await conn.fetch(
                "SELECT resident_id, session_id, minutes FROM attendance WHERE resident_id LIKE $1 AND recorded",
                prefix,
            )
        ]
        minutes = {
            r["resident_id"]: int(r["m"])
            for r in await conn.fetch(
                "SELECT resident_id, sum(minutes) AS m FROM resident_minutes WHERE resident_id LIKE $1 GROUP BY 1",
                prefix,
            )
        }
        daily = {
            r["community_id"]: (int(r["a"]), int(r["m"]))
            for r in await conn.fetch(
                "SELECT community_id, sum(attendances) AS a, sum(minutes) AS m FROM attendance_daily "
                "WHERE course_id = $1 GROUP BY 1",
                plan_street.course_id,
            )
        }
        people = {
            r["community_id"]: int(r["n"])
            for r in await conn.fetch(
                "SELECT community_id, count(*) AS n FROM attendees WHERE resident_id LIKE $1 GROUP BY 1", prefix
            )
        }
    finally:
        await conn.close()
    communities = {c: (*daily.get(c, (0, 0)), people.get(c, 0)) for c in set(daily) | set(people)}
    return ScoringEffects(attendance, minutes, communities, stars)


async def check_index(run: Run) -> tuple[bool, str]:
    """Ask scoring to recompute the index from the attendance log and compare with the live one.

    Uses `python -m services.scoring rebuild --no-swap` (scoring's own from-scratch fold of its
    topics into shadow tables, compared with the live index, nothing swapped); when scoring does
    not offer it, the invariant cannot be checked and counts as failed."""
    cli = ROOT / "services" / "scoring" / "cli.py"
    if not cli.exists():
        return False, "services/scoring/cli.py (rebuild) does not exist: cannot recompute"
    text = ""
    for _ in range(60):  # one rebuild at a time: wait for someone else's to finish
        proc = await asyncio.create_subprocess_exec(
            processes.PY, "-m", "services.scoring", "rebuild", "--no-swap", "--quiet", cwd=ROOT,
            env={**os.environ, **run.env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 900)
        text = out.decode(errors="replace").strip()
        if "another rebuild is running" not in text:
            break
        await asyncio.sleep(10)
    return proc.returncode == 0 and "REBUILD equal=True" in text, text[-600:]


async def restore_stack() -> None:
    """After a failed run: Kafka and every service running again, as the run found them."""
    env = processes.load_env()
    with contextlib.suppress(Exception):
        stack = processes._stack_module()
        if any(stack.node_pid(stack.kafka_node(n)) is None for n in stack.kafka_nodes()):
            await asyncio.to_thread(stack.kafka_up, stack.credentials.load())  # starts the brokers that are down
    services = Services(env)
    for s in SERVICES:
        for pid in services.pids(s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # never leave a paused service behind
        with contextlib.suppress(Exception):
            await services.ensure_running(s)


def print_figures(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, separators=(",", ":")), flush=True)
