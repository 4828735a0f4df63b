"""The local stack: Kafka (KRaft, SASL/SCRAM + ACLs), PostgreSQL 15, Keycloak and the services.

    .venv/bin/python deploy/local/stack.py up [--infra-only] [--record FILE]
    .venv/bin/python deploy/local/stack.py down [--recorded FILE]
    .venv/bin/python deploy/local/stack.py status | provision | kafka-up | pg-up | cluster-check

Topology (deploy/local/topology.py): LS_KAFKA_BROKERS=N runs N combined broker+controller nodes
(node i: client port 19092+2(i-1)); LS_REPLICAS=N (or LS_REPLICAS_<SERVICE>) runs N instances of
each service (instance i: port base+10(i-1), named `<service>-<i>` for i > 1). `up` writes the
choice to .local/run/topology.json, which later commands follow unless the environment overrides it.

Everything lives under .local/ (git-ignored): credentials.env, kafka/{libs,data,data-<i>,logs},
pg/{data,server.log}, keycloak/ (deploy/local/keycloak.py), run/*.pid, logs/<process>.log.
Keycloak runs when LS_OIDC_ISSUER names its realm (credentials.py writes it); it starts while
Kafka and PostgreSQL start, and the services start once its discovery document answers.
Kafka's and PostgreSQL's data belong to one broker count: switching it parks them under
parked/brokers-<n>/ and brings back that count's own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import typer
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import credentials
import kafka_admin
import kafka_controller
import kafka_tls
import keycloak
import streets
import topology as topo
import waiting
from kafka_tools import KAFKA, KAFKA_ADMIN_PROPS, KAFKA_LIBS, console, err, fail, java_tool

ROOT = credentials.ROOT
LOCAL = credentials.LOCAL
RUN = LOCAL / "run"
LOGS = LOCAL / "logs"
PY = str(ROOT / ".venv" / "bin" / "python")
DEPLOY = ROOT / "deploy" / "local"


@dataclass(frozen=True)
class Proc:
    """A background process of the stack. `{KEY}` in argv/ready_url/ready_port is filled from
    the effective credentials (credentials.env overridden by the environment)."""

    name: str
    argv: list[str]
    ready_url: str | None = None  # GET must answer 200
    ready_port: str | None = None  # or: a TCP port on 127.0.0.1 must accept
    requires: str | None = None  # a file (relative to the repo) that must exist to start it
    marker: str = ""  # a string of its command line, checked before signalling a pid
    env: dict[str, str] = field(default_factory=dict)  # extra variables (templated too)
    street: str = ""  # an extra street's id, or `district` (deploy/local/streets.py); "" for the stack's own

    def fill(self, s: str, creds: dict[str, str]) -> str:
        return s.format(**creds)

    def port(self, creds: dict[str, str]) -> int | None:
        if self.ready_url:
            return urlsplit(self.fill(self.ready_url, creds)).port
        return int(self.fill(self.ready_port, creds)) if self.ready_port else None

    def listens(self, creds: dict[str, str]) -> str:
        if self.ready_url:
            return self.fill(self.ready_url, creds)
        if self.ready_port:
            return f"127.0.0.1:{self.fill(self.ready_port, creds)}"
        return "-"


def _notify_endpoint(key: str, default: str) -> str:
    # Optional keys (absent from a generated credentials.env): the environment, then the file, then
    # the default that services/notify/config.py uses too.
    return os.environ.get(key) or credentials.read_file().get(key) or default


_SMS_URL = urlsplit(_notify_endpoint("NOTIFY_SMS_URL", "http://127.0.0.1:8105/v1/messages"))


# Auxiliary processes started by `up` after Kafka, PostgreSQL and provisioning, before the service
# instances (stopped in reverse). One entry each, e.g.
#   Proc("smtp-sink", [PY, "-m", "deploy.local.smtp_sink"], ready_port="{SMTP_PORT}", marker="smtp_sink")
AUXILIARY: list[Proc] = [
    # notify's local SMTP sink (.local/mail/*.eml) and SMS gateway (.local/sms/messages.jsonl)
    Proc(
        "mailsink",
        [PY, "deploy/local/mailsink.py"],
        ready_port=_notify_endpoint("NOTIFY_SMTP_PORT", "8025"),
        requires="deploy/local/mailsink.py",
        marker="deploy/local/mailsink.py",
    ),
    Proc(
        "sms-gateway",
        [PY, "deploy/local/sms_gateway.py"],
        ready_url=f"{_SMS_URL.scheme}://{_SMS_URL.netloc}/healthz",
        requires="deploy/local/sms_gateway.py",
        marker="deploy/local/sms_gateway.py",
    ),
]
SERVICES = credentials.SERVICES


def effective_settings() -> dict[str, str]:
    """credentials.env overridden by the environment, or only the environment before `make setup`."""
    try:
        return credentials.load()
    except SystemExit:
        return dict(os.environ)


def service_base_port(service: str, creds: dict[str, str] | None = None) -> int:
    creds = effective_settings() if creds is None else creds
    return int(creds.get(f"{service.upper()}_HTTP_PORT") or credentials.HTTP_PORTS[service])


def instances(name: str, creds: dict[str, str] | None = None) -> list[topo.Instance]:
    """The instances of service `name` the topology asks for (instance 1 keeps today's names)."""
    return topo.instances_of(name, topo.current().replicas[name], service_base_port(name, creds))


def service_proc(name: str, service: str, port: int, env: dict[str, str], street: str = "") -> Proc:
    """`python -m services.<service>` answering /readyz on `port`, with `env` over the stack's settings."""
    return Proc(
        name=name,
        argv=[PY, "-m", f"services.{service}"],
        ready_url=f"http://127.0.0.1:{port}/readyz",
        requires=f"services/{service}/__main__.py",
        marker=f"services.{service}",
        env=env,
        street=street,
    )


def instance_proc(inst: topo.Instance) -> Proc:
    return service_proc(inst.name, inst.service, inst.port, topo.instance_env(inst))


def page_links(creds: dict[str, str]) -> dict[str, str]:
    """The residents' phone page (on enrolment) calls activities for surveys and ratings: enrolment
    names activities' address (its CSP and page config) and activities admits every enrolment
    instance's origin by CORS. Settings in credentials.env or the environment win."""
    pages = [f"http://{host}:{i.port}" for i in instances("enrolment", creds) for host in ("127.0.0.1", "localhost")]
    return {
        "ENROLMENT_ACTIVITIES_PUBLIC_URL": f"http://127.0.0.1:{service_base_port('activities', creds)}",
        "ACTIVITIES_CORS_ORIGINS": ",".join(pages),
    }


def street_proc(sp: streets.StreetProcess) -> Proc:
    return service_proc(sp.name, sp.service, sp.port, sp.env, sp.env.get("LS_STREET_ID") or streets.DISTRICT)


def chosen_streets() -> list[str]:
    """The extra streets LS_STREETS asks for (deploy/local/streets.py); a bad value stops here."""
    try:
        return streets.chosen()
    except (streets.StreetsError, OSError) as e:
        fail(str(e))
        raise


def street_procs(creds: dict[str, str], names: list[str]) -> list[Proc]:
    if not names:
        return []
    home = streets.home_street(creds.get("LS_REFERENCE_DIR"))
    return [street_proc(sp) for sp in streets.processes(home, names, creds)]


def processes(creds: dict[str, str] | None = None) -> list[Proc]:
    """Every process `up` starts after the infrastructure, in start order: the stack's street,
    then the extra streets of LS_STREETS and the district instance."""
    creds = effective_settings() if creds is None else creds
    own = [*AUXILIARY, *(instance_proc(i) for s in SERVICES for i in instances(s, creds))]
    return own + street_procs(creds, chosen_streets())


def started_street_procs(creds: dict[str, str]) -> list[Proc]:
    """The extra streets' processes `up` started some time (whatever LS_STREETS says now) that
    still have a pid file: what `down` and `status` look after."""
    return [p for p in street_procs(creds, streets.remembered()) if (RUN / f"{p.name}.pid").exists()]


def running_instances(service: str) -> list[topo.Instance]:
    """Instances with a pid file, whatever the topology says now (`down` stops them all)."""
    base = service_base_port(service)
    found = {1} if (RUN / f"{service}.pid").exists() else set()
    for f in RUN.glob(f"{service}-*.pid"):
        suffix = f.stem.removeprefix(f"{service}-")
        if suffix.isdigit() and int(suffix) > 1:
            found.add(int(suffix))
    return [topo.instance(service, i, base) for i in sorted(found)]


app = typer.Typer(add_completion=False, no_args_is_help=True)


# ---------------------------------------------------------------- helpers
def is_root() -> bool:
    return os.geteuid() == 0


def pid_alive(pid: int, marker: str = "") -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":  # zombie
        return False
    return marker in cmdline


def read_pid(name: str, marker: str = "") -> int | None:
    f = RUN / f"{name}.pid"
    try:
        pid = int(f.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid, marker) else None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def record(path: Path | None, component: str) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(component + "\n")


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: `down` signals the whole group
        )


