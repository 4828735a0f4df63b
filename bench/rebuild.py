"""Rebuild: scoring's own rebuild command (`python -m services.scoring rebuild`) replays every topic it
projects into a fresh index; timed as a whole and scaled to 1,000,000 attendance events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench import env
from bench.memory import rss_mib
from shared.events import topics

# Build and compare only by default: the timed work is the replay, and the live index of the shared
# stack stays as it is. BENCH_REBUILD_SWAP=1 also swaps the rebuilt tables in (the full operation).
SWAP = os.environ.get("BENCH_REBUILD_SWAP", "0") == "1"


@dataclass
class RebuildRun:
    events: int  # attendance events in the topic when the rebuild started
    records: int  # records the rebuild says it replayed (every projected topic)
    seconds: float  # wall clock of the whole command, start-up and comparison included
    equal: bool | None  # the rebuilt index equals the live one (None: not reported)
    peak_rss_mib: float
    output: str


def parse_summary(output: str) -> tuple[int | None, bool | None]:
    """`REBUILD equal=True swapped=False records=1463210` → (records, equal)."""
    for line in reversed(output.splitlines()):
        if line.startswith("REBUILD "):
            fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
            return int(fields["records"]), fields.get("equal") == "True"
    return None, None


async def topic_size(topic: str) -> int:
    consumer = AIOKafkaConsumer(**env.kafka_auth("admin"), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        first = await consumer.beginning_offsets(tps)
        last = await consumer.end_offsets(tps)
        return sum(last[tp] - first[tp] for tp in tps)
    finally:
        await consumer.stop()


async def run(timeout_s: float = 1800) -> RebuildRun:
    events = await topic_size(topics.ATTENDANCE.name)
    log = env.BENCH_DIR / "rebuild.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            env.PY, "-m", "services.scoring", "rebuild", "--quiet", *(() if SWAP else ("--no-swap",)),
            cwd=env.ROOT, env={**os.environ, **env.credentials()}, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        peak = 0.0
        while process.returncode is None:
            peak = max(peak, rss_mib(process.pid) or 0.0)
            if time.monotonic() - started > timeout_s:
                process.kill()
                await process.wait()
                raise TimeoutError(f"rebuild not done within {timeout_s:.0f} s; see {log}")
            try:
                await asyncio.wait_for(process.wait(), 0.1)
            except TimeoutError:
                pass
    seconds = time.monotonic() - started
    output = log.read_text(errors="replace")
    records, equal = parse_summary(output)
    # Exit 1 means "replayed, but the rebuilt index differs from the live one" (the live index moves
    # while other tests run): the replay was timed all the same, and the difference is reported.
    if records is None or process.returncode not in (0, 1):
        raise RuntimeError(f"rebuild exited with {process.returncode}: {output[-1500:]}")
    return RebuildRun(events, records, seconds, equal, peak, output[-1500:])


async def profile(seconds: int = 8) -> dict[str, list[tuple[str, float]]]:
    """py-spy on a rebuild (`--no-swap`) from its 6th second, past start-up into the replay; the
    rebuild is stopped afterwards (its shadow schema is dropped by the next one)."""
    from bench import profile as profiler

    process = await asyncio.create_subprocess_exec(
        env.PY, "-m", "services.scoring", "rebuild", "--quiet", "--no-swap",
        cwd=env.ROOT, env={**os.environ, **env.credentials()}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await asyncio.sleep(6.0)
        return await asyncio.to_thread(profiler.record, "rebuild", seconds, pid=process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
