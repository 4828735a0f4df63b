"""Topics and ACLs from the event catalogue (shared/events/topics.py), idempotently.

Topics (aiokafka admin, as the admin principal): missing ones are created with the catalogue's
partitions and configs; existing ones keep their data, get more partitions if the catalogue grew,
and get their configs aligned with the catalogue.

Retention per topic: the catalogue's default, or `LS_RETENTION_<TOPIC>` (environment or
credentials.env; `LS_RETENTION_KIOSK_CHECKINS=3d`, `12h`, `30m`, `forever`), applied to new and
existing topics, shorter or longer. Refused with one line before Kafka is touched: a value that
is no retention, a variable naming no topic, a compacted topic, and a finite retention on a topic
a rebuild replays from the beginning (`replayed_by` in shared/events/topics.py).

Replication comes from configuration, never silently 1: KAFKA_REPLICATION_FACTOR and
KAFKA_MIN_INSYNC_REPLICAS (environment or credentials.env), by default min(3, brokers) and
2 with three brokers or more (else 1), where `brokers` is the local stack's broker count or, for
another cluster, the brokers its metadata lists. A factor above the broker count is refused, and
so is an existing topic with fewer replicas than the factor (it needs a partition reassignment,
which provisioning does not do behind the operator's back). Every topic gets min.insync.replicas.

ACLs (confluent-kafka's admin client, deploy/local/kafka_admin.py), least privilege per principal:
  Write+Describe on the topics it produces, Read+Describe on the topics it consumes,
  Read on the consumer groups prefixed `learnstreet.<service>` (services only);
  with SCORING_DISTRICT_STREETS set (environment or credentials.env), Read+Describe for scoring on
  each street index topic it names (a district instance, docs/decisions/0022-district-view.md).
The ACLs already present are listed once; only missing ones are added.

    .venv/bin/python deploy/local/provision.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code
from rich.markup import escape
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
import credentials  # noqa: E402
import kafka_admin  # noqa: E402
import kiosk_principals  # noqa: E402
import topology as topo  # noqa: E402
from kafka_tools import console, err, fail  # noqa: E402

from services.scoring.domain.district import DistrictSettingError, parse_streets  # noqa: E402
from shared.events import topics as catalogue  # noqa: E402

Acl = kafka_admin.Acl


def wanted_acls(environ: Mapping[str, str] | None = None) -> dict[str, set[Acl]]:
    """The catalogue's ACLs; with `environ` (provisioning's environment and credentials), also Read
    and Describe for the scoring principal on each street index a district instance reads
    (`SCORING_DISTRICT_STREETS`, docs/decisions/0022-district-view.md)."""
    out: dict[str, set[Acl]] = {}
    for p in catalogue.PRINCIPALS:
        acls: set[Acl] = set()
        for t in catalogue.topics_written_by(p):
            acls |= {("TOPIC", t, "LITERAL", "WRITE"), ("TOPIC", t, "LITERAL", "DESCRIBE")}
        for t in catalogue.topics_read_by(p):
            acls |= {("TOPIC", t, "LITERAL", "READ"), ("TOPIC", t, "LITERAL", "DESCRIBE")}
        for t in catalogue.topics_cut_by(p):
            acls.add(("TOPIC", t, "LITERAL", "DELETE"))
        if p in catalogue.SERVICES:
            acls.add(("GROUP", catalogue.group_id(p), "PREFIXED", "READ"))
        out[p] = acls
    for topic in parse_streets((environ or {}).get("SCORING_DISTRICT_STREETS")).values():
        out[catalogue.SCORING] |= {("TOPIC", topic, "LITERAL", "READ"), ("TOPIC", topic, "LITERAL", "DESCRIBE")}
    return out


# ---------------------------------------------------------------- topics
def admin_client(creds: dict[str, str]) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection(creds).aiokafka_kwargs(), request_timeout_ms=30000)


def connection(creds: dict[str, str]) -> kafka_admin.AdminConnection:
    try:
        return kafka_admin.AdminConnection.from_settings(creds)
    except kafka_admin.AdminSettingsError as e:
        fail(f"provisioning refused: {e}")
        raise


def _raise_errors(what: str, rows) -> None:
    for row in rows:
        name, code = row[0], row[1]
        if code:
            message = row[2] if len(row) > 2 else ""
            if for_code(code) is TopicAlreadyExistsError:
                continue
            raise for_code(code)(f"{what} {name}: {message}")


def wanted_config(spec: catalogue.TopicSpec, repl: topo.Replication) -> dict[str, str]:
    return {**spec.config, "min.insync.replicas": str(repl.min_insync)}


def under_replicated(existing: dict[str, dict], factor: int) -> list[tuple[str, int]]:
    """(topic, replicas) of existing topics with a partition on fewer replicas than `factor`."""
    short = []
    for name, t in sorted(existing.items()):
        fewest = min((len(p["replicas"]) for p in t["partitions"]), default=factor)
        if fewest < factor:
            short.append((name, fewest))
    return short


def replication_for(creds: dict[str, str], brokers: int) -> topo.Replication:
    """The configured replication for a cluster of `brokers`; a one-line error otherwise."""
    try:
        return topo.replication({**creds, **os.environ}, brokers)
    except topo.TopologyError as e:
        fail(f"provisioning refused: {e}")
        raise


def topic_specs(creds: dict[str, str]) -> tuple[catalogue.TopicSpec, ...]:
    """The catalogue's topics with the retention configured in the environment or credentials.env;
    a setting it refuses ends provisioning with one line (exit 1) saying what to set instead."""
    try:
        return catalogue.resolve_topic_specs({**creds, **os.environ})
    except catalogue.RetentionError as e:
        # one line whatever the terminal's width, and no markup read into the operator's value
        err.print(f"[bold red]error:[/] provisioning refused: {escape(str(e))}", soft_wrap=True, highlight=False)
        raise SystemExit(1) from None


def _retention_change(before: dict[str, str], spec: catalogue.TopicSpec) -> str:
    if spec.compacted or before.get("retention.ms") == spec.config.get("retention.ms"):
        return ""
    old = catalogue.format_retention(int(before.get("retention.ms", "-1")))
    return f" (retention {old} → {catalogue.format_retention(spec.retention_ms)})"


async def provision_topics(
    creds: dict[str, str], brokers: int | None = None, specs: tuple[catalogue.TopicSpec, ...] | None = None
) -> tuple[list, topo.Replication]:
    """Returns (topic, action) for what was changed, and the replication applied. `brokers`: the
    cluster's size as the local stack configured it; None takes the brokers the metadata lists.
    `specs`: the topics as configured (default: `topic_specs(creds)`)."""
    specs = topic_specs(creds) if specs is None else specs
    changes: list[tuple[str, str]] = []
    admin = admin_client(creds)
    await admin.start()
    try:
        live = len((await admin.describe_cluster())["brokers"])
        repl = replication_for(creds, live if brokers is None else brokers)
        if repl.factor > live:
            fail(
                f"provisioning refused: replication factor {repl.factor} but only {live} broker(s) "
                "answer: start the others first"
            )
        existing = {t["topic"]: t for t in await admin.describe_topics() if not t["error_code"]}
        short = under_replicated({s.name: existing[s.name] for s in specs if s.name in existing}, repl.factor)
        if short:
            fail(
                f"provisioning refused: {len(short)} topic(s) have fewer replicas than the configured factor "
                f"{repl.factor} ({', '.join(f'{n}: {r}' for n, r in short[:4])}{', …' if len(short) > 4 else ''}): "
                "reassign their partitions (kafka-reassign-partitions) or set KAFKA_REPLICATION_FACTOR"
            )
        new = [s for s in specs if s.name not in existing]
        if new:
            resp = await admin.create_topics(
                [NewTopic(s.name, s.partitions, repl.factor, topic_configs=wanted_config(s, repl)) for s in new]
            )
            _raise_errors("creating topic", resp.topic_errors)
            changes += [(s.name, f"created ({s.partitions} partitions{_retention(s)})") for s in new]

        grow = {
            s.name: NewPartitions(s.partitions)
            for s in specs
            if s.name in existing and len(existing[s.name]["partitions"]) < s.partitions
        }
        if grow:
            await admin.create_partitions(grow)
            changes += [(n, f"partitions → {p.total_count}") for n, p in grow.items()]
        for s in specs:
            if s.name in existing and len(existing[s.name]["partitions"]) > s.partitions:
                console.print(
                    f"[yellow]warning[/]: {s.name} has {len(existing[s.name]['partitions'])} partitions, "
                    f"more than the catalogue's {s.partitions} (partitions cannot shrink)"
                )

        old = [s for s in specs if s.name in existing]
        if old:
            responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, s.name) for s in old])
            current: dict[str, dict[str, str]] = {}
            for resp in responses:
                for res in resp.resources:
                    err_code, _msg, _rtype, name, entries = res[:5]
                    if err_code:
                        raise for_code(err_code)(f"describing configs of {name}")
                    current[name] = {e[0]: e[1] for e in entries}
            drift = [
                s for s in old if any(current.get(s.name, {}).get(k) != v for k, v in wanted_config(s, repl).items())
            ]
            if drift:
                # AlterConfigs sets the topic's whole dynamic config: exactly the catalogue's
                await admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, s.name, wanted_config(s, repl)) for s in drift]
                )
                changes += [(s.name, f"configs aligned{_retention_change(current[s.name], s)}") for s in drift]
    finally:
        await admin.close()
    return changes, repl


def _retention(spec: catalogue.TopicSpec) -> str:
    return "" if spec.compacted else f", retention {catalogue.format_retention(spec.retention_ms)}"


def configured_retention(specs: tuple[catalogue.TopicSpec, ...]) -> list[str]:
    """`topic retention (VARIABLE)` for each topic whose retention differs from the catalogue's default."""
    defaults = {s.name: s for s in catalogue.all_topic_specs()}
    shown = []
    for s in specs:
        if s.compacted or s.retention_ms == defaults[s.name].retention_ms:
            continue
        variable = catalogue.retention_variable(s.name)
        source = s.name.removesuffix(".dlq")
        if s.name != source and not os.environ.get(variable):  # follows its topic's retention
            variable = f"as {source}"
        shown.append(f"{s.name} {catalogue.format_retention(s.retention_ms)} ({variable})")
    return shown


