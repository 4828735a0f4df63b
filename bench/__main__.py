"""`make bench`: every figure of the performance issue in one invocation on the running local stack.

    .venv/bin/python -m bench                  # N = 200,000 check-ins (rebuild 1,000,000, latency 60 s)
    BENCH_N=20000 .venv/bin/python -m bench    # scaled down: rebuild 100,000, latency 6 s
    BENCH_ONLY=pipeline,ceilings .venv/bin/python -m bench   # a subset of the stages
    BENCH_ONLY=broadcast BENCH_BROADCAST_RESIDENTS=100000 .venv/bin/python -m bench   # the issue's street

Stages share one generated street and the same topic contents: the ceilings read exactly the
check-ins the pipeline consumed, the Quix peer exactly the attendance our scoring step consumed.
The pipeline and scoring stages stop and restart activities and scoring; whatever happens, the
bench leaves all four services running. Prints a table, then one JSON line (the last line).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import api_load, broadcast, ceilings, env, hot_session, latency, peer, pipeline, profile, rebuild, stats
from bench.memory import MemorySampler
from bench.street import Street, plan, set_up, wait_known
from shared.events import topics

STAGES = (
    "pipeline", "pipeline_2x", "ceilings", "latency", "latency_rebalance", "latency_restart", "scoring", "quix",
    "rebuild", "enrolment", "hot_session", "broadcast",
)  # fmt: skip
# The stages that read or write the generated street (the others bring their own residents).
STREET_STAGES = {
    "pipeline", "pipeline_2x", "ceilings", "latency", "latency_rebalance", "latency_restart", "scoring", "quix",
    "rebuild",
}  # fmt: skip
BROADCAST_TARGETS = {"broadcast_per_s", "broadcast_p99_s"}
ENROLMENT_TARGETS = {
    "enrol_rps", "enrol_p99_ms", "enrol_vs_ceiling", "hot_enrol_per_s", "hot_enrol_p99_ms", "hot_vs_spread"
}  # fmt: skip
LATENCY_RATE = 1000

console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


class Bench:
    def __init__(self, scale: stats.Scale, only: set[str]) -> None:
        self.scale = scale
        self.only = only
        self.figures: dict[str, Any] = {}
        self.notes: list[str] = []
        self.errors: dict[str, str] = {}
        self.memory = MemorySampler()
        self.pipeline_run: pipeline.Run | None = None
        self.scoring_run: pipeline.Run | None = None
        self.profile_n = min(scale.pipeline, 100_000)
        self.broadcast_profiles: dict[str, dict[str, list[tuple[str, float]]]] = {}

    def wants(self, stage: str) -> bool:
        return stage in self.only

    async def stage(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        if not self.wants(name):
            return
        console.rule(f"[bold]{name}")
        started = time.monotonic()
        try:
            await body()
        except Exception as error:
            self.errors[name] = f"{type(error).__name__}: {error}"
            console.print(f"[red]{name} failed:[/] {self.errors[name]}")
            traceback.print_exc(file=sys.stderr)
        finally:
            await self.heal()
            console.print(f"[dim]{name}: {time.monotonic() - started:.1f} s[/]")

    async def heal(self) -> None:
        """Whatever a stage did, every service is running and ready afterwards."""
        for service in ("activities", "enrolment", "scoring", "notify"):
            if not env.service_pids(service):
                console.print(f"[yellow]{service} was not running: starting it[/]")
                env.start_service(service)
        for service in ("activities", "enrolment", "scoring", "notify"):
            try:
                await env.wait_ready(service, timeout_s=60)
            except TimeoutError as error:
                console.print(f"[yellow]{error}[/]")

    # --- stages --------------------------------------------------------------------------------

    async def run(self) -> None:
        n = self.scale.pipeline
        residents = min(2000, max(100, n // 50))
        latency_pairs = int(LATENCY_RATE * self.scale.latency_seconds) + LATENCY_RATE
        run_id = uuid.uuid4().hex[:6]
        street = plan(
            run_id,
            residents=residents,
            stage_pairs={
                "pipeline": n,
                "pipeline_2x": n,
                "latency": latency_pairs,
                "latency_rebalance": latency_pairs,
                "latency_restart": latency_pairs,
                "scoring": self.scale.scoring,
                "rebuild": self.scale.rebuild,
                "profile": self.profile_n,
            },
        )
        console.print(
            f"run {run_id}: N={n:,}, {residents:,} residents, {len(street.all_sessions):,} sessions, "
            f"{len(street.venues)} venues; rebuild {self.scale.rebuild:,}; latency {self.scale.latency_seconds:.0f} s"
        )
        await self.heal()
        self.memory.start()
        try:
            if self.only & STREET_STAGES:
                console.rule("[bold]street")
                await set_up(street)
                await wait_known(street)
            await self.stage("pipeline", lambda: self.measure_pipeline(street, n))
            await self.stage("pipeline_2x", lambda: self.measure_pipeline_2x(street, n))
            await self.stage("ceilings", self.measure_ceilings)
            await self.stage("latency", lambda: self.measure_latency(street))
            await self.stage("latency_rebalance", lambda: self.measure_latency_rebalance(street))
            await self.stage(
                "latency_restart", lambda: self.measure_latency_rebalance(street, signal.SIGTERM, "latency_restart")
            )
            await self.stage("scoring", lambda: self.measure_scoring(street))
            await self.stage("quix", self.measure_quix)
            await self.stage("rebuild", lambda: self.measure_rebuild(street))
            await self.stage("enrolment", self.measure_enrolment)
            await self.stage("hot_session", self.measure_hot_session)
            await self.stage("broadcast", self.measure_broadcast)
        finally:
            await self.memory.stop()
            await self.heal()
        self.figures["max_rss_mib"] = round(self.memory.max_mib, 1)
        for service, mib in self.memory.peak_mib.items():
            self.notes.append(f"peak resident memory {service}: {mib:.0f} MiB")
        if os.environ.get("BENCH_PROFILE", "auto") != "0":
            await self.profile_misses(street)

    async def measure_pipeline(self, street: Street, n: int) -> None:
        run = await pipeline.pipeline(street, n)
        self.pipeline_run = run
        self.figures["pipeline_checkins_per_s"] = round(run.steady_per_s)
        self.notes.append(
            f"pipeline: {run.count:,} check-ins in {run.steady_seconds:.2f} s from activities' first batch to "
            f"scoring's last commit; {run.seconds:.2f} s from the services' start ({run.per_s:,.0f}/s with start-up)"
        )

    async def measure_ceilings(self) -> None:
        if self.pipeline_run is None:
            raise RuntimeError("needs the pipeline stage (its check-ins are the data read)")
        start, end = self.pipeline_run.start, self.pipeline_run.end
        count, seconds = await ceilings.aiokafka_read(start, end)
        self.figures["aiokafka_read_per_s"] = round(count / seconds)
        self.notes.append(f"aiokafka getmany: {count:,} records in {seconds:.2f} s (first → last record)")
        messages = sum(end[tp] - start[tp] for tp in end)
        self.figures["kafka_consumer_perf_per_s"] = round(
            await ceilings.consumer_performance(topics.KIOSK_CHECKINS.name, start, messages)
        )

    async def measure_latency(self, street: Street) -> None:
        result = await latency.run(street, rate=LATENCY_RATE, seconds=self.scale.latency_seconds)
        if not result.samples_ms:
            raise RuntimeError(f"no sampled check-in was committed ({result.missing} missing)")
        self.figures.update(stats.latency_summary(result.samples_ms))
        self.notes.append(
            f"latency: {result.sent:,} check-ins at {result.achieved_rate:,.0f}/s (asked {result.rate}), "
            f"{len(result.samples_ms):,} samples, {result.missing} not committed within 30 s after the load; "
            f"max {max(result.samples_ms):.0f} ms; resolution ≈ 10 ms poll"
        )
        if result.missing:
            self.figures["latency_p99_ms"] = None
            raise RuntimeError(f"{result.missing} sampled check-ins never reached the index")

    async def measure_pipeline_2x(self, street: Street, n: int) -> None:
        """The pipeline stage with two instances of activities and of scoring (the replicas overlay)."""
        run = await pipeline.pipeline(street, n, stage="pipeline_2x", instances=2)
        self.figures["pipeline_2x_checkins_per_s"] = round(run.steady_per_s)
        self.notes.append(
            f"pipeline, two instances each of activities and scoring: {run.count:,} check-ins in "
            f"{run.steady_seconds:.2f} s from the first batch to the last commit ({run.per_s:,.0f}/s with start-up)"
        )

    async def measure_latency_rebalance(
        self, street: Street, sig: int = signal.SIGKILL, stage: str = "latency_rebalance"
    ) -> None:
        """The target's run kills (SIGKILL) one of two scoring instances; `latency_restart` stops it
        with SIGTERM, as a rolling restart does, so that the rebalance's own cost shows apart from
        the session timeout a crash waits for."""
        result, events = await latency.with_rebalance(
            street, rate=LATENCY_RATE, seconds=self.scale.latency_seconds, sig=sig, stage=stage
        )
        key = f"{stage}_p99_ms"
        if not result.samples_ms:
            raise RuntimeError(f"no sampled check-in was committed ({result.missing} missing)")
        summary = stats.latency_summary(result.samples_ms)
        self.figures[key] = summary["latency_p99_ms"]
        self.notes.append(
            f"{stage.replace('_', ' ')}: {result.sent:,} check-ins at {result.achieved_rate:,.0f}/s, two scoring "
            f"instances, {'; '.join(events)}; p50 {summary['latency_p50_ms']:.0f} ms, p95 "
            f"{summary['latency_p95_ms']:.0f} ms, p99 {summary['latency_p99_ms']:.0f} ms, max "
            f"{max(result.samples_ms):.0f} ms; {result.missing} not committed within 30 s after the load"
        )
        if result.missing:
            self.figures[key] = None
            raise RuntimeError(f"{result.missing} sampled check-ins never reached the index")

    async def measure_scoring(self, street: Street) -> None:
        run = await pipeline.scoring_step(street, self.scale.scoring)
        self.scoring_run = run
        self.figures["scoring_per_s"] = round(run.per_s)
        self.notes.append(
            f"scoring step: {run.count:,} attendance events in {run.seconds:.2f} s from scoring's start "
            f"(steady: {run.steady_per_s:,.0f}/s)"
        )

    async def measure_quix(self) -> None:
        if self.scoring_run is None:
            raise RuntimeError("needs the scoring stage (its attendance events are the data read)")
        result = await peer.run(self.scoring_run.start, self.scoring_run.end)
        self.figures["quix_peer_per_s"] = round(result.per_s)
        self.notes.append(
            f"Quix Streams exactly-once: {result.count:,} records in {result.seconds:.2f} s from its start, "
            f"{result.attendances:,} deduplicated attendances upserted, peak {result.peak_rss_mib:.0f} MiB"
        )

    async def measure_rebuild(self, street: Street) -> None:
        have = await rebuild.topic_size(topics.ATTENDANCE.name)
        missing = max(0, self.scale.rebuild - have)
        if missing:
            # The topic is replayable history: top it up to the size asked for, then let the live
            # consumer apply the top-up so the rebuild does not share the CPU with it.
            console.print(f"producing {missing:,} attendance events so the topic holds {self.scale.rebuild:,}")
            before = await pipeline.scored(street.session_ids("rebuild"))
            produced = await pipeline.produce(
                "activities", topics.ATTENDANCE.name, pipeline.attendance_records(street, "rebuild", missing)
            )
            await pipeline.time_until_scored(street.session_ids("rebuild"), before + produced, time.monotonic(), 1800)
        result = await rebuild.run()
        self.figures["rebuild_1m_s"] = round(stats.per_million_seconds(result.records, result.seconds), 2)
        self.notes.append(
            f"rebuild: {result.records:,} records replayed ({result.events:,} of them attendance) in "
            f"{result.seconds:.1f} s for the whole command; rebuilt index equal to the live one: {result.equal}; "
            f"peak {result.peak_rss_mib:.0f} MiB"
        )

    async def measure_enrolment(self) -> None:
        result = await api_load.run()
        self.figures["enrol_rps"] = round(result.rps)
        self.figures["enrol_p99_ms"] = round(result.p99_ms, 1)
        self.notes.append(
            f"enrolment API: {result.requests:,} requests in {result.seconds:.1f} s, p50 {result.p50_ms:.1f} ms, "
            f"status codes {result.codes}, socket errors {result.socket_errors}"
        )
        # Right after, with the same wrk script and connections: the baseline this rate is judged against.
        ceiling = await api_load.run_ceiling()
        self.figures["enrol_ceiling_rps"] = round(ceiling.rps)
        self.notes.append(
            f"enrolment ceiling (uvicorn + asyncpg, one INSERT … RETURNING per request, same wrk load): "
            f"{ceiling.rps:,.0f} requests/s, p99 {ceiling.p99_ms:.1f} ms, status codes {ceiling.codes}"
        )

    async def measure_hot_session(self) -> None:
        result = await hot_session.run()
        self.figures["hot_enrol_per_s"] = round(result.hot.rate)
        self.figures["hot_enrol_p99_ms"] = round(result.hot.percentile(99), 1)
        self.figures["hot_spread_enrol_per_s"] = round(result.spread.rate)
        self.figures["hot_enrol_correct"] = 1 if result.correct else 0
        self.notes.append(
            f"hot session: {len(result.hot.latencies_ms):,} concurrent enrolments for one 50-seat session in "
            f"{result.hot.seconds:.2f} s, p50 {result.hot.percentile(50):.0f} ms, "
            f"p99 {result.hot.percentile(99):.0f} ms; "
            f"spread over sessions {result.spread.rate:,.0f}/s, p99 {result.spread.percentile(99):.0f} ms; "
            f"answers {'correct' if result.correct else 'WRONG: ' + '; '.join(result.problems)}"
        )

    async def measure_broadcast(self) -> None:
        n = stats.broadcast_residents_from_env()
        console.print(
            f"broadcast: {n:,} residents (BENCH_BROADCAST_RESIDENTS; the issue's street: 100,000); "
            f"{broadcast.quiet_hours_note()}"
        )
        registered, existing = await broadcast.register(n)
        moved = await broadcast.align_audience(n)
        waited = await broadcast.wait_contacts(n, timeout_s=max(180.0, n / 50))
        self.notes.append(
            f"broadcast: {n:,} bench residents ({registered:,} imported now, {existing:,} from earlier runs"
            + (f", {moved:,} moved in or out of the audience to match N" if moved else "")
            + f"), every contact known to notify {waited:.1f} s later; {broadcast.quiet_hours_note()}"
        )
        limit = broadcast.configured_rate_per_s()
        self.figures["broadcast_limit_per_s"] = round(limit, 1)
        # 1. As configured: what the limit allows (the running notify, untouched).
        limited = await broadcast.send(n, limit, timeout_s=n / min(limit, 50.0) + 120)
        self.figures.update({k.replace("broadcast_", "broadcast_limited_"): v for k, v in limited.summary.items()})
        if limited.lag_s:
            self.figures["broadcast_limited_lag_p99_s"] = round(stats.percentile(limited.lag_s, 99), 2)
        self.notes.append(broadcast.describe(limited, "as configured"))
        # 2. The delivery capacity: notify restarted with the limit lifted, every message due at once.
        console.print(f"restarting notify with NOTIFY_BROADCAST_RATE_PER_S={broadcast.LIFTED_RATE_PER_S:,.0f}")
        await broadcast.restart_notify(broadcast.lifted())
        try:
            capacity = await broadcast.send(n, broadcast.LIFTED_RATE_PER_S, timeout_s=n / 50.0 + 120)
            self.figures.update(capacity.summary)
            if "notify" in capacity.cpu_ms_per_message:
                # notify's CPU per message: what bounds its rate on a core, whatever else the machine runs
                self.figures["broadcast_notify_cpu_ms"] = round(capacity.cpu_ms_per_message["notify"], 2)
            self.notes.append(broadcast.describe(capacity, "delivery capacity, limit lifted"))
            for problem in (limited, capacity):
                if problem.unfinished:
                    raise RuntimeError(f"{problem.unfinished:,} bench messages of {problem.broadcast_id} not final")
            merged = {**self.figures, **stats.derived(self.figures)}
            missed = {t.key for t in stats.TARGETS if t.key in BROADCAST_TARGETS and t.met(merged.get(t.key)) is False}
            if missed and os.environ.get("BENCH_PROFILE", "auto") != "0":
                await self.profile_broadcast(n)
        finally:
            console.print("restarting notify as configured")
            await broadcast.restart_notify()

    async def profile_broadcast(self, n: int) -> None:
        """One more broadcast (limit lifted) with notify and the SMS gateway under py-spy; its own
        figures are not reported (sampling costs CPU)."""
        console.rule("[bold]profile: broadcast")
        task = asyncio.create_task(broadcast.send(n, broadcast.LIFTED_RATE_PER_S, timeout_s=n / 50.0 + 120))
        try:
            await asyncio.sleep(3.0)  # past the operator's request (it queues every message)
            gateway = broadcast.sms_gateway_pid()
            notify_frames, gateway_frames = await asyncio.gather(
                asyncio.to_thread(profile.record, "notify", 8),
                asyncio.to_thread(profile.record, "sms-gateway", 8, pid=gateway)
                if gateway
                else asyncio.sleep(0, {"self": [], "own": []}),
            )
            self.broadcast_profiles = {"notify": notify_frames, "sms-gateway (local)": gateway_frames}
        except Exception as error:
            console.print(f"[yellow]profiling failed: {error}[/]")
        finally:
            await task

    async def profile_misses(self, street: Street) -> None:
        """A separate, smaller pass under py-spy for each missed throughput target (its own numbers are
        not reported: sampling costs CPU)."""
        merged = {**self.figures, **stats.derived(self.figures)}
        missed = {t.key for t in stats.TARGETS if t.met(merged.get(t.key)) is False}
        pipeline_keys = {
            "pipeline_checkins_per_s", "pipeline_vs_aiokafka", "pipeline_2x_checkins_per_s", "latency_p99_ms",
            "latency_rebalance_p99_ms", "latency_restart_p99_ms",
        }  # fmt: skip
        if missed & pipeline_keys and self.wants("pipeline"):
            console.rule("[bold]profile: pipeline")
            try:
                before = set(env.service_pids("activities"))
                task = asyncio.create_task(pipeline.pipeline(street, self.profile_n, stage="profile"))
                # Sample the restarted processes once they consume (stop, produce and start come first).
                for _ in range(600):
                    now = set(env.service_pids("activities"))
                    if now and now != before and env.service_pids("scoring"):
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(8.0)  # past the consumer-group joins
                profiles = await asyncio.gather(
                    asyncio.to_thread(profile.record, "activities", 8), asyncio.to_thread(profile.record, "scoring", 8)
                )
                await task
                for service, frames in zip(("activities", "scoring"), profiles, strict=True):
                    self.print_profile(service, frames)
            except Exception as error:
                console.print(f"[yellow]profiling failed: {error}[/]")
            finally:
                await self.heal()

        if missed & ENROLMENT_TARGETS and (self.wants("enrolment") or self.wants("hot_session")):
            console.rule("[bold]profile: enrolment API")
            try:
                # the enrolment stage's wrk load again, shorter, with enrolment under py-spy from its 2nd second
                task = asyncio.create_task(api_load.load(await api_load.prepared(), seconds=11))
                await asyncio.sleep(2.0)
                frames = await asyncio.to_thread(profile.record, "enrolment", 8)
                await task
                self.print_profile("enrolment", frames)
            except Exception as error:
                console.print(f"[yellow]profiling failed: {error}[/]")

        if "rebuild_1m_s" in missed and self.wants("rebuild"):
            console.rule("[bold]profile: rebuild")
            try:
                self.print_profile("scoring rebuild", await rebuild.profile())
            except Exception as error:
                console.print(f"[yellow]profiling failed: {error}[/]")

        for service, frames in self.broadcast_profiles.items():
            console.rule(f"[bold]profile: broadcast ({service})")
            self.print_profile(service, frames)

    def print_profile(self, service: str, frames: dict[str, list[tuple[str, float]]]) -> None:
        for kind, title in (("self", "self time (innermost frame)"), ("own", "our code, inclusive")):
            table = Table(title=f"{service}: {title}", show_lines=False)
            table.add_column("share", justify="right")
            table.add_column("frame")
            for frame, share in frames.get(kind, []):
                table.add_row(f"{share:.0%}", frame)
            console.print(table)

    # --- output --------------------------------------------------------------------------------

    def report(self) -> None:
        merged = {**self.figures, **stats.derived(self.figures)}
        table = Table(title=f"learnstreet bench (N = {self.scale.pipeline:,})")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key in (*stats.KEYS, "pipeline_vs_aiokafka", "scoring_vs_quix"):
            value = merged.get(key)
            table.add_row(key, "-" if value is None else f"{value:,.3f}" if isinstance(value, float) else f"{value:,}")
        console.print(table)
        targets = Table(title="targets")
        targets.add_column("target")
        targets.add_column("value", justify="right")
        targets.add_column("met")
        for t in stats.TARGETS:
            value = merged.get(t.key)
            met = t.met(value)
            shown = "-" if value is None else f"{value:,.2f}"
            targets.add_row(t.label, shown, {True: "[green]yes", False: "[red]no", None: "[yellow]not measured"}[met])
        console.print(targets)
        for note in self.notes:
            console.print(f"• {note}")
        for stage, error in self.errors.items():
            console.print(f"[red]• {stage} did not complete: {error}[/]")


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C: the stages' `finally` restart what was stopped and the report prints.
    raise KeyboardInterrupt


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    scale = stats.scale_from_env()
    only = {s.strip() for s in os.environ.get("BENCH_ONLY", ",".join(STAGES)).split(",") if s.strip()}
    unknown = only - set(STAGES)
    if unknown:
        sys.exit(f"BENCH_ONLY: unknown stage(s) {', '.join(sorted(unknown))}; stages: {', '.join(STAGES)}")
    bench = Bench(scale, only)
    try:
        asyncio.run(bench.run())
    finally:
        bench.report()
        print(stats.json_line(bench.figures), flush=True)


if __name__ == "__main__":
    main()
