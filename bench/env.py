"""What the bench needs from the local stack: credentials, Kafka clients, databases, service processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from deploy.local.keycloak import dev_token
from shared.local_env import kafka_client_kwargs, read_credentials

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
RUN_DIR = LOCAL / "run"
LOG_DIR = LOCAL / "logs"
BENCH_DIR = LOCAL / "bench"
PY = str(ROOT / ".venv" / "bin" / "python")
SERVICE_PORTS = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}


def credentials() -> dict[str, str]:
    """.local/credentials.env with the environment taking precedence (the rule the stack follows)."""
    return read_credentials()


def kafka_auth(principal: str) -> dict[str, Any]:
    return kafka_client_kwargs(principal, credentials())


def admin_properties() -> Path:
    """Client properties for Kafka's Java tools, as the admin principal (file mode 0600)."""
    c = credentials()
    path = BENCH_DIR / "admin.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{c["KAFKA_ADMIN_USERNAME"]}" password="{c["KAFKA_ADMIN_PASSWORD"]}";\n'
        )
    return path


async def producer(principal: str, **kwargs: Any) -> AIOKafkaProducer:
    # Bulk loading: large batches and a little linger, still acks=all and idempotent like the services.
    options = {"acks": "all", "enable_idempotence": True, "linger_ms": 5, "max_batch_size": 1 << 20} | kwargs
    p = AIOKafkaProducer(**kafka_auth(principal), **options)
    await p.start()
    return p


async def end_offsets(topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka_auth("admin"), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def commit_group_offsets(group_id: str, offsets: dict[TopicPartition, int]) -> None:
    """Point a fresh consumer group at given offsets, so a tool that resumes from its group's
    committed position (ConsumerPerformance, Quix Streams) reads exactly the range we choose."""
    consumer = AIOKafkaConsumer(**kafka_auth("admin"), group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


async def committed_offsets(group_id: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka_auth("admin"), group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: (await consumer.committed(tp)) or 0 for tp in tps}
    finally:
        await consumer.stop()


class GroupWatcher:
    """One long-lived client for polling a group's committed offsets and topics' end offsets (a new
    client per poll would cost a SASL handshake each time, on the cores being measured)."""

    def __init__(self, group_id: str) -> None:
        self.consumer = AIOKafkaConsumer(**kafka_auth("admin"), group_id=group_id, enable_auto_commit=False)

    async def __aenter__(self) -> GroupWatcher:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: (await self.consumer.committed(tp)) or 0 for tp in tps}

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        partitions = self.consumer.partitions_for_topic(topic)
        if not partitions:
            await self.consumer._client.force_metadata_update()
            partitions = self.consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        return dict(await self.consumer.end_offsets(tps)) if tps else {}

    async def topics(self) -> set[str]:
        await self.consumer._client.force_metadata_update()
        return set(self.consumer._client.cluster.topics())


async def database(service: str) -> asyncpg.Connection:
    return await asyncpg.connect(credentials()[f"{service.upper()}_DATABASE_URL"])


def superuser_dsn(database: str) -> str:
    c = credentials()
    return f"postgresql://postgres:{c['PG_SUPERUSER_PASSWORD']}@127.0.0.1:{c.get('PGPORT_LOCAL', '55432')}/{database}"


def token(role: str, subject: str = "bench", ttl_s: int = 3600) -> str:
    # the identity provider's token when the services use one (it lives the realm's 5 minutes)
    return dev_token(role, subject, ttl_s=ttl_s, env=credentials())


def service_url(service: str) -> str:
    return f"http://127.0.0.1:{credentials().get(f'{service.upper()}_HTTP_PORT', SERVICE_PORTS[service])}"


def client(service: str, role: str | None = "operator", subject: str = "bench") -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token(role, subject)}"} if role else {}
    return httpx.AsyncClient(base_url=service_url(service), headers=headers, timeout=30.0)


# --- service processes -------------------------------------------------------------------------


