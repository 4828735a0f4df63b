"""Enrolment API under concurrent load: reuses the enrolment owner's wrk harness (bench/enrolment_load.py
prepares sessions and residents, bench/enrolment_load.lua enrols and cancels, 2 : 1) and reads its
RESULT line."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass

import asyncpg

from bench import ceiling_app, enrolment_load, env


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
    prefix = await prepared(residents, sessions)
    return await load(prefix, seconds=seconds, connections=connections, threads=threads, residents=residents,
                      sessions=sessions)  # fmt: skip


async def prepared(residents: int = 3000, sessions: int = 300) -> str:
    """Sessions and residents of a new load (their id prefix), known to enrolment."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    await enrolment_load.prepare(prefix, residents, sessions, 20)
    return prefix


async def load(
    prefix: str, *, seconds: int = 20, connections: int = 64, threads: int = 2, residents: int = 3000,
    sessions: int = 300,
) -> ApiRun:  # fmt: skip
    """wrk's enrol-and-cancel load on the prepared sessions and residents."""
    return await _wrk(env.service_url("enrolment"), prefix, seconds, connections, threads, residents, sessions)


async def run_ceiling(
    *, seconds: int = 20, connections: int = 64, threads: int = 2, residents: int = 3000, sessions: int = 300
) -> ApiRun:
    """The same wrk load against bench/ceiling_app.py (one INSERT … RETURNING per request)."""
    dsn = env.credentials()["ENROLMENT_DATABASE_URL"]
    conn = await asyncpg.connect(dsn)
    try:
        await ceiling_app.create_table(conn)
    finally:
        await conn.close()
    port = _free_port()
    app = await asyncio.create_subprocess_exec(
        env.PY, "-m", "bench.ceiling_app", str(port), cwd=env.ROOT, stdin=subprocess.DEVNULL,
        env={**os.environ, "ENROLMENT_DATABASE_URL": dsn},
    )  # fmt: skip
    try:
        await _wait_listening(port)
        return await _wrk(f"http://127.0.0.1:{port}", "ceiling", seconds, connections, threads, residents, sessions)
    finally:
        app.terminate()
        await asyncio.wait_for(app.wait(), timeout=20)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {ceiling_app.SCHEMA} CASCADE")
        finally:
            await conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_listening(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the ceiling endpoint did not listen on port {port} within {timeout_s:.0f} s")


async def _wrk(url: str, prefix: str, seconds: int, connections: int, threads: int, residents: int, sessions: int):
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(env.ROOT / "bench" / "enrolment_load.lua"), url,
        "--", env.token("operator"), prefix, str(residents), str(sessions), str(threads),
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=seconds + 120, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse_result(done.stdout)
