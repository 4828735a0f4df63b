"""The shape of the local stack: how many Kafka brokers, how many instances of each service,
and the names, ports and files that follow from it. Pure functions (no I/O besides reading
.local/run/topology.json), shared by stack.py and provision.py and tested on their own.

    LS_KAFKA_BROKERS=3           brokers (node ids 1..N, combined broker+controller, all voters)
    LS_REPLICAS=2                instances of every service
    LS_REPLICAS_ACTIVITIES=3     instances of one service (wins over LS_REPLICAS)

The topology `make up` chose is written to .local/run/topology.json; later commands read it
unless the environment overrides it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import credentials

SERVICES = credentials.SERVICES
LOCAL = credentials.LOCAL
RUN = LOCAL / "run"
LOGS = LOCAL / "logs"
KAFKA = LOCAL / "kafka"
TOPOLOGY_FILE = RUN / "topology.json"

INSTANCE_PORT_STEP = 10  # activities 8101, 8111, 8121: one decade per instance keeps 8105 (SMS) free
BROKER_PORT_STEP = 2  # node i: client 19092 + 2(i-1), controller one above it
TLS_PORT_OFFSET = 100  # node i's SASL_SSL listener: its client port + 100 (19192, 19194, ...)
MAX_BROKERS = 5  # five voters is KRaft's practical maximum for a local quorum
MAX_REPLICAS = 9  # the ports of instance 10 would run into the next service's decade


class TopologyError(ValueError):
    """A requested topology the stack cannot run (a one-line message for the operator)."""


@dataclass(frozen=True)
class Topology:
    brokers: int
    replicas: dict[str, int]

    def as_json(self) -> dict:
        return {"brokers": self.brokers, "replicas": dict(self.replicas)}


@dataclass(frozen=True)
class Instance:
    """Instance `index` (1-based) of `service`; instance 1 keeps the single-instance names."""

    service: str
    index: int
    name: str
    port: int
    pid_file: Path
    log: Path


def _count(env: Mapping[str, str], key: str, low: int, high: int) -> int | None:
    raw = env.get(key, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise TopologyError(f"{key}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise TopologyError(f"{key}={value} is outside {low}..{high}")
    return value


def read_file(path: Path = TOPOLOGY_FILE) -> Topology | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    replicas = data.get("replicas") or {}
    return Topology(int(data.get("brokers", 1)), {s: int(replicas.get(s, 1)) for s in SERVICES})


def write_file(t: Topology, path: Path = TOPOLOGY_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(t.as_json()) + "\n")
    os.replace(tmp, path)


def resolve(env: Mapping[str, str], base: Topology | None) -> Topology:
    """The environment's choices over `base` (the file, or None for the defaults: 1 and 1)."""
    base = base or Topology(1, {s: 1 for s in SERVICES})
    brokers = _count(env, "LS_KAFKA_BROKERS", 1, MAX_BROKERS) or base.brokers
    every = _count(env, "LS_REPLICAS", 1, MAX_REPLICAS)
    replicas = {}
    for s in SERVICES:
        own = _count(env, f"LS_REPLICAS_{s.upper()}", 1, MAX_REPLICAS)
        replicas[s] = own or every or base.replicas.get(s, 1)
    return Topology(brokers, replicas)


def current(env: Mapping[str, str] | None = None, path: Path = TOPOLOGY_FILE) -> Topology:
    """What status, services-up/down, provision and the chaos harness act on."""
    return resolve(os.environ if env is None else env, read_file(path))


# ---------------------------------------------------------------- service instances
def instance_name(service: str, index: int) -> str:
    return service if index == 1 else f"{service}-{index}"


def instance(service: str, index: int, base_port: int, run: Path = RUN, logs: Path = LOGS) -> Instance:
    name = instance_name(service, index)
    return Instance(
        service=service,
        index=index,
        name=name,
        port=base_port + INSTANCE_PORT_STEP * (index - 1),
        pid_file=run / f"{name}.pid",
        log=logs / f"{name}.log",
    )


def instances_of(service: str, count: int, base_port: int, run: Path = RUN, logs: Path = LOGS) -> list[Instance]:
    return [instance(service, i, base_port, run, logs) for i in range(1, count + 1)]


def instance_env(inst: Instance) -> dict[str, str]:
    """What differs between two instances of one service (everything else is shared)."""
    return {f"{inst.service.upper()}_HTTP_PORT": str(inst.port), "LS_INSTANCE": inst.name}


# ---------------------------------------------------------------- Kafka nodes
@dataclass(frozen=True)
class Node:
    node_id: int
    client_port: int
    controller_port: int
    data_dir: Path
    props: Path
    logs_dir: Path
    pid_name: str  # .local/run/<pid_name>.pid

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def tls_port(self) -> int:
        return self.client_port + TLS_PORT_OFFSET


def node(node_id: int, base_port: int, kafka: Path = KAFKA) -> Node:
    first = node_id == 1
    client = base_port + BROKER_PORT_STEP * (node_id - 1)
    return Node(
        node_id=node_id,
        client_port=client,
        controller_port=client + 1,
        data_dir=kafka / ("data" if first else f"data-{node_id}"),
        props=kafka / ("server.properties" if first else f"server-{node_id}.properties"),
        logs_dir=kafka / ("logs" if first else f"logs-{node_id}"),
        pid_name="kafka" if first else f"kafka-{node_id}",
    )


def nodes(brokers: int, base_port: int, kafka: Path = KAFKA) -> list[Node]:
    return [node(i, base_port, kafka) for i in range(1, brokers + 1)]


def bootstrap(brokers: int, base_port: int) -> str:
    return ",".join(n.bootstrap for n in nodes(brokers, base_port))


def tls_bootstrap(brokers: int, base_port: int) -> str:
    """The SASL_SSL listeners of every node (KAFKA_BOOTSTRAP for a client over TLS)."""
    return ",".join(f"127.0.0.1:{n.tls_port}" for n in nodes(brokers, base_port))


def voters(all_nodes: list[Node]) -> str:
    return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in all_nodes)


def is_local_bootstrap(value: str, base_port: int) -> bool:
    """True for a bootstrap list this stack wrote (its own brokers in order), not a user's cluster."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    return bool(entries) and entries == [n.bootstrap for n in nodes(len(entries), base_port)]


def first_port(bootstrap_servers: str) -> int:
    return int(bootstrap_servers.split(",")[0].strip().rsplit(":", 1)[1])


# ---------------------------------------------------------------- replication
@dataclass(frozen=True)
class Replication:
    factor: int
    min_insync: int


def replication(env: Mapping[str, str], brokers: int) -> Replication:
    """KAFKA_REPLICATION_FACTOR / KAFKA_MIN_INSYNC_REPLICAS, defaulting to min(3, brokers) and
    (2 if brokers >= 3 else 1). Refuses what the cluster cannot honour instead of lowering it."""
    if brokers < 1:
        raise TopologyError(f"a cluster of {brokers} brokers cannot hold a topic")
    factor = _count(env, "KAFKA_REPLICATION_FACTOR", 1, 32767) or min(3, brokers)
    min_insync = _count(env, "KAFKA_MIN_INSYNC_REPLICAS", 1, 32767) or (2 if brokers >= 3 else 1)
    if factor > brokers:
        raise TopologyError(
            f"replication factor {factor} is above the {brokers} broker(s) of the cluster: "
            "lower KAFKA_REPLICATION_FACTOR or add brokers"
        )
    if min_insync > factor:
        raise TopologyError(
            f"min.insync.replicas {min_insync} is above the replication factor {factor}: "
            "no acks=all write could ever succeed"
        )
    return Replication(factor, min_insync)
