"""Finding, signalling and restarting the local stack's processes (services, Kafka, PostgreSQL).

Services are found by their pid file (.local/run/<name>.pid, written by `make up`) or, when an
engineer started one by hand, by its exact command line; a restarted service is started the
way `make up` starts it, so the stack is left as `make up` would leave it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / ".local" / "run"
LOGS = ROOT / ".local" / "logs"
PY = str(ROOT / ".venv" / "bin" / "python")
SERVICES = ("activities", "enrolment", "scoring", "notify")
HTTP_PORTS = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}


def load_env() -> dict[str, str]:
    """.local/credentials.env overridden by the environment (the rule the stack follows)."""
    values: dict[str, str] = {}
    path = ROOT / ".local" / "credentials.env"
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.removeprefix("export ").partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    return {**values, **{k: os.environ[k] for k in values if k in os.environ}}


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return []
    return [] if state == "Z" else raw.decode(errors="replace").split("\0")


def _is_service(pid: int, name: str) -> bool:
    """`python -m services.<name>` started in this checkout for the stack's own street: a second
    clone's stack on the same machine (a CI run beside a developer's) is not ours to kill, nor is
    another street's service or the district instance (`make up STREETS=...`)."""
    argv = [a for a in _cmdline(pid) if a]
    if not (len(argv) >= 3 and argv[-2:] == ["-m", f"services.{name}"] and argv[0].endswith("python")):
        return False
    try:
        ours = Path(f"/proc/{pid}/cwd").resolve() == ROOT.resolve()
    except OSError:  # gone, or not ours to look at
        return False
    return ours and not _streets_module().serves_another_street(pid)


def alive(pid: int) -> bool:
    return bool(_cmdline(pid))


