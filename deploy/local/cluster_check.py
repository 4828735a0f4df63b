"""`make cluster-check`: the local stack as a three-broker KRaft cluster with two instances of every
service, checked, then back to what ran before.

    .venv/bin/python deploy/local/cluster_check.py [--brokers 3] [--replicas 2]

1. stops the running stack (remembering its topology), 2. `up` with LS_KAFKA_BROKERS/LS_REPLICAS
(the one-broker data is parked, not touched), 3. checks through the admin client that the cluster
has every broker, that every catalogue topic and the internal ones (__consumer_offsets,
__transaction_state) have the configured replication factor on every partition, a full ISR and
min.insync.replicas as configured, 4. prints `status` and the brokers' resident memory,
5. stops it and starts again what ran before. Exit status 1 when a check failed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
import credentials  # noqa: E402
import topology as topo  # noqa: E402
from kafka_tools import console  # noqa: E402

from shared.events import topics as catalogue  # noqa: E402

PY = str(credentials.ROOT / ".venv" / "bin" / "python")
STACK = [PY, str(HERE / "stack.py")]
INTERNAL = ("__consumer_offsets", "__transaction_state")
TOPOLOGY_ENV = ("LS_KAFKA_BROKERS", "LS_REPLICAS", *(f"LS_REPLICAS_{s.upper()}" for s in topo.SERVICES))


def stack(command: str, shape: topo.Topology | None = None, check: bool = True) -> tuple[int, float]:
    """Run `stack.py <command>` with exactly `shape` (None: the defaults) as its topology."""
    env = {k: v for k, v in os.environ.items() if k not in TOPOLOGY_ENV}
    if shape is not None:
        env["LS_KAFKA_BROKERS"] = str(shape.brokers)
        env.update({f"LS_REPLICAS_{s.upper()}": str(n) for s, n in shape.replicas.items()})
    console.rule(f"stack.py {command}" + (f" {shape.as_json()}" if shape else ""))
    t0 = time.monotonic()
    rc = subprocess.run([*STACK, command], cwd=credentials.ROOT, env=env).returncode
    took = time.monotonic() - t0
    console.print(f"[dim]stack.py {command}: exit {rc} in {took:.1f}s[/]")
    if check and rc != 0:
        raise SystemExit(f"cluster-check: `stack.py {command}` failed ({rc})")
    return rc, took


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def broker_rss() -> list[tuple[int, int, float]]:
    """(node id, pid, RSS MiB) of every running broker."""
    import stack as local_stack

    return [(n.node_id, pid, rss_mb(pid)) for n, pid in local_stack.running_nodes()]


async def _ensure_transaction_log(creds: dict[str, str]) -> None:
    # the services use no transactions, so __transaction_state exists only once someone asks for
    # a transaction coordinator: a transactional producer's start does
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=creds["KAFKA_BOOTSTRAP"],
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=creds["KAFKA_ADMIN_USERNAME"],
        sasl_plain_password=creds["KAFKA_ADMIN_PASSWORD"],
        transactional_id="learnstreet.cluster-check",
        request_timeout_ms=30000,
    )
    await producer.start()
    await producer.stop()


async def check(creds: dict[str, str], brokers: int) -> list[str]:
    """Problems found (empty: the cluster is as configured)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from rich.table import Table

    repl = topo.replication({**creds, **os.environ}, brokers)
    await _ensure_transaction_log(creds)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=creds["KAFKA_BOOTSTRAP"],
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=creds["KAFKA_ADMIN_USERNAME"],
        sasl_plain_password=creds["KAFKA_ADMIN_PASSWORD"],
        request_timeout_ms=30000,
    )
    await admin.start()
    problems: list[str] = []
    try:
        cluster = await admin.describe_cluster()
        ids = sorted(b["node_id"] for b in cluster["brokers"])
        if ids != list(range(1, brokers + 1)):
            problems.append(f"cluster lists brokers {ids}, expected 1..{brokers}")
        names = [s.name for s in catalogue.all_topic_specs()] + list(INTERNAL)
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
        min_isr = {
            res[3]: {e[0]: e[1] for e in res[4]}.get("min.insync.replicas") for r in responses for res in r.resources
        }
        table = Table(title=f"{len(names)} topics on {len(ids)} brokers (controller {cluster['controller_id']})")
        for col in ("topic", "partitions", "replicas", "smallest ISR", "min.insync.replicas", "ok"):
            table.add_column(col)
        for name in names:
            t = described.get(name)
            if t is None or t["error_code"]:
                problems.append(f"{name}: missing (error {t and t['error_code']})")
                table.add_row(name, "-", "-", "-", "-", "[red]missing[/]")
                continue
            parts = t["partitions"]
            rfs = sorted({len(p["replicas"]) for p in parts})
            smallest_isr = min(len(p["isr"]) for p in parts)
            ok = rfs == [repl.factor] and smallest_isr == repl.factor and min_isr.get(name) == str(repl.min_insync)
            if not ok:
                problems.append(
                    f"{name}: replicas {rfs}, smallest ISR {smallest_isr}, min.insync.replicas {min_isr.get(name)}"
                )
            table.add_row(
                name, str(len(parts)), ",".join(map(str, rfs)), str(smallest_isr), str(min_isr.get(name)),
                "[green]ok[/]" if ok else "[red]no[/]",
            )  # fmt: skip
        console.print(table)
        console.print(f"expected: replication factor {repl.factor}, min.insync.replicas {repl.min_insync}, full ISR")
    finally:
        await admin.close()
    return problems


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    import stack as local_stack

    t_all = time.monotonic()
    before = topo.read_file() or topo.Topology(1, {s: 1 for s in topo.SERVICES})
    was_up = bool(local_stack.running_nodes())
    console.print(f"cluster-check: the stack was {'up' if was_up else 'down'} with {before.as_json()}")
    cluster = topo.Topology(args.brokers, {s: args.replicas for s in topo.SERVICES})
    problems: list[str] = []
    try:
        stack("down")
        _, up_s = stack("up", cluster)
        rss = broker_rss()
        problems = asyncio.run(check(credentials.load(), args.brokers))
        status_rc, _ = stack("status", cluster, check=False)
        if status_rc != 0:
            problems.append("`stack.py status` reported a component down")
        for node_id, pid, mb in rss:
            console.print(f"broker node {node_id} (pid {pid}): RSS {mb:.0f} MiB")
        console.print(f"{len(rss)} broker(s): RSS {sum(mb for *_, mb in rss):.0f} MiB in all; `up` took {up_s:.1f}s")
    finally:
        stack("down", check=False)
        if was_up:
            stack("up", before)
    console.rule()
    for p in problems:
        console.print(f"[red]problem[/]: {p}")
    verdict = "FAILED" if problems else "passed"
    console.print(f"cluster-check {verdict} in {time.monotonic() - t_all:.0f}s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
