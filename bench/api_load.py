"""Enrolment API under concurrent load: reuses the enrolment owner's wrk harness (bench/enrolment_load.py
prepares sessions and residents, bench/enrolment_load.lua enrols and cancels, 2 : 1) and reads its
RESULT line."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass

from bench import enrolment_load, env


@dataclass
class ApiRun:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    codes: dict[str, int]
    socket_errors: int

    @property
    def ok_share(self) -> float:
        ok = sum(n for code, n in self.codes.items() if code.startswith("2"))
        return ok / self.requests if self.requests else 0.0


def parse_result(stdout: str) -> ApiRun:
    data = json.loads(stdout.split("RESULT ", 1)[1].splitlines()[0])
    return ApiRun(
        requests=data["requests"],
        seconds=data["seconds"],
        rps=data["rps"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        codes={str(k): v for k, v in data["codes"].items()},
        socket_errors=data["socket_errors"],
    )


async def run(
    *, seconds: int = 20, connections: int = 64, threads: int = 2, residents: int = 3000, sessions: int = 300
) -> ApiRun:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    await enrolment_load.prepare(prefix, residents, sessions, 20)
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(env.ROOT / "bench" / "enrolment_load.lua"), env.service_url("enrolment"),
        "--", env.token("operator"), prefix, str(residents), str(sessions), str(threads),
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=seconds + 120, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse_result(done.stdout)
