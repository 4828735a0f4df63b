"""Extra instances of a service next to the ones the local stack runs (replica tests).

    from tests.integration.replicas import extra_instances

    async with extra_instances("activities", count=1) as group:
        group.instances[0].url          # http://127.0.0.1:8111
        group.instances[0].client()     # httpx.AsyncClient with an operator token
        await group.wait_rebalanced()   # every instance's consumers hold partitions (group Stable)
        await group.instances[0].stop() # SIGTERM (then SIGKILL); the group rebalances again

Each instance runs `python -m services.<name>` with the environment of `.local/credentials.env`
(overridden by the environment, as the services read it) plus `<NAME>_HTTP_PORT=<port>` and
`LS_INSTANCE=<name>-<i>`, where instance i listens on base + 10*(i-1) (docs in /tmp/ls/topology.md,
`deploy/local/stack.py instances()`): indexes already answering `/readyz` are skipped, so this
works whether the stack runs one replica or several. Logs go to `.local/logs/<name>-<i>.test.log`.
On exit every instance started here gets SIGTERM, then SIGKILL after `stop_grace_s`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from shared.events.topics import group_id
from tests.support import LOG_DIR, ROOT, SERVICE_PORTS, env, kafka_auth, page_links, token

PORT_STEP = 10
MAX_INSTANCES = 9


def base_port(service: str) -> int:
    return int(env().get(f"{service.upper()}_HTTP_PORT", SERVICE_PORTS[service]))


def instance_port(service: str, index: int) -> int:
    return base_port(service) + PORT_STEP * (index - 1)


def instance_name(service: str, index: int) -> str:
    return service if index == 1 else f"{service}-{index}"


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Instance:
    service: str
    index: int
    name: str
    port: int
    log: str
    process: subprocess.Popen | None = None  # None: an instance this module did not start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, role: str | None = "operator", subject: str = "test-user") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token(role, subject)}"} if role else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10.0)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def ready(self) -> bool:
        return await _ready(self.url)

    async def stop(self, sig: int = signal.SIGTERM, grace_s: float = 20.0) -> None:
        """Stop an instance started here: `sig` to its process group, SIGKILL after `grace_s`."""
        if not self.running:
            return
        assert self.process is not None
        _signal_group(self.process, sig)
        try:
            await asyncio.to_thread(self.process.wait, grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@dataclass
class Replicas:
    """The instances of one service: `existing` (found answering) and `instances` (started here)."""

    service: str
    existing: list[Instance]
    instances: list[Instance] = field(default_factory=list)

    @property
    def all(self) -> list[Instance]:
        return [*self.existing, *[i for i in self.instances if i.running]]

    async def group_members(self) -> tuple[str, int]:
        """(state, member count) of the service's consumer group."""
        admin = AIOKafkaAdminClient(**kafka_auth("admin"))
        await admin.start()
        try:
            for response in await admin.describe_consumer_groups([group_id(self.service)]):
                for error_code, _gid, state, _ptype, _protocol, members, *_ in response.groups:
                    if error_code == 0:
                        return state, len(members)
            return "Unknown", 0
        finally:
            await admin.close()

    async def wait_rebalanced(self, *, members_per_instance: int | None = None, timeout_s: float = 60.0) -> None:
        """Wait until the consumer group is Stable with every running instance's consumers in it.

        A service registers one consumer per subscription; the count per instance is measured
        from the instances that were running before (or given)."""
        per = members_per_instance or self._members_per_instance
        want = per * len(self.all)
        deadline = time.monotonic() + timeout_s
        last: tuple[str, int] = ("?", 0)
        while time.monotonic() < deadline:
            last = await self.group_members()
            if last == ("Stable", want):
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"{group_id(self.service)} not Stable with {want} members within {timeout_s}s: {last}")

    _members_per_instance: int = 1


@asynccontextmanager
async def extra_instances(
    service: str,
    count: int = 1,
    *,
    extra_env: dict[str, str] | None = None,
    ready_timeout_s: float = 90.0,
    stop_grace_s: float = 20.0,
    wait_rebalanced: bool = True,
) -> AsyncIterator[Replicas]:
    """Start `count` more instances of `service`, wait for their /readyz (and, by default, for the
    consumer group to settle with all of them), yield them, stop them at exit."""
    existing = []
    for index in range(1, MAX_INSTANCES + 1):
        port = instance_port(service, index)
        if await _ready(f"http://127.0.0.1:{port}"):
            existing.append(Instance(service, index, instance_name(service, index), port, log=""))
    group = Replicas(service, existing)
    if existing:
        # Measure consumers per instance once the running instances' group has settled: a test just
        # before may have restarted the service (a CI run under load measured mid-rebalance, took 1
        # per instance, and then waited for 2 members of a group Stable with 6).
        settle_by = time.monotonic() + 60.0
        while True:
            state, members = await group.group_members()
            if state == "Stable" and members and members % len(existing) == 0:
                group._members_per_instance = members // len(existing)
                break
            if time.monotonic() > settle_by:
                raise AssertionError(f"{group_id(service)} of the running instances not Stable within 60 s: {state}")
            await asyncio.sleep(0.3)
    taken = {i.index for i in existing}
    free = [i for i in range(2, MAX_INSTANCES + 1) if i not in taken][:count]
    assert len(free) == count, f"no free instance index for {count} more {service} instances"
    base_env = {**page_links(), **os.environ, **env(), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    try:
        for index in free:
            name = instance_name(service, index)
            port = instance_port(service, index)
            log = LOG_DIR / f"{name}.test.log"
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [str(ROOT / ".venv" / "bin" / "python"), "-m", f"services.{service}"],
                    cwd=ROOT,
                    env={**base_env, f"{service.upper()}_HTTP_PORT": str(port), "LS_INSTANCE": name},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: stop() signals its children too
                )
            group.instances.append(Instance(service, index, name, port, str(log), process))
        deadline = time.monotonic() + ready_timeout_s
        for instance in group.instances:
            while not await instance.ready():
                if not instance.running:
                    raise AssertionError(f"{instance.name} exited; see {instance.log}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{instance.name} not ready within {ready_timeout_s}s; see {instance.log}")
                await asyncio.sleep(0.2)
        if wait_rebalanced:
            await group.wait_rebalanced()
        yield group
    finally:
        await asyncio.gather(*(i.stop(signal.SIGTERM, stop_grace_s) for i in group.instances))