# ---------------------------------------------------------------- ACLs
# Through the admin protocol (DescribeAcls, CreateAcls): no JVM per call, no tool output to parse.


def provision_acls(creds: dict[str, str]) -> list[tuple[str, int]]:
    try:
        wanted = wanted_acls({**creds, **os.environ})
    except DistrictSettingError as e:
        fail(f"provisioning refused: {e}")
        raise
    admin = connection(creds).confluent_admin()
    have = kafka_admin.existing_acls(admin)
    todo = {}
    for p, acls in wanted.items():
        username = creds[f"{p.upper()}_KAFKA_USERNAME"]
        missing = acls - have.get(username, set())
        if missing:
            todo[username] = missing
    kafka_admin.create_acls(admin, todo)
    extra = {
        u: have.get(u, set()) - wanted[p]
        for p in wanted
        if (u := creds[f"{p.upper()}_KAFKA_USERNAME"]) in have and have[u] - wanted[p]
    }
    for u, acls in extra.items():
        console.print(f"[yellow]warning[/]: {u} has ACLs beyond the catalogue (not removed): {sorted(acls)}")
    return [(u, len(a)) for u, a in todo.items()]


def summary(creds: dict[str, str]) -> Table:
    t = Table(title="Kafka principals (from shared/events/topics.py)")
    t.add_column("principal")
    t.add_column("writes (Write, Describe)")
    t.add_column("reads (Read, Describe)")
    t.add_column("consumer groups (Read)")
    for p in catalogue.PRINCIPALS:
        t.add_row(
            creds[f"{p.upper()}_KAFKA_USERNAME"],
            "\n".join(catalogue.topics_written_by(p)) or "-",
            "\n".join(catalogue.topics_read_by(p)) or "-",
            f"{catalogue.group_id(p)}* (prefixed)" if p in catalogue.SERVICES else "-",
        )
    return t