def stop_pid(name: str, pid: int, marker: str, grace: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
        os.killpg(pid, signal.SIGCONT)  # a paused process (a chaos fault) must see the SIGTERM
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_alive(pid, marker):
        time.sleep(0.2)
    if pid_alive(pid, marker):
        err.print(f"[yellow]{name} did not stop within {grace:.0f}s: SIGKILL[/]")
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_started(
    what: str, ready: Callable[[], bool], *, pid: int | None, alive: Callable[[], bool], logs: list[Path]
) -> None:
    """Wait for a process of the stack while it is alive and making progress (deploy/local/waiting.py);
    on failure print its own output and the likely cause, and exit 1."""
    console.print(f"[cyan]waiting[/] for {what}")
    outcome = waiting.wait_for(
        what,
        ready,
        alive=alive,
        logs=logs,
        cpu=lambda: waiting.cpu_seconds(pid),
        # resolved at call time, so a test can drive the wait with a fake clock
        clock=lambda: time.monotonic(),
        sleep=lambda s: time.sleep(s),
        say=lambda message: console.print(f"[dim]{message}[/]"),
    )
    if not outcome.ready:
        err.print("[bold red]error:[/] start-up failed, waiting for")
        err.print(waiting.report(what, outcome, logs, root=ROOT), markup=False, highlight=False)
        raise typer.Exit(1)


def wait_until(check: Callable[[], bool], timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(0.5)
    return check()


# ---------------------------------------------------------------- Kafka
KAFKA_DATA = KAFKA / "data"
KAFKA_LOGS = KAFKA / "logs"
KAFKA_PROPS = KAFKA / "server.properties"
KAFKA_SCRAM_APPLIED = KAFKA / "scram.applied.json"
KAFKA_CLUSTER_ID = KAFKA / "cluster.id"
KAFKA_MARKER = str(KAFKA_PROPS)  # node 1; node i's marker is its own server-<i>.properties
KAFKA_WORLD = KAFKA / "brokers"  # the broker count the data in .local/kafka and .local/pg belongs to
PARKED = LOCAL / "parked"
JAVA_SERVER_OPTS = [
    "-Xms512m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


def kafka_users(creds: dict[str, str]) -> dict[str, str]:
    users = {creds["KAFKA_ADMIN_USERNAME"]: creds["KAFKA_ADMIN_PASSWORD"]}
    for p in credentials.PRINCIPALS:
        users[creds[f"{p.upper()}_KAFKA_USERNAME"]] = creds[f"{p.upper()}_KAFKA_PASSWORD"]
    return users


def kafka_port(creds: dict[str, str]) -> int:
    """Node 1's client port (19092 by default); node i listens 2(i-1) above it."""
    return topo.first_port(creds["KAFKA_BOOTSTRAP"])


def kafka_controller_port(creds: dict[str, str]) -> int:
    return kafka_port(creds) + 1  # 19093 by default; SASL/PLAIN (controller secret), 127.0.0.1 only


def topology() -> dict:
    """{"brokers": N, "replicas": {service: n}}: what the stack runs (file, overridden by env)."""
    return topo.current().as_json()


def kafka_nodes() -> list[int]:
    return list(range(1, topo.current().brokers + 1))


def kafka_node(node_id: int, creds: dict[str, str] | None = None) -> topo.Node:
    creds = effective_settings() if creds is None else creds
    return topo.node(node_id, topo.first_port(creds.get("KAFKA_BOOTSTRAP") or f"127.0.0.1:{credentials.KAFKA_PORT}"))


def node_marker(n: topo.Node) -> str:
    return str(n.props)


def node_pid(n: topo.Node) -> int | None:
    return read_pid(n.pid_name, node_marker(n))


def running_nodes(creds: dict[str, str] | None = None) -> list[tuple[topo.Node, int]]:
    """Every broker with a live pid, whatever the topology says now (`down` stops them all)."""
    ids = {1} if (RUN / "kafka.pid").exists() else set()
    for f in RUN.glob("kafka-*.pid"):
        suffix = f.stem.removeprefix("kafka-")
        if suffix.isdigit():
            ids.add(int(suffix))
    out = []
    for i in sorted(ids):
        n = kafka_node(i, creds)
        pid = node_pid(n)
        if pid is not None:
            out.append((n, pid))
    return out


def replication_settings(creds: dict[str, str], brokers: int) -> topo.Replication:
    try:
        return topo.replication({**creds, **os.environ}, brokers)
    except topo.TopologyError as e:
        fail(str(e))
        raise


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def admin_properties(username: str, password: str, path: Path = KAFKA_ADMIN_PROPS) -> Path:
    write_secret(
        path,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{username}" password="{password}";\n',
    )
    return path


def kafka_properties(
    template: str, n: topo.Node, all_nodes: list[topo.Node], repl: topo.Replication, creds: dict[str, str]
) -> str:
    """server.properties of node `n` in a cluster of `all_nodes` (every node a voter)."""
    values = {
        "NODE_ID": str(n.node_id),
        "VOTERS": topo.voters(all_nodes),
        "CLIENT_PORT": str(n.client_port),
        "CONTROLLER_PORT": str(n.controller_port),
        "TLS_PORT": str(n.tls_port),
        "TLS_KEYSTORE": str(kafka_tls.paths(n.data_dir.parent)["keystore"]),
        "ADMIN_USERNAME": creds["KAFKA_ADMIN_USERNAME"],
        "ADMIN_PASSWORD": creds["KAFKA_ADMIN_PASSWORD"],
        "CONTROLLER_PASSWORD": creds.get("KAFKA_CONTROLLER_PASSWORD") or kafka_controller.controller_password(),
        "DATA_DIR": str(n.data_dir),
        "REPLICATION_FACTOR": str(repl.factor),
        "MIN_INSYNC_REPLICAS": str(repl.min_insync),
    }
    for k, v in values.items():
        template = template.replace(f"@{k}@", v)
    left = re.search(r"^[^#\n]*?(@[A-Z_]+@)", template, re.MULTILINE)
    if left:
        raise ValueError(f"server.properties.in has a placeholder stack.py does not fill: {left.group(1)}")
    return template


def render_kafka_properties(
    creds: dict[str, str], n: topo.Node | None = None, all_nodes: list[topo.Node] | None = None
) -> None:
    brokers = topo.current().brokers
    all_nodes = all_nodes or topo.nodes(brokers, kafka_port(creds))
    n = n or all_nodes[0]
    template = (DEPLOY / "kafka" / "server.properties.in").read_text()
    kafka_tls.ensure(n.data_dir.parent)
    write_secret(n.props, kafka_properties(template, n, all_nodes, replication_settings(creds, len(all_nodes)), creds))


def new_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def kafka_format(creds: dict[str, str], n: topo.Node | None = None) -> None:
    n = n or kafka_node(1, creds)
    if (n.data_dir / "meta.properties").exists():
        return
    if KAFKA_CLUSTER_ID.exists():
        cid = KAFKA_CLUSTER_ID.read_text().strip()
    else:
        cid = new_cluster_id()
        KAFKA_CLUSTER_ID.write_text(cid + "\n")
    users = kafka_users(creds)
    scram = []
    for name, pw in users.items():
        # every node gets the users: whichever becomes the first active controller writes them
        scram += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={pw}]"]
    console.print(f"[cyan]kafka[/]: formatting {n.data_dir.relative_to(ROOT)} (cluster {cid}, node {n.node_id})")
    java_tool("kafka.tools.StorageTool", "format", "-t", cid, "-c", str(n.props), "-g", *scram)
    if n.node_id == 1 or not KAFKA_SCRAM_APPLIED.exists():
        write_secret(KAFKA_SCRAM_APPLIED, json.dumps(users))
    KAFKA_WORLD.write_text(f"{topo.current().brokers}\n")


async def kafka_metadata(bootstrap: str, username: str, password: str, timeout_ms: int = 5000) -> dict:
    """An authenticated metadata call; raises on failure."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=username,
        sasl_plain_password=password,
        request_timeout_ms=timeout_ms,
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_ms / 1000)
        return await asyncio.wait_for(admin.describe_cluster(), timeout_ms / 1000)
    finally:
        await admin.close()


async def node_metadata(n: topo.Node, username: str, password: str, timeout_ms: int = 5000) -> None:
    """An authenticated metadata call answered by node `n` itself (the client's bootstrap)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=n.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=username,
        sasl_plain_password=password,
        request_timeout_ms=timeout_ms,
    )
    try:
        # start() authenticates to the bootstrap server and asks it for metadata
        await asyncio.wait_for(admin.start(), timeout_ms / 1000)
    finally:
        await admin.close()


def kafka_ready(creds: dict[str, str], password: str | None = None) -> bool:
    if not port_open(kafka_port(creds)):
        return False
    try:
        asyncio.run(
            kafka_metadata(
                creds["KAFKA_BOOTSTRAP"],
                creds["KAFKA_ADMIN_USERNAME"],
                password or creds["KAFKA_ADMIN_PASSWORD"],
            )
        )
        return True
    except Exception:
        return False


def node_ready(n: topo.Node, creds: dict[str, str], password: str | None = None) -> bool:
    if not port_open(n.client_port):
        return False
    try:
        asyncio.run(node_metadata(n, creds["KAFKA_ADMIN_USERNAME"], password or creds["KAFKA_ADMIN_PASSWORD"]))
        return True
    except Exception:
        return False


def kafka_sync_scram(creds: dict[str, str]) -> None:
    """Apply passwords changed in credentials.env since the last format/sync."""
    users = kafka_users(creds)
    applied = json.loads(KAFKA_SCRAM_APPLIED.read_text()) if KAFKA_SCRAM_APPLIED.exists() else {}
    admin = creds["KAFKA_ADMIN_USERNAME"]
    changed = [u for u, pw in users.items() if applied.get(u) != pw]
    if not changed:
        return
    # authenticate with the admin password the broker knows; change the admin's own last
    known = kafka_admin.AdminConnection.from_settings(creds, password=applied.get(admin, users[admin]))
    client = known.confluent_admin()
    for user in sorted(changed, key=lambda u: u == admin):
        console.print(f"[cyan]kafka[/]: updating SCRAM credentials of {user}")
        kafka_admin.upsert_scram_users(client, {user: users[user]})
        applied[user] = users[user]
        write_secret(KAFKA_SCRAM_APPLIED, json.dumps(applied))


def world_brokers() -> int | None:
    """The broker count the Kafka data on disk was formatted for (None: nothing formatted yet)."""
    try:
        return int(KAFKA_WORLD.read_text().strip())
    except (OSError, ValueError):
        # data formatted before the stack knew about clusters is a single node's
        return 1 if (KAFKA_DATA / "meta.properties").exists() else None


def check_world(brokers: int) -> None:
    have = world_brokers()
    if have is not None and have != brokers:
        fail(
            f"the Kafka data in .local/kafka belongs to {have} broker(s), the topology asks for {brokers}: "
            f"`make down`, then `make up BROKERS={brokers}` (it parks the {have}-broker data)"
        )


def _node_start(n: topo.Node, all_nodes: list[topo.Node], creds: dict[str, str], rec: Path | None) -> int:
    """Start node `n` unless it runs; returns its pid."""
    pid = node_pid(n)
    if pid is not None:
        return pid
    if port_open(n.client_port) or port_open(n.controller_port) or port_open(n.tls_port):
        fail(
            f"port {n.client_port}, {n.controller_port} or {n.tls_port} is taken by a process this stack did not start"
        )
    for d in (n.data_dir, n.logs_dir, RUN):
        d.mkdir(parents=True, exist_ok=True)
    render_kafka_properties(creds, n, all_nodes)
    kafka_format(creds, n)
    argv = [
        "java",
        *JAVA_SERVER_OPTS,
        f"-Dkafka.logs.dir={n.logs_dir}",
        f"-Dlog4j2.configurationFile={DEPLOY / 'kafka' / 'log4j2.yaml'}",
        "-cp",
        str(KAFKA_LIBS / "*"),
        "kafka.Kafka",
        str(n.props),
    ]
    proc = spawn(argv, n.logs_dir / "kafkaServer.out")
    (RUN / f"{n.pid_name}.pid").write_text(f"{proc.pid}\n")
    record(rec, "kafka")
    console.print(f"[cyan]kafka[/]: node {n.node_id} started (pid {proc.pid})")
    return proc.pid


def _node_wait(n: topo.Node, pid: int, creds: dict[str, str], admin_pw: str | None) -> None:
    # Usually ready in 5-20 s; once (2026-12-04) a fresh clone's JVM wrote nothing for 60 s and the
    # CI run failed: the wait follows the JVM's progress rather than a fixed limit.
    marker = node_marker(n)
    wait_started(
        f"Kafka node {n.node_id} to answer an authenticated metadata call on 127.0.0.1:{n.client_port} (pid {pid})",
        lambda: node_ready(n, creds, admin_pw),
        pid=pid,
        alive=lambda: pid_alive(pid, marker),
        logs=[n.logs_dir / "kafkaServer.out", n.logs_dir / "server.log"],
    )


def _jars_present() -> None:
    if not (KAFKA_LIBS / "kafka-tools-4.1.1.jar").exists() and not list(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        fail("Kafka jars missing in .local/kafka/libs: run `make setup`")


def kafka_up(creds: dict[str, str], rec: Path | None = None) -> None:
    """Start every broker of the topology that is not running; return when all answer."""
    t0 = time.monotonic()
    _jars_present()
    brokers = topo.current().brokers
    check_world(brokers)
    all_nodes = topo.nodes(brokers, kafka_port(creds))
    admin_properties(creds["KAFKA_ADMIN_USERNAME"], creds["KAFKA_ADMIN_PASSWORD"])
    # a quorum of N voters elects nobody until a majority runs: start them all, then wait for each
    pids = {n.node_id: _node_start(n, all_nodes, creds, rec) for n in all_nodes}
    if len(all_nodes) == 1:
        console.print(f"[cyan]kafka[/]: waiting for an authenticated metadata call (pid {pids[1]})")
    applied = json.loads(KAFKA_SCRAM_APPLIED.read_text()) if KAFKA_SCRAM_APPLIED.exists() else {}
    admin_pw = applied.get(creds["KAFKA_ADMIN_USERNAME"])
    for n in all_nodes:
        _node_wait(n, pids[n.node_id], creds, admin_pw)
    kafka_sync_scram(creds)
    console.print(f"[cyan]kafka[/]: ready on {creds['KAFKA_BOOTSTRAP']} ({time.monotonic() - t0:.1f}s)")


def broker_start(node_id: int, creds: dict[str, str]) -> None:
    """Start node `node_id` of the topology (if stopped); return when it answers an authenticated
    metadata call itself."""
    _jars_present()
    brokers = topo.current().brokers
    if not 1 <= node_id <= brokers:
        fail(f"node {node_id} is not in the topology (brokers 1..{brokers})")
    check_world(brokers)
    all_nodes = topo.nodes(brokers, kafka_port(creds))
    n = all_nodes[node_id - 1]
    admin_properties(creds["KAFKA_ADMIN_USERNAME"], creds["KAFKA_ADMIN_PASSWORD"])
    pid = _node_start(n, all_nodes, creds, None)
    applied = json.loads(KAFKA_SCRAM_APPLIED.read_text()) if KAFKA_SCRAM_APPLIED.exists() else {}
    _node_wait(n, pid, creds, applied.get(creds["KAFKA_ADMIN_USERNAME"]))


def broker_stop(node_id: int, sig: int = signal.SIGTERM, grace: float = 60) -> int | None:
    """Signal node `node_id`; returns its pid (None: it was not running).

    SIGTERM: controlled shutdown, SIGKILL after `grace` s; SIGKILL: waits until it is gone. Either
    way the pid file goes. Other signals (SIGSTOP, SIGCONT) are sent and return at once."""
    n = kafka_node(node_id)
    marker = node_marker(n)
    pid = node_pid(n)
    if pid is None:
        (RUN / f"{n.pid_name}.pid").unlink(missing_ok=True)
        return None
    if sig == signal.SIGTERM:
        console.print(f"[cyan]kafka[/]: node {node_id} controlled shutdown (pid {pid})")
        stop_pid(f"kafka node {node_id}", pid, marker, grace=grace)
    else:
        try:
            os.killpg(pid, sig)
        except PermissionError:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        if sig != signal.SIGKILL:
            return pid
        wait_until(lambda: not pid_alive(pid, marker), grace)
    # A JVM's main thread shows as a zombie while its other threads still hold the sockets: the
    # node counts as stopped once its ports are free (a start right after would find them taken).
    wait_until(lambda: not port_open(n.client_port) and not port_open(n.controller_port), grace)
    (RUN / f"{n.pid_name}.pid").unlink(missing_ok=True)
    return pid


def kafka_down() -> None:
    """Controlled shutdown of every running broker at once: one by one, the last ones would wait
    for a controller quorum that is already gone."""
    running = running_nodes()
    for n, pid in running:
        console.print(f"[cyan]kafka[/]: node {n.node_id} controlled shutdown (pid {pid})")

    def stop(item: tuple[topo.Node, int]) -> None:
        n, pid = item
        stop_pid(f"kafka node {n.node_id}", pid, node_marker(n), grace=60)

    with ThreadPoolExecutor(max_workers=max(1, len(running))) as pool:
        list(pool.map(stop, running))
    for f in [RUN / "kafka.pid", *RUN.glob("kafka-*.pid")]:
        f.unlink(missing_ok=True)


# ---------------------------------------------------------------- PostgreSQL
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_DIR = LOCAL / "pg"
PG_DATA = PG_DIR / "data"
PG_LOG = PG_DIR / "server.log"


def pg_os_user() -> str:
    return "postgres" if is_root() else pwd.getpwuid(os.geteuid()).pw_name


def as_pg(argv: list[str], **kw) -> subprocess.CompletedProcess:
    if is_root():
        argv = ["runuser", "-u", "postgres", "--", *argv]
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, cwd="/", **kw)


def pg_port(creds: dict[str, str]) -> int:
    return int(creds["PGPORT_LOCAL"])


def ensure_traversable(path: Path) -> None:
    """The postgres OS user must be able to enter every folder above its data directory."""
    if not is_root():
        return
    for d in [path, *path.parents]:
        if as_pg(["test", "-x", str(d)]).returncode != 0:
            console.print(f"[yellow]pg[/]: making {d} traversable (o+x) for the postgres user")
            os.chmod(d, os.stat(d).st_mode | 0o001)


def pg_write_config(creds: dict[str, str]) -> None:
    conf = f"""# written by deploy/local/stack.py on every start
port = {pg_port(creds)}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{PG_DIR}'
password_encryption = 'scram-sha-256'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
full_page_writes = on
# Bursts of check-ins write WAL fast; fewer forced checkpoints mean fewer full-page images.
max_wal_size = 4GB
wal_compression = on
logging_collector = off
log_min_messages = warning
"""
    hba = """# written by deploy/local/stack.py: passwords (scram-sha-256) for every TCP connection;
# over the project's socket only the OS user running the server may log in, as postgres.
local   all   postgres                    peer map=owner
local   all   all                         scram-sha-256
host    all   all        127.0.0.1/32     scram-sha-256
host    all   all        ::1/128          scram-sha-256
"""
    ident = f"owner  {pg_os_user()}  postgres\n"
    for name, text in (("learnstreet.conf", conf), ("pg_hba.conf", hba), ("pg_ident.conf", ident)):
        p = PG_DATA / name
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
            if is_root():
                shutil.chown(p, "postgres", "postgres")
            os.chmod(p, 0o600)
    main_conf = PG_DATA / "postgresql.conf"
    if "include_if_exists = 'learnstreet.conf'" not in main_conf.read_text():
        with main_conf.open("a") as f:
            f.write("\ninclude_if_exists = 'learnstreet.conf'\n")


def pg_initdb(creds: dict[str, str]) -> None:
    if (PG_DATA / "PG_VERSION").exists():
        return
    PG_DIR.mkdir(parents=True, exist_ok=True)
    if is_root():
        shutil.chown(PG_DIR, "postgres", "postgres")
    os.chmod(PG_DIR, 0o700)
    ensure_traversable(PG_DIR)
    pwfile = PG_DIR / "initdb.pw"
    pwfile.write_text(creds["PG_SUPERUSER_PASSWORD"] + "\n")
    if is_root():
        shutil.chown(pwfile, "postgres", "postgres")
    os.chmod(pwfile, 0o600)
    console.print(f"[cyan]pg[/]: initdb {PG_DATA.relative_to(ROOT)}")
    res = as_pg(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(PG_DATA),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        capture_output=True,
        text=True,
    )
    pwfile.unlink(missing_ok=True)
    if res.returncode != 0:
        fail(f"initdb failed:\n{res.stdout}\n{res.stderr}")


def pg_running() -> bool:
    if not (PG_DATA / "PG_VERSION").exists():
        return False
    return as_pg([str(PG_BIN / "pg_ctl"), "-D", str(PG_DATA), "status"], capture_output=True).returncode == 0


PG_PID_GRACE_S = 10.0


def postmaster_pid() -> int | None:
    try:
        return int((PG_DATA / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pg_isready(creds: dict[str, str]) -> bool:
    res = subprocess.run(
        [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(pg_port(creds))],
        stdin=subprocess.DEVNULL,
    )
    return res.returncode == 0


def sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def sql_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def local_database_urls(creds: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """service -> (role, password, database) for the URLs that point at this local cluster."""
    out = {}
    for s in credentials.SERVICES:
        u = urlsplit(creds[f"{s.upper()}_DATABASE_URL"])
        if u.hostname in ("127.0.0.1", "localhost") and (u.port or 5432) == pg_port(creds):
            out[s] = (u.username or "", u.password or "", u.path.lstrip("/"))
    return out


def pg_provision(creds: dict[str, str]) -> None:
    roles = {db: (role, password) for role, password, db in local_database_urls(creds).values()}
    pg_databases(roles, creds, superuser_password=creds["PG_SUPERUSER_PASSWORD"])


def database_sql(roles: dict[str, tuple[str, str]], quote_ident=None, quote_literal=None) -> list[str]:
    """Idempotent SQL for `{database: (role, password)}`: the role, its database, no PUBLIC connect."""
    quote_ident, quote_literal = quote_ident or sql_ident, quote_literal or sql_literal
    sql = []
    for db, (role, password) in roles.items():
        sql += [
            f"SELECT 'CREATE ROLE {quote_ident(role)} LOGIN' WHERE NOT EXISTS "
            f"(SELECT 1 FROM pg_roles WHERE rolname = {quote_literal(role)}) \\gexec",
            f"ALTER ROLE {quote_ident(role)} LOGIN PASSWORD {quote_literal(password)};",
            f"SELECT 'CREATE DATABASE {quote_ident(db)} OWNER {quote_ident(role)}' WHERE NOT EXISTS "
            f"(SELECT 1 FROM pg_database WHERE datname = {quote_literal(db)}) \\gexec",
            f"ALTER DATABASE {quote_ident(db)} OWNER TO {quote_ident(role)};",
            f"REVOKE CONNECT, TEMPORARY ON DATABASE {quote_ident(db)} FROM PUBLIC;",
        ]
    return sql


def pg_databases(
    roles: dict[str, tuple[str, str]], creds: dict[str, str], superuser_password: str | None = None
) -> None:
    """`{database: (role, password)}` made or aligned; new databases are open to PUBLIC by default,
    so only the owning role may connect."""
    sql = ["\\set ON_ERROR_STOP on"]
    if superuser_password is not None:
        sql.append(f"ALTER ROLE postgres PASSWORD {sql_literal(superuser_password)};")
    sql += database_sql(roles)
    res = as_pg(
        [
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-h",
            str(PG_DIR),
            "-p",
            str(pg_port(creds)),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-f",
            "-",
        ],
        input="\n".join(sql) + "\n",
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        fail(f"provisioning PostgreSQL roles failed:\n{res.stdout}\n{res.stderr}")


def pg_up(creds: dict[str, str], rec: Path | None = None) -> None:
    t0 = time.monotonic()
    pg_initdb(creds)
    ensure_traversable(PG_DIR)
    pg_write_config(creds)
    pg_ctl = str(PG_BIN / "pg_ctl")
    if pg_running():
        as_pg([pg_ctl, "-D", str(PG_DATA), "reload"], capture_output=True)
    else:
        if port_open(pg_port(creds)):
            fail(f"port {pg_port(creds)} is taken by a process this stack did not start")
        if not PG_LOG.exists():
            PG_LOG.touch()
        if is_root():
            shutil.chown(PG_LOG, "postgres", "postgres")
        # -W: pg_ctl's own wait is a fixed 60 s; ours follows the server's progress
        res = as_pg([pg_ctl, "-D", str(PG_DATA), "-l", str(PG_LOG), "-W", "start"], capture_output=True, text=True)
        if res.returncode != 0:
            fail(f"pg_ctl start failed:\n{res.stdout}{res.stderr}", PG_LOG)
        record(rec, "pg")
        started = time.monotonic()
        wait_started(
            f"PostgreSQL to accept connections on 127.0.0.1:{pg_port(creds)}",
            lambda: pg_isready(creds),
            pid=postmaster_pid(),
            # the postmaster writes its pid file a moment after pg_ctl returns
            alive=lambda: pid_alive(postmaster_pid() or -1) or time.monotonic() - started < PG_PID_GRACE_S,
            logs=[PG_LOG],
        )
    pg_provision(creds)
    console.print(f"[cyan]pg[/]: ready on 127.0.0.1:{pg_port(creds)} ({time.monotonic() - t0:.1f}s)")


def pg_down() -> None:
    if pg_running():
        console.print("[cyan]pg[/]: stopping (fast)")
        as_pg([str(PG_BIN / "pg_ctl"), "-D", str(PG_DATA), "-m", "fast", "-w", "-t", "60", "stop"], capture_output=True)


# ---------------------------------------------------------------- Keycloak
def keycloak_wanted(creds: dict[str, str]) -> bool:
    """The services take tokens of the local Keycloak (LS_OIDC_ISSUER names its realm): `up`
    starts it. Another issuer (a city's provider) or none (HS256 development tokens): it stays off."""
    issuer = creds.get("LS_OIDC_ISSUER", "").strip()
    return bool(issuer) and issuer == keycloak.issuer(keycloak.effective(creds))


def keycloak_spawn(creds: dict[str, str], rec: Path | None = None) -> int | None:
    """Start Keycloak without waiting for it, when the services use it; its first start takes
    about a minute, so it comes up while Kafka and PostgreSQL start. Returns its pid."""
    if not keycloak_wanted(creds):
        return None
    try:
        pid, started = keycloak.keycloak_start(keycloak.effective(creds))
    except SystemExit as e:
        fail(str(e))
        raise
    if started:
        record(rec, "keycloak")
        console.print(f"[cyan]keycloak[/]: started (pid {pid})")
    return pid


def keycloak_wait(creds: dict[str, str], pid: int | None, t0: float) -> None:
    if pid is None:
        return
    kc = keycloak.effective(creds)
    wait_started(
        f"Keycloak to serve {keycloak.issuer(kc)}/.well-known/openid-configuration (pid {pid})",
        lambda: keycloak.keycloak_ready(kc),
        pid=pid,
        alive=lambda: keycloak.keycloak_alive(pid),
        logs=[keycloak.LOG],
    )
    console.print(
        f"[cyan]keycloak[/]: ready on {keycloak.issuer(kc)} ({time.monotonic() - t0:.1f}s after it was started,"
        f" {keycloak.rss_mib(pid):.0f} MiB)"
    )


def keycloak_stop() -> None:
    pid = keycloak.keycloak_pid()
    if pid is not None:
        console.print(f"[cyan]keycloak[/]: stopping (pid {pid})")
    keycloak.keycloak_down()


# ---------------------------------------------------------------- processes
def http_ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def proc_ready(p: Proc, creds: dict[str, str]) -> bool:
    if p.ready_url:
        return http_ready(p.fill(p.ready_url, creds))
    if p.ready_port:
        return port_open(int(p.fill(p.ready_port, creds)))
    return True


def _selected(procs: list[Proc], names: list[str] | None) -> list[Proc]:
    """`names` picks processes by name; a service's name picks all its instances of the stack's own
    street (another street's are picked by their own names, `nanwan-scoring`, `district`)."""
    if names is None:
        return procs
    return [p for p in procs if p.name in names or (not p.street and p.marker.removeprefix("services.") in names)]


def procs_up(creds: dict[str, str], rec: Path | None = None, names: list[str] | None = None) -> None:
    selected = _selected(processes(creds), names)
    missing = [p for p in selected if p.requires and not (ROOT / p.requires).exists()]
    if missing:
        fail("cannot start " + ", ".join(f"{p.name} ({p.requires} does not exist)" for p in missing))
    surplus = [
        i.name
        for s in SERVICES
        if names is None or s in names
        for i in running_instances(s)
        if i.index > topo.current().replicas[s]
    ]
    if surplus:
        procs_down(surplus)  # the topology asks for fewer instances than run
    env = {**page_links(creds), **os.environ, **creds, "PYTHONUNBUFFERED": "1"}
    started: dict[str, int] = {}
    for p in selected:
        if read_pid(p.name, p.marker) is not None:
            continue
        port = p.port(creds)
        if port is not None and port_open(port):
            fail(
                f"cannot start {p.name}: port {port} is already in use by a process this stack did not "
                f"start (see `ss -ltnp 'sport = :{port}'`); stop that process first"
            )
        proc = spawn(
            [p.fill(a, creds) for a in p.argv],
            LOGS / f"{p.name}.log",
            {**env, **{k: p.fill(v, creds) for k, v in p.env.items()}},
        )
        (RUN / f"{p.name}.pid").write_text(f"{proc.pid}\n")
        record(rec, p.name)
        started[p.name] = proc.pid
        console.print(f"[cyan]{p.name}[/]: started (pid {proc.pid})")
    # several instances and brokers share two cores while they start: waits follow progress
    for p in selected:
        pid = read_pid(p.name, p.marker) or started.get(p.name)
        wait_started(
            f"{p.name} to answer {p.listens(creds)} (pid {pid})",
            lambda p=p: proc_ready(p, creds),
            pid=pid,
            alive=lambda p=p, pid=pid: pid is not None and pid_alive(pid, p.marker),
            logs=[LOGS / f"{p.name}.log"],
        )


def procs_down(names: list[str] | None = None) -> None:
    """Stop every service instance with a pid file (any topology), then the auxiliary processes."""
    creds = effective_settings()
    known = {p.name: p for p in [*processes(creds), *started_street_procs(creds)] if p not in AUXILIARY}
    for s in SERVICES:
        for inst in running_instances(s):
            known.setdefault(inst.name, instance_proc(inst))

    def stop(p: Proc) -> None:
        pid = read_pid(p.name, p.marker)
        if pid is not None:
            console.print(f"[cyan]{p.name}[/]: stopping (pid {pid})")
            stop_pid(p.name, pid, p.marker, grace=20)
        (RUN / f"{p.name}.pid").unlink(missing_ok=True)

    # instances drain in parallel: one by one, eight of them would take eight graceful stops
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(stop, _selected(list(known.values()), names)))
    for p in reversed(_selected(AUXILIARY, names)):
        stop(p)


# ---------------------------------------------------------------- topology
def _world_dir(brokers: int) -> Path:
    return PARKED / f"brokers-{brokers}"


def _world_items() -> list[tuple[Path, str]]:
    """What belongs to one broker count: (where it is when active, its name when parked)."""
    items = [
        (KAFKA_CLUSTER_ID, "kafka/cluster.id"),
        (KAFKA_SCRAM_APPLIED, "kafka/scram.applied.json"),
        (KAFKA_WORLD, "kafka/brokers"),
        (PG_DATA, "pg/data"),
    ]
    return items + [(d, f"kafka/{d.name}") for d in sorted(KAFKA.glob("data*")) if d.is_dir()]


def switch_world(brokers: int) -> None:
    """Kafka's data is formatted for one quorum, and the services' databases hold offsets and
    outbox state of that cluster: a different broker count parks both and brings back its own
    (or starts fresh), so going back to one broker finds the one-broker stack as it was."""
    have = world_brokers()
    if have is None or have == brokers:
        return
    if running_nodes() or pg_running():
        fail(
            f"the stack runs with {have} broker(s); `make down` first, then `make up BROKERS={brokers}` "
            f"(the {have}-broker data is kept under {_world_dir(have).relative_to(ROOT)})"
        )
    park = _world_dir(have)
    if park.exists():
        fail(f"{park.relative_to(ROOT)} already exists: move it away before switching to {brokers} broker(s)")
    if not KAFKA_WORLD.exists():
        KAFKA_WORLD.write_text(f"{have}\n")
    for active, name in _world_items():
        if active.exists():
            (park / name).parent.mkdir(parents=True, exist_ok=True)
            os.rename(active, park / name)
    console.print(f"[cyan]stack[/]: {have}-broker data parked in {park.relative_to(ROOT)}")
    back = _world_dir(brokers)
    if back.exists():
        for parked in sorted(back.glob("kafka/*")):
            os.rename(parked, KAFKA / parked.name)
        if (back / "pg" / "data").exists():
            os.rename(back / "pg" / "data", PG_DATA)
        shutil.rmtree(back)
        console.print(f"[cyan]stack[/]: {brokers}-broker data restored from {back.relative_to(ROOT)}")


def sync_bootstrap(brokers: int) -> None:
    """KAFKA_BOOTSTRAP in credentials.env lists every local broker (clients survive node 1 down)."""
    current = credentials.read_file().get("KAFKA_BOOTSTRAP", "")
    if not current:
        return
    base = topo.first_port(current)
    if topo.is_local_bootstrap(current, base):
        local = {
            "KAFKA_BOOTSTRAP": topo.bootstrap(brokers, base),
            # the same brokers over TLS, for a client or test that sets KAFKA_SECURITY_PROTOCOL=SASL_SSL
            "LS_KAFKA_TLS_BOOTSTRAP": topo.tls_bootstrap(brokers, base),
            "LS_KAFKA_TLS_CA_FILE": str(kafka_tls.paths(KAFKA)["ca"]),
        }
        if credentials.update(local):
            console.print(f"[cyan]stack[/]: KAFKA_BOOTSTRAP={local['KAFKA_BOOTSTRAP']} in credentials.env")
    elif brokers > 1:
        err.print(f"[yellow]KAFKA_BOOTSTRAP={current} is not this stack's: left as it is[/]")


def choose_topology() -> topo.Topology:
    """The environment over the running stack's topology, or over the defaults when nothing runs
    (a stopped three-broker stack does not make the next `make test` run three brokers)."""
    running = bool(running_nodes()) or pg_running()
    try:
        return topo.resolve(os.environ, topo.read_file() if running else None)
    except topo.TopologyError as e:
        fail(str(e))
        raise


# ---------------------------------------------------------------- commands
def listen_table(creds: dict[str, str], procs: list[Proc]) -> Table:
    t = Table(title="learnstreet local stack")
    t.add_column("component")
    t.add_column("listens on")
    t.add_column("log")
    for n in topo.nodes(topo.current().brokers, kafka_port(creds)):
        t.add_row(
            n.pid_name,
            f"{n.bootstrap} (SASL_PLAINTEXT, SCRAM-SHA-512)",
            str((n.logs_dir / "server.log").relative_to(ROOT)),
        )
    t.add_row("postgresql", f"127.0.0.1:{pg_port(creds)}", str(PG_LOG.relative_to(ROOT)))
    if keycloak_wanted(creds):
        t.add_row("keycloak", keycloak.issuer(keycloak.effective(creds)), str(keycloak.LOG.relative_to(ROOT)))
    for p in procs:
        t.add_row(p.name, p.listens(creds), str((LOGS / f"{p.name}.log").relative_to(ROOT)))
    return t


def provision_kafka(creds: dict[str, str], extra_streets: list[str] | None = None) -> None:
    """The stack's street; with extra streets, their own principals, topics, ACLs, kiosks and
    databases too, and Read for the district (the stack's scoring principal) on their index."""
    import provision  # deploy/local/provision.py

    extra_streets = chosen_streets() if extra_streets is None else extra_streets
    own = dict(creds)
    if extra_streets:
        home = streets.home_street(creds.get("LS_REFERENCE_DIR"))
        own["SCORING_DISTRICT_STREETS"] = streets.district_streets(home, extra_streets)
    provision.run(own, brokers=topo.current().brokers)
    if extra_streets:
        provision_streets(creds, extra_streets)


def provision_streets(creds: dict[str, str], names: list[str]) -> None:
    t0 = time.monotonic()
    home = streets.home_street(creds.get("LS_REFERENCE_DIR"))
    pg_databases(streets.databases(home, names, creds), creds)
    for index, street in enumerate(names, start=1):
        env = streets.settings(street, index, creds, streets.secrets(street))
        credentials.ensure_sign_in_key(Path(env["ENROLMENT_SIGN_IN_KEY_FILE"]))
        try:
            streets.provision_kafka(street, index, creds)
        except streets.StreetsError as e:
            fail(str(e))
    streets.remember(sorted({*streets.remembered(), *names}))
    console.print(
        f"[cyan]streets[/]: {', '.join(names)} provisioned (principals, topics, ACLs, kiosks, databases) "
        f"in {time.monotonic() - t0:.1f}s"
    )


@app.command()
def up(
    infra_only: bool = typer.Option(False, "--infra-only", help="Kafka, PostgreSQL and provisioning only"),
    record_to: Path | None = typer.Option(None, "--record", help="append what this run started to FILE"),
) -> None:
    """Start Kafka, PostgreSQL, provision topics/ACLs/databases, then the services
    (LS_KAFKA_BROKERS, LS_REPLICAS, LS_REPLICAS_<SERVICE> choose how many)."""
    t0 = time.monotonic()
    credentials.load()  # fails early without `make setup`
    RUN.mkdir(parents=True, exist_ok=True)
    chosen = choose_topology()
    switch_world(chosen.brokers)
    topo.write_file(chosen)
    sync_bootstrap(chosen.brokers)
    creds = credentials.load()
    kc_t0 = time.monotonic()
    kc_pid = keycloak_spawn(creds, record_to)
    kafka_up(creds, record_to)
    pg_up(creds, record_to)
    provision_kafka(creds)
    keycloak_wait(creds, kc_pid, kc_t0)
    if not infra_only:
        procs_up(creds, record_to)
    console.print(listen_table(creds, [] if infra_only else processes(creds)))
    console.print(f"topology: {json.dumps(chosen.as_json())}")
    console.print(f"up in {time.monotonic() - t0:.1f}s")


@app.command()
def down(
    recorded: Path | None = typer.Option(None, "--recorded", help="stop only what FILE lists (then delete it)"),
) -> None:
    """Stop what `up` started (every service instance, every broker, PostgreSQL). Safe to run twice."""
    if recorded is not None:
        names = recorded.read_text().split() if recorded.exists() else []
        procs_down([n for n in names if n not in ("kafka", "pg", "keycloak")])
        if "keycloak" in names:
            keycloak_stop()
        if "kafka" in names:
            kafka_down()
        if "pg" in names:
            pg_down()
        recorded.unlink(missing_ok=True)
        return
    procs_down()
    streets.STARTED.unlink(missing_ok=True)
    keycloak_stop()
    kafka_down()
    pg_down()


@app.command("kafka-up")
def kafka_up_cmd() -> None:
    """Start Kafka only (formats on first use)."""
    kafka_up(credentials.load())


@app.command("pg-up")
def pg_up_cmd() -> None:
    """Start PostgreSQL only (initdb on first use) and create the service databases."""
    pg_up(credentials.load())


@app.command("services-up")
def services_up_cmd(names: list[str] = typer.Argument(None)) -> None:
    """Start the services (and auxiliary processes); Kafka and PostgreSQL must be up."""
    procs_up(credentials.load(), names=names or None)


@app.command("services-down")
def services_down_cmd(names: list[str] = typer.Argument(None)) -> None:
    """Stop the services (and auxiliary processes)."""
    procs_down(names or None)


@app.command("provision")
def provision_cmd() -> None:
    """Create/align topics and ACLs from shared/events/topics.py (Kafka must be up)."""
    provision_kafka(credentials.load())


@app.command()
def status() -> None:
    """Health of every component; exits 1 when something is down."""
    creds = credentials.load()
    shape = topo.current()
    t = Table(title="learnstreet local stack")
    for col in ("component", "address", "pid", "health"):
        t.add_column(col)
    ok_all = True

    def row(name: str, addr: str, pid: int | None, ok: bool, detail: str = "") -> None:
        nonlocal ok_all
        ok_all &= ok
        health = "[green]ok[/]" if ok else f"[red]{detail or 'down'}[/]"
        t.add_row(name, addr, str(pid) if pid else "-", health)

    for n in topo.nodes(shape.brokers, kafka_port(creds)):
        pid = node_pid(n)
        label = n.pid_name if shape.brokers == 1 else f"{n.pid_name} (node {n.node_id})"
        row(label, n.bootstrap, pid, pid is not None and node_ready(n, creds), "no authenticated metadata")
    pg_pid = None
    try:
        pg_pid = int((PG_DATA / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    row("postgresql", f"127.0.0.1:{pg_port(creds)}", pg_pid, pg_isready(creds), "pg_isready failed")
    kc_pid = keycloak.keycloak_pid()
    if keycloak_wanted(creds) or kc_pid is not None:
        kc = keycloak.effective(creds)
        row("keycloak", keycloak.issuer(kc), kc_pid, kc_pid is not None and keycloak.keycloak_ready(kc), "no discovery")
    shown = processes(creds)
    for p in [*shown, *(p for p in started_street_procs(creds) if p.name not in {q.name for q in shown})]:
        pid = read_pid(p.name, p.marker)
        row(
            p.name,
            p.listens(creds),
            pid,
            pid is not None and proc_ready(p, creds),
            "not running" if pid is None else "not ready",
        )
    for s in SERVICES:
        for inst in running_instances(s):
            pid = read_pid(inst.name, f"services.{s}")
            if inst.index > shape.replicas[s] and pid is not None:
                row(inst.name, f"http://127.0.0.1:{inst.port}/readyz", pid, False, "beyond the topology")
    console.print(t)
    console.print(f"topology: {json.dumps(shape.as_json())}")
    raise typer.Exit(0 if ok_all else 1)


if __name__ == "__main__":
    app()
