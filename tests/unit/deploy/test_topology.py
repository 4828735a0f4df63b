"""The local stack's topology: instance names and ports, broker nodes, the topology file, and the
replication that follows from the broker count (deploy/local/topology.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import topology as topo

ALL_ONE = {"activities": 1, "enrolment": 1, "scoring": 1, "notify": 1}


def test_instance_one_keeps_the_single_instance_names_and_others_step_by_ten() -> None:
    run, logs = Path("/r"), Path("/l")
    got = [(i.name, i.port, i.pid_file, i.log) for i in topo.instances_of("activities", 3, 8101, run, logs)]
    assert got == [
        ("activities", 8101, run / "activities.pid", logs / "activities.log"),
        ("activities-2", 8111, run / "activities-2.pid", logs / "activities-2.log"),
        ("activities-3", 8121, run / "activities-3.pid", logs / "activities-3.log"),
    ]


def test_an_instance_gets_its_own_port_and_name_in_its_environment() -> None:
    second = topo.instance("scoring", 2, 8103)
    assert (second.service, second.index) == ("scoring", 2)
    assert topo.instance_env(second) == {"SCORING_HTTP_PORT": "8113", "LS_INSTANCE": "scoring-2"}


def test_instance_ports_of_different_services_never_collide() -> None:
    ports = [i.port for s, base in zip(topo.SERVICES, (8101, 8102, 8103, 8104), strict=True)
             for i in topo.instances_of(s, topo.MAX_REPLICAS, base)]  # fmt: skip
    assert len(ports) == len(set(ports))
    assert 8105 not in ports  # the local SMS gateway


def test_defaults_are_one_broker_and_one_instance() -> None:
    assert topo.resolve({}, None) == topo.Topology(1, ALL_ONE)


def test_the_environment_overrides_the_file_and_a_service_override_wins() -> None:
    base = topo.Topology(3, {**ALL_ONE, "scoring": 2})
    env = {"LS_REPLICAS": "2", "LS_REPLICAS_ACTIVITIES": "3"}
    assert topo.resolve(env, base) == topo.Topology(3, {"activities": 3, "enrolment": 2, "scoring": 2, "notify": 2})
    assert topo.resolve({"LS_KAFKA_BROKERS": "1"}, base).brokers == 1
    assert topo.resolve({}, base) == base


@pytest.mark.parametrize(
    "env",
    [{"LS_KAFKA_BROKERS": "0"}, {"LS_KAFKA_BROKERS": "three"}, {"LS_REPLICAS": "10"}, {"LS_REPLICAS_NOTIFY": "-1"}],
)
def test_a_topology_the_stack_cannot_run_is_refused(env) -> None:
    with pytest.raises(topo.TopologyError):
        topo.resolve(env, None)


def test_the_topology_file_is_what_later_commands_read(tmp_path) -> None:
    path = tmp_path / "run" / "topology.json"
    assert topo.read_file(path) is None
    topo.write_file(topo.Topology(3, {**ALL_ONE, "activities": 2}), path)
    assert path.read_text().strip() == (
        '{"brokers": 3, "replicas": {"activities": 2, "enrolment": 1, "scoring": 1, "notify": 1}}'
    )
    assert topo.current({}, path) == topo.Topology(3, {**ALL_ONE, "activities": 2})
    assert topo.current({"LS_REPLICAS": "1"}, path).replicas["activities"] == 1


def test_broker_nodes_keep_node_one_as_today_and_step_ports_by_two(tmp_path) -> None:
    nodes = topo.nodes(3, 19092, tmp_path)
    assert [(n.node_id, n.client_port, n.controller_port, n.pid_name) for n in nodes] == [
        (1, 19092, 19093, "kafka"),
        (2, 19094, 19095, "kafka-2"),
        (3, 19096, 19097, "kafka-3"),
    ]
    assert [n.data_dir.name for n in nodes] == ["data", "data-2", "data-3"]
    assert [n.props.name for n in nodes] == ["server.properties", "server-2.properties", "server-3.properties"]
    assert topo.voters(nodes) == "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert topo.bootstrap(3, 19092) == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"


def test_only_the_stacks_own_bootstrap_lists_are_rewritten() -> None:
    assert topo.is_local_bootstrap("127.0.0.1:19092", 19092)
    assert topo.is_local_bootstrap("127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096", 19092)
    assert not topo.is_local_bootstrap("kafka-0.kafka:9092,kafka-1.kafka:9092", 9092)
    assert not topo.is_local_bootstrap("127.0.0.1:19092,127.0.0.1:29092", 19092)
    assert topo.first_port("127.0.0.1:19092,127.0.0.1:19094") == 19092


@pytest.mark.parametrize(("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_replication_defaults_follow_the_broker_count(brokers, factor, min_insync) -> None:
    assert topo.replication({}, brokers) == topo.Replication(factor, min_insync)


def test_configured_replication_wins_over_the_default() -> None:
    env = {"KAFKA_REPLICATION_FACTOR": "2", "KAFKA_MIN_INSYNC_REPLICAS": "2"}
    assert topo.replication(env, 3) == topo.Replication(2, 2)


def test_a_replication_factor_above_the_broker_count_is_refused_not_lowered() -> None:
    with pytest.raises(topo.TopologyError, match="replication factor 3 is above the 1 broker"):
        topo.replication({"KAFKA_REPLICATION_FACTOR": "3"}, 1)


def test_a_minimum_isr_above_the_factor_is_refused() -> None:
    with pytest.raises(topo.TopologyError, match=r"min\.insync\.replicas 2 is above the replication factor 1"):
        topo.replication({"KAFKA_MIN_INSYNC_REPLICAS": "2"}, 1)
