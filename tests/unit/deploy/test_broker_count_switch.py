"""Switching the broker count parks the Kafka and PostgreSQL data of the old count and brings back
the new count's own (deploy/local/stack.py switch_world), so the one-broker stack survives a
three-broker run untouched."""

from __future__ import annotations

import pytest
import stack
import typer


@pytest.fixture
def local(tmp_path, monkeypatch):
    """stack.py's paths moved under tmp_path, nothing running."""
    root = tmp_path
    kafka, pg = root / ".local" / "kafka", root / ".local" / "pg"
    paths = {
        "ROOT": root,
        "KAFKA": kafka,
        "KAFKA_DATA": kafka / "data",
        "KAFKA_CLUSTER_ID": kafka / "cluster.id",
        "KAFKA_SCRAM_APPLIED": kafka / "scram.applied.json",
        "KAFKA_WORLD": kafka / "brokers",
        "PG_DATA": pg / "data",
        "PARKED": root / ".local" / "parked",
    }
    for name, path in paths.items():
        monkeypatch.setattr(stack, name, path)
    monkeypatch.setattr(stack, "running_nodes", lambda creds=None: [])
    monkeypatch.setattr(stack, "pg_running", lambda: False)
    return paths


def one_broker_stack(p) -> None:
    """What a stack formatted before brokers were counted has on disk (no `brokers` file)."""
    (p["KAFKA_DATA"]).mkdir(parents=True)
    (p["KAFKA_DATA"] / "meta.properties").write_text("node.id=1\n")
    p["KAFKA_CLUSTER_ID"].write_text("one-broker-cluster\n")
    p["KAFKA_SCRAM_APPLIED"].write_text("{}")
    (p["PG_DATA"]).mkdir(parents=True)
    (p["PG_DATA"] / "PG_VERSION").write_text("15\n")


def test_existing_data_without_a_count_is_a_single_brokers(local) -> None:
    assert stack.world_brokers() is None
    one_broker_stack(local)
    assert stack.world_brokers() == 1


def test_three_brokers_park_the_one_broker_data_and_one_broker_gets_it_back(local) -> None:
    one_broker_stack(local)
    stack.switch_world(3)
    assert not local["KAFKA_DATA"].exists() and not local["PG_DATA"].exists()
    parked = local["PARKED"] / "brokers-1"
    assert (parked / "kafka" / "data" / "meta.properties").exists()
    assert (parked / "pg" / "data" / "PG_VERSION").exists()
    assert (parked / "kafka" / "brokers").read_text().strip() == "1"

    # the three-broker run formats its own nodes and databases
    for d in ("data", "data-2", "data-3"):
        (local["KAFKA"] / d).mkdir(parents=True)
    local["KAFKA_CLUSTER_ID"].write_text("three-broker-cluster\n")
    local["KAFKA_WORLD"].write_text("3\n")
    local["PG_DATA"].mkdir(parents=True)
    assert stack.world_brokers() == 3

    stack.switch_world(1)
    assert stack.world_brokers() == 1
    assert local["KAFKA_CLUSTER_ID"].read_text() == "one-broker-cluster\n"
    assert (local["KAFKA_DATA"] / "meta.properties").read_text() == "node.id=1\n"
    assert (local["PG_DATA"] / "PG_VERSION").exists()
    assert not (local["KAFKA"] / "data-2").exists()
    assert (local["PARKED"] / "brokers-3" / "kafka" / "data-3").is_dir()
    assert not (local["PARKED"] / "brokers-1").exists()


def test_the_same_count_touches_nothing(local) -> None:
    one_broker_stack(local)
    stack.switch_world(1)
    assert (local["KAFKA_DATA"] / "meta.properties").exists()
    assert not local["PARKED"].exists()


def test_a_running_stack_is_not_switched_under_its_feet(local, monkeypatch, capsys) -> None:
    one_broker_stack(local)
    monkeypatch.setattr(stack, "pg_running", lambda: True)
    with pytest.raises(typer.Exit):
        stack.switch_world(3)
    assert (local["KAFKA_DATA"] / "meta.properties").exists()
    assert "`make down` first" in capsys.readouterr().err
