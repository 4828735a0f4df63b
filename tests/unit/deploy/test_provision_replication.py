"""Provisioning takes replication factor and min.insync.replicas from configuration and refuses
what the cluster cannot honour instead of creating topics with a factor of 1 (deploy/local/provision.py)."""

from __future__ import annotations

from types import SimpleNamespace

import provision
import pytest
import typer

from shared.events import topics as catalogue

CREDS = {"KAFKA_BOOTSTRAP": "127.0.0.1:19092", "KAFKA_ADMIN_USERNAME": "admin", "KAFKA_ADMIN_PASSWORD": "x"}
SPECS = catalogue.all_topic_specs()


class FakeAdmin:
    """The admin calls provisioning makes, against a cluster of `brokers` with `topics`."""

    def __init__(self, brokers: int, topics: dict[str, int] | None = None) -> None:
        self.brokers = brokers
        self.topics = topics or {}  # name -> replicas per partition
        self.created: list = []
        self.altered: list = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_cluster(self) -> dict:
        return {"brokers": [{"node_id": i} for i in range(1, self.brokers + 1)], "controller_id": 1}

    async def describe_topics(self, names=None) -> list[dict]:
        return [
            {"topic": n, "error_code": 0, "partitions": [{"partition": 0, "replicas": list(range(1, rf + 1))}]}
            for n, rf in self.topics.items()
        ]

    async def create_topics(self, new_topics):
        self.created += new_topics

        return SimpleNamespace(topic_errors=[(t.name, 0, "") for t in new_topics])

    async def create_partitions(self, grow) -> None: ...

    async def describe_configs(self, resources):
        return []

    async def alter_configs(self, resources) -> None:
        self.altered += resources


@pytest.fixture
def no_replication_env(monkeypatch):
    for key in ("KAFKA_REPLICATION_FACTOR", "KAFKA_MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(key, raising=False)


def install(monkeypatch, admin: FakeAdmin) -> FakeAdmin:
    monkeypatch.setattr(provision, "admin_client", lambda creds: admin)
    return admin


async def test_three_brokers_create_every_topic_with_factor_three_and_min_isr_two(monkeypatch, no_replication_env):
    admin = install(monkeypatch, FakeAdmin(brokers=3))
    _changes, repl = await provision.provision_topics(CREDS, brokers=3)
    assert (repl.factor, repl.min_insync) == (3, 2)
    assert {t.name for t in admin.created} == {s.name for s in SPECS}
    for t in admin.created:
        assert t.replication_factor == 3, t.name
        assert t.topic_configs["min.insync.replicas"] == "2", t.name


async def test_one_broker_creates_factor_one_and_says_so(monkeypatch, no_replication_env):
    admin = install(monkeypatch, FakeAdmin(brokers=1))
    _changes, repl = await provision.provision_topics(CREDS, brokers=1)
    assert (repl.factor, repl.min_insync) == (1, 1)
    assert {t.replication_factor for t in admin.created} == {1}


async def test_configured_factor_comes_from_the_environment(monkeypatch, no_replication_env):
    admin = install(monkeypatch, FakeAdmin(brokers=3))
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "2")
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "2")
    await provision.provision_topics(CREDS, brokers=3)
    assert {(t.replication_factor, t.topic_configs["min.insync.replicas"]) for t in admin.created} == {(2, "2")}


async def test_without_a_configured_count_the_cluster_metadata_decides(monkeypatch, no_replication_env):
    admin = install(monkeypatch, FakeAdmin(brokers=5))
    _changes, repl = await provision.provision_topics(CREDS, brokers=None)
    assert (repl.factor, repl.min_insync) == (3, 2)
    assert {t.replication_factor for t in admin.created} == {3}


async def test_a_factor_above_the_broker_count_is_refused_before_anything_is_created(
    monkeypatch, no_replication_env, capsys
):
    admin = install(monkeypatch, FakeAdmin(brokers=1))
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    with pytest.raises(typer.Exit):
        await provision.provision_topics(CREDS, brokers=1)
    assert admin.created == []
    assert "replication factor 3 is above the 1 broker(s)" in capsys.readouterr().err.replace("\n", " ")


async def test_fewer_live_brokers_than_the_factor_is_refused(monkeypatch, no_replication_env, capsys):
    admin = install(monkeypatch, FakeAdmin(brokers=2))
    with pytest.raises(typer.Exit):
        await provision.provision_topics(CREDS, brokers=3)
    assert admin.created == []
    assert "only 2 broker(s) answer" in capsys.readouterr().err


async def test_existing_topics_with_fewer_replicas_are_refused_not_left_at_one(monkeypatch, no_replication_env, capsys):
    admin = install(monkeypatch, FakeAdmin(brokers=3, topics={SPECS[0].name: 1}))
    with pytest.raises(typer.Exit):
        await provision.provision_topics(CREDS, brokers=3)
    assert admin.created == []
    assert f"{SPECS[0].name}: 1" in capsys.readouterr().err