def run(creds: dict[str, str], brokers: int | None = None) -> None:
    t0 = time.monotonic()
    specs = topic_specs(creds)  # refuses a bad retention setting before anything changes
    changes, repl = asyncio.run(provision_topics(creds, brokers, specs))
    n_topics = len(specs)
    for name, action in changes:
        console.print(f"[cyan]topics[/]: {name}: {action}")
    configured = configured_retention(specs)
    console.print(
        "[cyan]retention[/]: "
        + ("; ".join(configured) if configured else "every topic at the catalogue's default")
        + " (LS_RETENTION_<TOPIC>; defaults in shared/events/topics.py)",
        soft_wrap=True,
    )
    added = provision_acls(creds)
    for user, n in added:
        console.print(f"[cyan]acls[/]: {user}: {n} added")
    kiosk_principals.provision(creds)  # one principal per local kiosk (issue 16)
    console.print(summary(creds))
    console.print(
        f"provisioned {n_topics} topics (replication factor {repl.factor}, min.insync.replicas {repl.min_insync}; "
        f"{len(changes)} changes) and ACLs "
        f"({sum(n for _, n in added)} added) in {time.monotonic() - t0:.1f}s"
    )


def configured_brokers() -> int | None:
    """The local stack's broker count (LS_KAFKA_BROKERS or .local/run/topology.json); None for a
    cluster this checkout did not start (the metadata then tells)."""
    if os.environ.get("LS_KAFKA_BROKERS") or topo.TOPOLOGY_FILE.exists():
        try:
            return topo.current().brokers
        except topo.TopologyError as e:
            fail(str(e))
    return None


if __name__ == "__main__":
    run(credentials.load(), configured_brokers())
