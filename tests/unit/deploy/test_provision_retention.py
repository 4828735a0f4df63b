"""Provisioning applies the retention configured per topic (LS_RETENTION_<TOPIC>) to new and
existing topics, in both directions, says so, and refuses a setting the catalogue refuses before
Kafka is touched (deploy/local/provision.py; the running-Kafka test is
tests/integration/test_topic_retention.py)."""

from __future__ import annotations

from types import SimpleNamespace

import provision
import pytest

from shared.events import topics as catalogue

CREDS = {"KAFKA_BOOTSTRAP": "127.0.0.1:19092", "KAFKA_ADMIN_USERNAME": "admin", "KAFKA_ADMIN_PASSWORD": "x"}
CHECKINS = "kiosk.checkins"


class Cluster:
    """One broker holding `configs` (topic -> its current configs) for every topic it has."""

    def __init__(self, configs: dict[str, dict[str, str]]) -> None:
        self.configs = configs
        self.created: list = []
        self.altered: list = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_cluster(self) -> dict:
        return {"brokers": [{"node_id": 1}], "controller_id": 1}

    async def describe_topics(self, names=None) -> list[dict]:
        return [
            {"topic": n, "error_code": 0, "partitions": [{"partition": p, "replicas": [1]} for p in range(6)]}
            for n in self.configs
        ]

    async def create_topics(self, new_topics):
        self.created += new_topics
        return SimpleNamespace(topic_errors=[(t.name, 0, "") for t in new_topics])

    async def create_partitions(self, grow) -> None: ...

    async def describe_configs(self, resources):
        rows = [(0, "", 2, r.name, [(k, v) for k, v in self.configs[r.name].items()]) for r in resources]
        return [SimpleNamespace(resources=rows)]

    async def alter_configs(self, resources) -> None:
        self.altered += resources
        for r in resources:
            self.configs[r.name] = dict(r.configs)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in ("KAFKA_REPLICATION_FACTOR", "KAFKA_MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(key, raising=False)
    for spec in catalogue.all_topic_specs():
        monkeypatch.delenv(catalogue.retention_variable(spec.name), raising=False)


def provisioned_cluster(monkeypatch) -> Cluster:
    """Every topic as the defaults provisioned it."""
    cluster = Cluster({s.name: {**s.config, "min.insync.replicas": "1"} for s in catalogue.all_topic_specs()})
    monkeypatch.setattr(provision, "admin_client", lambda creds: cluster)
    return cluster


async def test_a_configured_retention_is_applied_to_an_existing_topic_and_shown(monkeypatch):
    cluster = provisioned_cluster(monkeypatch)
    monkeypatch.setenv("LS_RETENTION_KIOSK_CHECKINS", "3d")
    changes, _ = await provision.provision_topics(CREDS, brokers=1)
    assert changes == [
        (CHECKINS, "configs aligned (retention 7d → 3d)"),
        (f"{CHECKINS}.dlq", "configs aligned (retention 7d → 3d)"),  # dead letters follow the scans
    ]
    assert cluster.configs[CHECKINS]["retention.ms"] == "259200000"
    assert provision.configured_retention(provision.topic_specs(CREDS)) == [
        "kiosk.checkins 3d (LS_RETENTION_KIOSK_CHECKINS)",
        "kiosk.checkins.dlq 3d (as kiosk.checkins)",
    ]


async def test_back_to_the_default_lengthens_it_again(monkeypatch):
    cluster = provisioned_cluster(monkeypatch)
    monkeypatch.setenv("LS_RETENTION_KIOSK_CHECKINS", "3d")
    await provision.provision_topics(CREDS, brokers=1)
    monkeypatch.delenv("LS_RETENTION_KIOSK_CHECKINS")
    changes, _ = await provision.provision_topics(CREDS, brokers=1)
    assert changes == [
        (CHECKINS, "configs aligned (retention 3d → 7d)"),
        (f"{CHECKINS}.dlq", "configs aligned (retention 3d → 7d)"),
    ]
    assert cluster.configs[CHECKINS] == {**catalogue.KIOSK_CHECKINS.config, "min.insync.replicas": "1"}
    assert provision.configured_retention(provision.topic_specs(CREDS)) == []


async def test_a_new_topic_is_created_with_the_configured_retention(monkeypatch):
    cluster = Cluster({})
    monkeypatch.setattr(provision, "admin_client", lambda creds: cluster)
    monkeypatch.setenv("LS_RETENTION_KIOSK_CHECKINS", "12h")
    changes, _ = await provision.provision_topics(CREDS, brokers=1)
    created = {t.name: t.topic_configs for t in cluster.created}
    assert created[CHECKINS]["retention.ms"] == str(12 * 3600 * 1000)
    assert (CHECKINS, "created (6 partitions, retention 12h)") in changes


async def test_a_refused_setting_changes_nothing_and_exits_non_zero_with_one_line(monkeypatch, capsys):
    cluster = provisioned_cluster(monkeypatch)
    monkeypatch.setenv("LS_RETENTION_ACTIVITIES_ATTENDANCE", "2d")  # less than 3 daily checkpoints
    with pytest.raises(SystemExit) as exited:
        await provision.provision_topics(CREDS, brokers=1)
    assert exited.value.code == 1
    assert cluster.altered == [] and cluster.created == []
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "provisioning refused: LS_RETENTION_ACTIVITIES_ATTENDANCE=2d" in err
    assert "scoring rebuild" in err and "passport rebuild" in err


def test_credentials_env_is_read_as_well_as_the_environment(monkeypatch):
    specs = provision.topic_specs({**CREDS, "LS_RETENTION_KIOSK_CHECKINS": "2d"})
    assert {s.name: s for s in specs}[CHECKINS].retention_ms == 2 * catalogue.DAY_MS
    monkeypatch.setenv("LS_RETENTION_KIOSK_CHECKINS", "1d")  # the environment wins, as for every setting
    specs = provision.topic_specs({**CREDS, "LS_RETENTION_KIOSK_CHECKINS": "2d"})
    assert {s.name: s for s in specs}[CHECKINS].retention_ms == catalogue.DAY_MS
