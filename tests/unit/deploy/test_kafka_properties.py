"""server.properties.in rendered per node (deploy/local/stack.py kafka_properties): every node a
voter of one quorum, its own ports and data directory, and the internal topics replicated like
the catalogue's."""

from __future__ import annotations

import pytest
import stack
import topology as topo

CREDS = {"KAFKA_ADMIN_USERNAME": "admin", "KAFKA_ADMIN_PASSWORD": "secret", "KAFKA_CONTROLLER_PASSWORD": "ctrl"}
TEMPLATE = (stack.DEPLOY / "kafka" / "server.properties.in").read_text()


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def render(brokers: int, tmp_path) -> list[dict[str, str]]:
    nodes = topo.nodes(brokers, 19092, tmp_path)
    repl = topo.replication({}, brokers)
    return [properties(stack.kafka_properties(TEMPLATE, n, nodes, repl, CREDS)) for n in nodes]


def test_three_nodes_form_one_quorum_each_on_its_own_ports_and_data(tmp_path) -> None:
    rendered = render(3, tmp_path)
    assert [p["node.id"] for p in rendered] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in rendered} == {
        "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    }
    assert [p["listeners"] for p in rendered] == [
        f"SASL_PLAINTEXT://127.0.0.1:{c},CONTROLLER://127.0.0.1:{c + 1},SASL_SSL://127.0.0.1:{c + 100}"
        for c in (19092, 19094, 19096)
    ]
    assert [p["log.dirs"] for p in rendered] == [str(tmp_path / d) for d in ("data", "data-2", "data-3")]
    assert all(p["process.roles"] == "broker,controller" for p in rendered)


def test_on_three_nodes_internal_topics_get_factor_three_and_min_isr_two(tmp_path) -> None:
    for p in render(3, tmp_path):
        assert p["offsets.topic.replication.factor"] == "3"
        assert p["transaction.state.log.replication.factor"] == "3"
        assert p["transaction.state.log.min.isr"] == "2"
        assert p["share.coordinator.state.topic.replication.factor"] == "3"
        assert p["default.replication.factor"] == "3"
        assert p["min.insync.replicas"] == "2"  # __consumer_offsets inherits the broker default


def test_one_node_renders_as_the_single_broker_always_did(tmp_path) -> None:
    (p,) = render(1, tmp_path)
    assert p["node.id"] == "1"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert p["listeners"] == (
        "SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093,SASL_SSL://127.0.0.1:19192"
    )
    assert p["offsets.topic.replication.factor"] == "1"
    assert p["min.insync.replicas"] == "1"


def test_the_controller_listener_stays_on_loopback(tmp_path) -> None:
    for p in render(3, tmp_path):
        assert "CONTROLLER://127.0.0.1:" in p["listeners"]


def test_the_controller_listener_authenticates_and_only_the_admin_is_super(tmp_path) -> None:
    # issue 16: a PLAINTEXT controller listener mapped to User:ANONYMOUS, a super user
    for p in render(3, tmp_path):
        assert "CONTROLLER:SASL_PLAINTEXT" in p["listener.security.protocol.map"].split(",")
        assert "CONTROLLER:PLAINTEXT" not in p["listener.security.protocol.map"].split(",")
        assert p["sasl.mechanism.controller.protocol"] == "PLAIN"
        assert p["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
        jaas = p["listener.name.controller.plain.sasl.jaas.config"]
        assert 'username="admin" password="ctrl" user_admin="ctrl";' in jaas
        assert "secret" not in jaas  # the admin's SCRAM (client) password is not the controllers'
        assert p["super.users"] == "User:admin"


def test_a_placeholder_nobody_fills_is_an_error(tmp_path) -> None:
    nodes = topo.nodes(1, 19092, tmp_path)
    with pytest.raises(ValueError, match="@NEW_KEY@"):
        stack.kafka_properties(TEMPLATE + "new.setting=@NEW_KEY@\n", nodes[0], nodes, topo.Replication(1, 1), CREDS)


def test_every_node_also_takes_scram_over_tls_with_the_local_cas_certificate(tmp_path) -> None:
    for n, p in zip(topo.nodes(3, 19092, tmp_path), render(3, tmp_path), strict=True):
        assert f"SASL_SSL://127.0.0.1:{n.tls_port}" in p["advertised.listeners"].split(",")
        assert "SASL_SSL:SASL_SSL" in p["listener.security.protocol.map"].split(",")
        assert p["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert p["listener.name.sasl_ssl.ssl.keystore.type"] == "PEM"
        assert p["listener.name.sasl_ssl.ssl.keystore.location"] == str(tmp_path / "tls" / "broker.pem")
        assert p["inter.broker.listener.name"] == "SASL_PLAINTEXT"  # brokers keep talking as before
    assert topo.tls_bootstrap(3, 19092) == "127.0.0.1:19192,127.0.0.1:19194,127.0.0.1:19196"
