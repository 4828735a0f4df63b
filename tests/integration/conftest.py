"""Every integration module starts on a stack that answers.

The integration tests share one running stack, and a test that injects faults (the chaos run
restarts Kafka, kills services) can leave part of it down. In CI stop 23 the chaos run left the
stack unusable, and the tests after it failed one by one, each waiting out its own timeout, until CI's
90 minutes were gone, with no line saying why. So, before each module:

- Kafka must take an authenticated admin call and every service must answer /readyz, within a
  minute (a service the previous module restarted may still be starting);
- what does not is started again the way `make test` started it (`stack.py up`, recorded in the
  same file, so `make test`'s teardown stops it too);
- a stack that still does not answer ends the run at once, naming what is wrong.

Tests marked `stack_faults` also run after all the others (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.support import ROOT, SERVICE_PORTS, kafka_auth

PATIENCE_S = 60.0
STARTED_RECORD = ROOT / ".local" / "run" / "test-started"  # the Makefile's TEST_STARTED


async def _kafka_admin_call() -> None:
    admin = AIOKafkaAdminClient(**kafka_auth("admin"), request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 10)
        await asyncio.wait_for(admin.describe_cluster(), 10)
    finally:
        await admin.close()


def kafka_problem() -> str | None:
    # its own thread and event loop: a module fixture may run while the tests' loop is current
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(asyncio.run, _kafka_admin_call()).result(timeout=30)
        except Exception as error:
            return f"Kafka refuses an authenticated admin call ({type(error).__name__}: {error})"
    return None


def service_problems() -> list[str]:
    problems = []
    for service, port in SERVICE_PORTS.items():
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code
            if status != 200:
                problems.append(f"{service} answers /readyz with {status}")
        except httpx.HTTPError as error:
            problems.append(f"{service} does not answer /readyz ({type(error).__name__})")
    return problems


def stack_problems(patience_s: float) -> list[str]:
    deadline = time.monotonic() + patience_s
    while True:
        problems = [p for p in [kafka_problem(), *service_problems()] if p]
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(2)


def mend_or_stop(where: str, patience_s: float = PATIENCE_S) -> None:
    problems = stack_problems(patience_s)
    if not problems:
        return
    print(f"\n{where}: the stack does not answer ({'; '.join(problems)}); starting it again", flush=True)
    STARTED_RECORD.parent.mkdir(parents=True, exist_ok=True)
    started = subprocess.run(
        [sys.executable, "deploy/local/stack.py", "up", "--record", str(STARTED_RECORD)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    still = stack_problems(patience_s) if started.returncode == 0 else problems
    if still:
        tail = (started.stdout + started.stderr).strip().splitlines()[-5:]
        pytest.exit(
            f"the stack is broken before {where} and `stack.py up` did not mend it: {'; '.join(still)}. "
            f"Last lines of the attempt: {' | '.join(tail)}. "
            "Logs: .local/kafka/logs/server.log, .local/logs/<service>.log",
            returncode=3,
        )
    print(f"{where}: the stack answers again", flush=True)


@pytest.fixture(scope="module", autouse=True)
def stack_answers(request: pytest.FixtureRequest) -> None:
    mend_or_stop(request.node.nodeid)