async def patiently(request: Callable[[], Awaitable[httpx.Response]], attempts: int = 30) -> httpx.Response:
    """`request()`, again every 2 s while the service is unreachable or answers 503: other engineers
    restart services on this shared stack at any time. The last answer otherwise, whatever it is."""
    for attempt in range(1, attempts + 1):
        try:
            response = await request()
        except httpx.TransportError:
            if attempt == attempts:
                raise
            await asyncio.sleep(2)
            continue
        if response.status_code == 503 and attempt < attempts:
            await asyncio.sleep(2)
            continue
        return response
    raise AssertionError("unreachable")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def all_service_pids() -> dict[str, list[int]]:
    """Processes running `python -m services.<name>` in this checkout, found in /proc (not by pid
    file), so a service started by `make up` and one restarted by hand are both found; another
    clone's stack on the same machine (a CI run beside a developer's) is not ours to stop."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            words = _cmdline(int(entry.name)).split()
            if len(words) >= 3 and words[-2] == "-m" and words[-1].startswith("services.") and _ours(entry):
                found.setdefault(words[-1].removeprefix("services."), []).append(int(entry.name))
    return found


def _ours(proc: Path) -> bool:
    """Started in this checkout for the stack's own street: not another clone's, nor another
    street's service or the district instance (`make up STREETS=...`)."""
    try:
        ours = (proc / "cwd").resolve() == ROOT
    except OSError:  # gone, or not ours to look at
        return False
    if not ours:
        return False
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import streets  # deploy/local/streets.py

    return not streets.serves_another_street(int(proc.name))


def service_pids(service: str) -> list[int]:
    return sorted(all_service_pids().get(service, []))


def stop_service(service: str, timeout_s: float = 40.0) -> None:
    """SIGTERM (graceful: in-flight batches finish and commit), SIGKILL only after the timeout."""
    pids = service_pids(service)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_cmdline(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _cmdline(pid):
            os.kill(pid, signal.SIGKILL)


INSTANCE_PORT_STEP = 10  # instance i of a service listens on its port + 10 (i - 1), as the stack's


def instance_name(service: str, index: int) -> str:
    return service if index == 1 else f"{service}-{index}"


def instance_url(service: str, index: int) -> str:
    base = int(credentials().get(f"{service.upper()}_HTTP_PORT", SERVICE_PORTS[service]))
    return f"http://127.0.0.1:{base + INSTANCE_PORT_STEP * (index - 1)}"


def start_service(service: str, extra_env: dict[str, str] | None = None, index: int = 1) -> int:
    """Start a service (instance `index`: its own port, `LS_INSTANCE`, pid and log files) as `make up`
    does."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    name = instance_name(service, index)
    port = instance_url(service, index).rsplit(":", 1)[1]
    own = {f"{service.upper()}_HTTP_PORT": port, "LS_INSTANCE": name} if index > 1 else {}
    environment = {**os.environ, **credentials(), **own, **(extra_env or {})}
    with (LOG_DIR / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [PY, "-m", f"services.{service}"],
            cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    (RUN_DIR / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def stop_instance(service: str, index: int, sig: int = signal.SIGTERM, timeout_s: float = 40.0) -> None:
    """Stop one instance by its pid file: `sig` (SIGKILL: a crash), SIGKILL after the timeout."""
    try:
        pid = int((RUN_DIR / f"{instance_name(service, index)}.pid").read_text().strip())
    except (OSError, ValueError):
        return
    if not _cmdline(pid):
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _cmdline(pid):
        time.sleep(0.1)
    if _cmdline(pid):
        os.kill(pid, signal.SIGKILL)


async def wait_ready(service: str, timeout_s: float = 90.0, index: int = 1) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=instance_url(service, index), timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{service} not ready within {timeout_s:.0f} s; see .local/logs/{service}.log")


def ensure_running(service: str) -> None:
    if not service_pids(service):
        start_service(service)
