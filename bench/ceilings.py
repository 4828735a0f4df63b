"""The ceilings the pipeline is compared with, read from the very records the pipeline consumed:
a bare aiokafka consumer (the Python client's limit) and Kafka's ConsumerPerformance (the broker's)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench import env

JAVA_OPTS = ["-Xmx512m", "-XX:+UseG1GC", "-server", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]


async def aiokafka_read(start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> tuple[int, float]:
    """Read [start, end) of every partition with getmany, touching no body; (records, seconds from the
    first fetch to the last record; the client is connected and its partitions assigned before)."""
    wanted = sum(max(0, end[tp] - start[tp]) for tp in start)
    consumer = AIOKafkaConsumer(
        **env.kafka_auth("admin"),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=64 << 20,
        max_partition_fetch_bytes=16 << 20,
    )
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        seen = 0
        first = time.perf_counter()
        last = first
        deadline = time.monotonic() + 300
        while seen < wanted and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                limit = end[tp]
                seen += sum(1 for r in records if r.offset < limit)
            if batch:
                last = time.perf_counter()
        if seen < wanted:
            raise RuntimeError(f"aiokafka read {seen} of {wanted} records within 300 s")
        return seen, max(last - first, 1e-6)
    finally:
        await consumer.stop()


async def consumer_performance(topic: str, start: dict[TopicPartition, int], messages: int) -> float:
    """Kafka's own ConsumerPerformance from our start offsets (through a fresh group whose position we
    set beforehand); returns its fetch rate (messages per second, group join excluded)."""
    group = f"bench.perf-{uuid.uuid4().hex[:8]}"
    await env.commit_group_offsets(group, start)
    argv = [
        "java", *JAVA_OPTS,
        f"-Dlog4j2.configurationFile={env.ROOT / 'deploy' / 'local' / 'kafka' / 'tools-log4j2.yaml'}",
        "-cp", str(env.LOCAL / "kafka" / "libs" / "*"),
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", env.credentials()["KAFKA_BOOTSTRAP"],
        "--consumer.config", str(env.admin_properties()),
        "--topic", topic, "--group", group, "--messages", str(messages), "--timeout", "30000",
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"ConsumerPerformance failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse_consumer_performance(done.stdout)


def parse_consumer_performance(stdout: str) -> float:
    """`start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
    rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec` → fetch.nMsg.sec."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    header_at = next(i for i, line in enumerate(lines) if "nMsg.sec" in line)
    header = [h.strip() for h in lines[header_at].split(",")]
    values = [v.strip() for v in lines[header_at + 1].split(",")]
    row = dict(zip(header, values, strict=False))
    return float(row.get("fetch.nMsg.sec") or row["nMsg.sec"])
