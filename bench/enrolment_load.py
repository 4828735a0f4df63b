"""Load test of the enrolment API with wrk: prepares its own sessions (SessionScheduled events
published with the activities principal) and residents (registered over HTTP), then runs
bench/enrolment_load.lua (2 enrolments : 1 cancellation) and prints requests/s and p99.

    .venv/bin/python -m bench.enrolment_load [--seconds 20] [--connections 64] [--threads 2]
        [--residents 3000] [--sessions 300] [--capacity 20]

Needs `wrk` (Debian package) and the running local stack (enrolment on its port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from shared.events.catalogue import CourseCreated, SessionScheduled
from shared.events.envelope import envelop
from tests.support import client, env, eventually, producer, service_url, token

HERE = Path(__file__).parent


async def prepare(prefix: str, residents: int, sessions: int, capacity: int) -> None:
    course_id = f"{prefix}-course"
    starts = datetime.now(UTC) + timedelta(days=7)
    events = [CourseCreated(course_id=course_id, title_zh="压测", title_en="Load test", theme="reading")]
    events += [
        SessionScheduled(
            session_id=f"{prefix}-s{j}",
            course_id=course_id,
            venue_id="v-bench",
            community_id="pinghu",
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            capacity=capacity,
        )
        for j in range(1, sessions + 1)
    ]
    kafka = await producer("activities", linger_ms=5)
    try:
        sends = []
        for data in events:
            e = envelop(data, source="bench/enrolment")
            headers = [(k, v.encode()) for k, v in e.headers().items()]
            sends.append(await kafka.send(e.topic, e.body(), key=e.key, headers=headers))
        await asyncio.gather(*sends)
    finally:
        await kafka.stop()

    async with client("enrolment") as http:
        http.timeout = httpx.Timeout(30.0)
        sem = asyncio.Semaphore(32)

        async def register(i: int) -> None:
            async with sem:
                body = {"resident_id": f"{prefix}-r{i}", "community_id": "pinghu", "audience_group": "adult"}
                response = await http.post("/v1/residents", json=body)
                if response.status_code != 201:
                    raise SystemExit(f"registering a resident failed: {response.status_code} {response.text}")

        await asyncio.gather(*(register(i) for i in range(1, residents + 1)))

        async def last_session_known() -> bool:
            return (await http.get(f"/v1/sessions/{prefix}-s{sessions}")).status_code == 200

        await eventually(last_session_known, timeout_s=60)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _enrolment_backends() -> list[int]:
    conn = await asyncpg.connect(env()["ENROLMENT_DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


def cpu_snapshot() -> dict[int, float]:
    """CPU seconds so far of the enrolment service and of its PostgreSQL backends: the CPU cost
    per request does not depend on what else loads the machine, unlike requests/s."""
    pids = asyncio.run(_enrolment_backends())
    service = Path(".local/run/enrolment.pid")
    if service.exists():
        pids.append(int(service.read_text().strip()))
    return {pid: _cpu_s(pid) for pid in pids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--residents", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--capacity", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    print(f"preparing {args.sessions} sessions and {args.residents} residents ({prefix}) ...", flush=True)
    asyncio.run(prepare(prefix, args.residents, args.sessions, args.capacity))
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "5s",
        "-s", str(HERE / "enrolment_load.lua"), service_url("enrolment"),
        "--", token("operator", "bench", ttl_s=3600), prefix,
        str(args.residents), str(args.sessions), str(args.threads),
    ]  # fmt: skip
    print("running:", " ".join(command[:8]), "...", flush=True)
    service_pid = int(Path(".local/run/enrolment.pid").read_text().strip())
    before = cpu_snapshot()
    load_before = os.getloadavg()[0]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    load_after = os.getloadavg()[0]
    after = cpu_snapshot()
    service_cpu = after.get(service_pid, 0.0) - before.get(service_pid, 0.0)
    db_cpu = sum(v - before.get(pid, 0.0) for pid, v in after.items() if pid != service_pid)
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    print(output)
    print(f"requests/s: {result['rps']:.0f}   p99: {result['p99_ms']:.1f} ms   p50: {result['p50_ms']:.1f} ms")
    print(f"status codes: {result['codes']}   socket errors: {result['socket_errors']}")
    n = max(result["requests"], 1)
    print(
        f"CPU per request: service {service_cpu / n * 1e3:.3f} ms + its PostgreSQL backends {db_cpu / n * 1e3:.3f} ms"
        f" (over {result['seconds']:.0f} s: service {service_cpu / result['seconds'] * 100:.0f}% of a core)"
    )
    print(f"load average (1 min) before/after: {load_before:.2f} / {load_after:.2f}   cores: {os.cpu_count()}")
    print(
        f"load spread: {args.sessions} sessions of capacity {args.capacity}, {args.residents} residents, "
        "enrolments round-robin over the sessions (2 enrolments : 1 cancellation)"
    )


if __name__ == "__main__":
    main()