def service_pids(name: str) -> list[int]:
    """Every process running `python -m services.<name>` (normally one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_service(int(entry.name), name):
            found.append(int(entry.name))
    return sorted(found)


def service_url(name: str, env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env.get(f'{name.upper()}_HTTP_PORT', HTTP_PORTS[name])}"


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


def _streets_module():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "local"))
    import streets  # deploy/local/streets.py

    return streets


def _topology_module():
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import topology  # deploy/local/topology.py: the instances and brokers `make up` chose

    return topology


class Services:
    """Signals and restarts the services' instances (as many as `make up REPLICAS=N` started; see
    deploy/local/topology.py); remembers extra env per service for restarts."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.extra_env: dict[str, dict[str, str]] = {s: {} for s in SERVICES}
        self.helpers: dict[str, subprocess.Popen] = {}
        topology = _topology_module()
        shape = topology.current()
        self.brokers = shape.brokers
        self.instances = {s: topology.instances_of(s, shape.replicas.get(s, 1), HTTP_PORTS[s]) for s in SERVICES}
        self._instance_env = topology.instance_env

    def replicas(self, name: str) -> int:
        return len(self.instances[name])

    def pid(self, name: str) -> int | None:
        pids = self.pids(name)
        return pids[0] if pids else None

    def pids(self, name: str) -> list[int]:
        helper = self.helpers.get(name)
        return [p for p in service_pids(name) if helper is None or p != helper.pid]

    def instance_pid(self, inst) -> int | None:
        try:
            pid = int(inst.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_service(pid, inst.service) else None

    def spawn(self, name: str, extra: dict[str, str] | None = None, log_name: str | None = None) -> subprocess.Popen:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", **self.extra_env[name], **(extra or {})}
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"{log_name or name}.log").open("ab") as log:
            return subprocess.Popen(
                [PY, "-m", f"services.{name}"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # like `make up`: `make down` signals the whole group
            )

    async def start_instance(self, inst, timeout_s: float = 90.0) -> int:
        proc = self.spawn(inst.service, self._instance_env(inst), log_name=inst.name)
        inst.pid_file.write_text(f"{proc.pid}\n")
        await self.wait_ready_url(f"http://127.0.0.1:{inst.port}", inst.name, timeout_s, proc)
        return proc.pid

    async def wait_ready(self, name: str, timeout_s: float = 90.0, proc: subprocess.Popen | None = None) -> None:
        await self.wait_ready_url(service_url(name, self.env), name, timeout_s, proc)

    async def wait_ready_url(self, url: str, label: str, timeout_s: float, proc: subprocess.Popen | None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await ready(url):
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{label} exited with {proc.returncode} at start; see .local/logs/{label}.log")
            await asyncio.sleep(0.25)
        raise RuntimeError(f"{label} not ready after {timeout_s:.0f}s; see .local/logs/{label}.log")

    async def stop_pids(self, pids: list[int], sig: int, timeout_s: float = 40.0) -> list[int]:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for _ in range(int(timeout_s / 0.05)):
            if not any(alive(p) for p in pids):
                break
            await asyncio.sleep(0.05)
        for pid in pids:  # a graceful stop that hangs is itself a finding, but must not hang us
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return pids

    async def stop(self, name: str, sig: int, timeout_s: float = 40.0, instance=None) -> list[int]:
        """Send `sig` to one instance (or, without `instance`, every instance) and wait until gone."""
        if instance is not None:
            pid = self.instance_pid(instance)
            return await self.stop_pids([pid] if pid else [], sig, timeout_s)
        return await self.stop_pids(self.pids(name), sig, timeout_s)

    async def restart(self, name: str, sig: int) -> None:
        await self.stop(name, sig)
        await self.ensure_running(name)

    async def ensure_running(self, name: str) -> None:
        """Every instance of the service running and ready (started as `make up` starts them)."""
        for inst in self.instances[name]:
            if self.instance_pid(inst) is None:
                await self.start_instance(inst)
            else:
                await self.wait_ready_url(f"http://127.0.0.1:{inst.port}", inst.name, 90.0, None)

    # A second member of the consumer group for a single-instance service: it takes the partitions
    # of a paused one. With REPLICAS >= 2 the other instances do that.
    def start_helper(self, name: str, port: int) -> subprocess.Popen:
        extra = {f"{name.upper()}_HTTP_PORT": str(port), "LS_INSTANCE": f"{name}-chaos-helper"}
        self.helpers[name] = self.spawn(name, extra, log_name=f"{name}.chaos-helper")
        return self.helpers[name]

    async def stop_helper(self, name: str) -> None:
        proc = self.helpers.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 40)
        except TimeoutError:
            proc.kill()


# ---------------------------------------------------------------- Kafka and PostgreSQL
def _stack_module():
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import stack  # deploy/local/stack.py: the same start and stop the stack itself uses
    from rich.console import Console

    stack.console = Console(stderr=True)  # stdout is for the figures
    return stack


async def restart_kafka(env: dict[str, str], down_s: float = 5.0) -> None:
    """Controlled shutdown of the broker, a few seconds down, then start it as `make up` does."""
    stack = _stack_module()
    await asyncio.to_thread(stack.kafka_down)
    await asyncio.sleep(down_s)
    creds = stack.credentials.load()
    # The old broker's sockets may linger a moment after its exit; the start refuses a taken port
    # (or a broker not ready yet), so try again a few times before calling the fault failed.
    for attempt in range(1, 6):
        try:
            await asyncio.to_thread(stack.kafka_up, creds)
            return
        except (SystemExit, Exception):
            if attempt == 5:
                raise
            await asyncio.sleep(3.0 * attempt)


async def kill_broker(env: dict[str, str], node_id: int, down_s: float = 5.0) -> None:
    """SIGKILL one broker of the cluster (no controlled shutdown: its partitions lose their leader
    at once), a few seconds down, then start it again as `make up` does."""
    stack = _stack_module()
    await asyncio.to_thread(stack.broker_stop, node_id, signal.SIGKILL)
    await asyncio.sleep(down_s)
    for attempt in range(1, 6):
        try:
            await asyncio.to_thread(stack.broker_start, node_id, stack.credentials.load())
            return
        except (SystemExit, Exception):
            if attempt == 5:
                raise
            await asyncio.sleep(3.0 * attempt)


async def terminate_pg_connections(env: dict[str, str]) -> int:
    """pg_terminate_backend on every connection of the service roles, as the PG superuser."""
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=int(env.get("PGPORT_LOCAL", "55432")),
        user="postgres",
        password=env["PG_SUPERUSER_PASSWORD"],
        database="postgres",
    )
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity "
            "WHERE usename LIKE 'learnstreet\\_%' AND pid <> pg_backend_pid()"
        )
        return sum(1 for r in rows if r["ok"])
    finally:
        await conn.close()
