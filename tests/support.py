"""Helpers for tests that talk to the running local stack (real Kafka, PostgreSQL, services)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from shared.http.auth import mint_token
from shared.local_env import kafka_client_kwargs, read_credentials

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

SERVICE_PORTS = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}


def env() -> dict[str, str]:
    """The local credentials file, overridden by the environment (as the services read it)."""
    return read_credentials()


def kafka_auth(principal: str, password: str | None = None) -> dict[str, Any]:
    return kafka_client_kwargs(principal, env(), password=password)


def oidc_issuer() -> str | None:
    """The issuer the services take tokens from (LS_OIDC_ISSUER, the same setting they read), or
    None when they take development HS256 tokens."""
    # the services get the environment over the file (deploy/local/stack.py), even for a key the
    # file lacks
    return os.environ.get("LS_OIDC_ISSUER", env().get("LS_OIDC_ISSUER")) or None


def _keycloak():
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import keycloak  # deploy/local/keycloak.py: standard library only, outside services/

    return keycloak


def token(role: str, subject: str = "test-user", ttl_s: int = 600, community_id: str | None = None) -> str:
    """A bearer token the running services accept for (role, subject, community): from the
    identity provider when they use one (its lifetime is the realm's, `ttl_s` is then ignored),
    else a development HS256 token."""
    if oidc_issuer():
        return _keycloak().access_token(role, subject, community_id, env())
    return mint_token(env()["LS_JWT_SECRET"], subject=subject, role=role, ttl_s=ttl_s, community_id=community_id)


_expired: list[str] = []


def expired_token() -> str:
    """An operator token past its expiry, signed the way the services check: with the provider's
    key when they use one (its 5-second test client; then this waits once per session until the
    services' clock-skew leeway has passed too), else with the development secret."""
    if not oidc_issuer():
        return mint_token(env()["LS_JWT_SECRET"], subject="op", role="operator", ttl_s=-3600)
    if not _expired:
        bearer, exp = _keycloak().expiring_token("operator", "expired-op", None, env())
        leeway = float(env().get("LS_OIDC_LEEWAY_S") or 30.0)  # shared/http/oidc.py's default
        time.sleep(max(0.0, exp + leeway + 1.0 - time.time()))
        _expired.append(bearer)
    return _expired[0]


def service_url(service: str) -> str:
    e = env()
    return f"http://127.0.0.1:{e.get(f'{service.upper()}_HTTP_PORT', SERVICE_PORTS[service])}"


def client(
    service: str, role: str | None = "operator", subject: str = "test-user", community_id: str | None = None
) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token(role, subject, community_id=community_id)}"} if role else {}
    return httpx.AsyncClient(base_url=service_url(service), headers=headers, timeout=10.0)


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout_s: float = 20.0, every_s: float = 0.1) -> T:
    """Poll until `probe` returns something truthy; fail with the last value after the timeout."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")


async def producer(principal: str, **kwargs: Any) -> AIOKafkaProducer:
    p = AIOKafkaProducer(**kafka_auth(principal), acks="all", enable_idempotence=True, **kwargs)
    await p.start()
    return p


async def read_topic(
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord]], bool],
    principal: str = "admin",
    timeout_s: float = 20.0,
) -> list[ConsumerRecord]:
    """Read `topic` from the beginning (no group) until `until(records)` holds."""
    # Without a group, aiokafka assigns every partition of the topic and starts at the beginning.
    consumer = AIOKafkaConsumer(
        topic, **kafka_auth(principal), group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if until(records):
                return records
        raise AssertionError(f"{topic}: condition not met within {timeout_s}s after {len(records)} records")
    finally:
        await consumer.stop()


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or ())}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def rebuild(*command: str, during: Awaitable[Any] | None = None, timeout_s: float = 1200) -> str:
    """Run a service's rebuild command (`services.scoring rebuild --quiet`, ...) against the stack
    and return its output; `during` is awaited once while the first attempt runs (live events
    arriving during a rebuild). Another rebuild (a benchmark, another test) may hold the rebuild
    lock: exit 3, tried again."""
    for attempt in range(60):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", *command, cwd=ROOT, env={**os.environ, **env()},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        if attempt == 0 and during is not None:
            await during
        out, _ = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
        if process.returncode != 3:
            break
        await asyncio.sleep(10)
    text = out.decode()
    assert process.returncode in (0, 1), text  # 1: rebuilt, but not equal to live (the caller asserts)
    return text


# --- restarting a service of the local stack (crash tests) -----------------------------------

RUN_DIR = ROOT / ".local" / "run"
LOG_DIR = ROOT / ".local" / "logs"


def service_pid(service: str) -> int | None:
    path = RUN_DIR / f"{service}.pid"
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


async def stop_service(service: str, sig: int, *, timeout_s: float = 30.0) -> None:
    """Send `sig` (e.g. signal.SIGKILL) to a running service and wait until it is gone."""
    import signal as signals

    pid = service_pid(service)
    if pid is None:
        raise AssertionError(f"{service} has no pid file in {RUN_DIR}; is the stack up?")
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    os.kill(pid, signals.SIGKILL)


def page_links() -> dict[str, str]:
    """What `make up` adds to every service's environment so that the residents' phone page (on
    enrolment) reaches activities (deploy/local/stack.py page_links): a service restarted by a
    test without it would lose the page's surveys tab or its CORS."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import stack  # deploy/local/stack.py

    return stack.page_links(env())


async def start_service(service: str, *, extra_env: dict[str, str] | None = None, wait_ready: bool = True) -> int:
    """Start a service the way `make up` does (same command, env, pid and log files)."""
    import subprocess

    environment = {**page_links(), **os.environ, **env(), **(extra_env or {})}
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{service}.log", "ab")
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", f"services.{service}"],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    (RUN_DIR / f"{service}.pid").write_text(str(process.pid))
    if wait_ready:
        await wait_ready_service(service)
    return process.pid


async def wait_ready_service(service: str, timeout_s: float = 60.0) -> None:
    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(base_url=service_url(service), timeout=2.0) as http:
                return (await http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, timeout_s=timeout_s, every_s=0.2)


async def restart_service(service: str, sig: int, *, extra_env: dict[str, str] | None = None) -> int:
    await stop_service(service, sig)
    return await start_service(service, extra_env=extra_env)
