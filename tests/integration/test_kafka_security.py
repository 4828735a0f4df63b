"""Kafka authentication and least-privilege ACLs against the real local broker.

Every principal's rights come from shared/events/topics.py; each refusal is asserted with the
specific error the broker answers, and each test also shows the same client is otherwise able
to talk to the broker, so a broker that is simply down cannot make a refusal test pass.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.conn import create_conn
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.admin import DescribeAclsRequest
from aiokafka.protocol.metadata import MetadataRequest

from shared.bus import tls
from shared.events import topics as catalogue
from tests.conftest import load_credentials
from tests.support import ROOT

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import kafka_controller  # deploy/local/kafka_controller.py
import kafka_tls  # deploy/local/kafka_tls.py
import kiosk_principals  # deploy/local/kiosk_principals.py
import topology  # deploy/local/topology.py

pytestmark = pytest.mark.integration

ALL_TOPICS = [t.name for t in catalogue.all_topic_specs()]
TIMEOUT = 20


def host_port(credentials: dict[str, str]) -> tuple[str, int]:
    host, port = credentials["KAFKA_BOOTSTRAP"].rsplit(":", 1)
    return host, int(port)


async def test_authenticated_metadata_works(kafka_admin):
    admin = await kafka_admin("admin")
    assert set(ALL_TOPICS) <= set(await admin.list_topics())


async def test_unauthenticated_plaintext_client_is_refused(credentials, kafka_admin):
    await kafka_admin("admin")  # the broker is up and answers authenticated clients
    host, port = host_port(credentials)
    conn = await create_conn(host, port)  # PLAINTEXT: no SASL handshake
    try:
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(conn.send(MetadataRequest([])), TIMEOUT)
    finally:
        conn.close()


# ---------------------------------------------------------------- every listener of every node
# DescribeAcls (ANY filter) is answered by brokers and controllers alike: a client that gets an
# answer without authenticating is a super user there (the ACLs list every principal's rights).
DESCRIBE_ALL_ACLS = DescribeAclsRequest(1, None, 1, None, None, 1, 1)


def listeners(credentials: dict[str, str]) -> list[tuple[str, int, str]]:
    """(kind, port, id) of every listener of every node of the running topology."""
    base = int(credentials["KAFKA_BOOTSTRAP"].split(",")[0].rsplit(":", 1)[1])
    nodes = topology.nodes(topology.current().brokers, base)
    return [(kind, port, f"node{n.node_id}-{kind}") for n in nodes for kind, port in (
        ("client", n.client_port), ("controller", n.controller_port), ("tls", n.tls_port))]  # fmt: skip


def authenticated(kind: str, credentials: dict[str, str]) -> dict:
    if kind == "tls":  # SCRAM over TLS, verifying the brokers against the stack's CA
        return {
            "security_protocol": "SASL_SSL",
            "ssl_context": tls.ssl_context("SASL_SSL", str(kafka_tls.paths(ROOT / ".local" / "kafka")["ca"])),
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": credentials["KAFKA_ADMIN_USERNAME"],
            "sasl_plain_password": credentials["KAFKA_ADMIN_PASSWORD"],
        }
    if kind == "client":
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": credentials["KAFKA_ADMIN_USERNAME"],
            "sasl_plain_password": credentials["KAFKA_ADMIN_PASSWORD"],
        }
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": credentials["KAFKA_ADMIN_USERNAME"],
        "sasl_plain_password": kafka_controller.controller_password(),
    }


async def describe_acls(port: int, **sasl) -> object:
    conn = await asyncio.wait_for(create_conn("127.0.0.1", port, **sasl), TIMEOUT)
    try:
        return await asyncio.wait_for(conn.send(DESCRIBE_ALL_ACLS), TIMEOUT)
    finally:
        conn.close()


def pytest_generate_tests(metafunc):
    if "listener" in metafunc.fixturenames:
        found = listeners(load_credentials())
        metafunc.parametrize("listener", [(k, p) for k, p, _ in found], ids=[i for _, _, i in found])


async def test_every_listener_of_every_node_refuses_an_unauthenticated_client(credentials, listener):
    kind, port = listener
    with pytest.raises(KafkaConnectionError):
        await describe_acls(port)
    # the listener is up and answers the cluster's own credentials: the refusal was not a dead port
    answer = await describe_acls(port, **authenticated(kind, credentials))
    assert answer.error_code == 0


async def test_the_controller_listener_refuses_a_wrong_password(credentials):
    (_, port, _), *_ = [x for x in listeners(credentials) if x[0] == "controller"]
    wrong = {**authenticated("controller", credentials), "sasl_plain_password": "not-the-controller-password"}
    with pytest.raises(SaslAuthenticationFailed):
        await describe_acls(port, **wrong)


async def test_a_client_password_does_not_open_the_controller_listener(credentials):
    (_, port, _), *_ = [x for x in listeners(credentials) if x[0] == "controller"]
    # the admin's SCRAM password is a client credential: the controllers have a secret of their own
    admin_scram_password = {
        **authenticated("controller", credentials),
        "sasl_plain_password": credentials["KAFKA_ADMIN_PASSWORD"],
    }
    with pytest.raises(SaslAuthenticationFailed):
        await describe_acls(port, **admin_scram_password)


async def test_wrong_scram_password_is_refused(credentials):
    host, port = host_port(credentials)
    user = credentials["KIOSK_KAFKA_USERNAME"]
    common = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": user}
    good = await create_conn(host, port, sasl_plain_password=credentials["KIOSK_KAFKA_PASSWORD"], **common)
    good.close()
    with pytest.raises(SaslAuthenticationFailed):
        await asyncio.wait_for(
            create_conn(host, port, sasl_plain_password="not-" + credentials["KIOSK_KAFKA_PASSWORD"], **common),
            TIMEOUT,
        )


async def test_unknown_user_is_refused(credentials):
    host, port = host_port(credentials)
    with pytest.raises(SaslAuthenticationFailed):
        await asyncio.wait_for(
            create_conn(
                host,
                port,
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="SCRAM-SHA-512",
                sasl_plain_username=f"intruder-{uuid.uuid4().hex[:8]}",
                sasl_plain_password="whatever",
            ),
            TIMEOUT,
        )


# ---------------------------------------------------------------- kiosk
async def test_kiosk_can_write_checkins(kafka_producer):
    producer = await kafka_producer("kiosk")
    probe = json.dumps({"acl_probe": True, "id": uuid.uuid4().hex}).encode()
    meta = await asyncio.wait_for(producer.send_and_wait("kiosk.checkins", probe, key=b"acl-probe"), TIMEOUT)
    assert meta.topic == "kiosk.checkins" and meta.offset >= 0


@pytest.mark.parametrize("topic", [t for t in ALL_TOPICS if t != "kiosk.checkins"])
async def test_kiosk_cannot_write_any_other_topic(kafka_producer, topic):
    producer = await kafka_producer("kiosk")
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}"), TIMEOUT)


async def test_kiosk_cannot_read_checkins(kafka_consumer):
    consumer = await kafka_consumer("kiosk")
    consumer.assign([TopicPartition("kiosk.checkins", 0)])
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(consumer.getone(), TIMEOUT)


async def test_kiosk_cannot_consume_in_a_group(kafka_consumer):
    with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
        await asyncio.wait_for(
            kafka_consumer("kiosk", "kiosk.checkins", group_id=f"learnstreet.kiosk.{uuid.uuid4().hex[:8]}"),
            TIMEOUT,
        )


# ---------------------------------------------------------------- services
NOT_OWNED = [(p, t) for p in catalogue.SERVICES for t in ALL_TOPICS if t not in catalogue.topics_written_by(p)]


@pytest.mark.parametrize(("principal", "topic"), NOT_OWNED, ids=[f"{p}->{t}" for p, t in NOT_OWNED])
async def test_service_cannot_write_topics_it_does_not_own(kafka_producer, principal, topic):
    producer = await kafka_producer(principal)
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}"), TIMEOUT)


def dead_letter_topic_written_by(principal: str) -> str:
    return next(t for t in catalogue.topics_written_by(principal) if t.endswith(".dlq"))


@pytest.mark.parametrize("principal", catalogue.SERVICES)
async def test_service_can_write_its_own_dead_letter_topic(kafka_producer, principal):
    # a dead-letter topic: no service consumes it, so the probe disturbs nothing
    topic = dead_letter_topic_written_by(principal)
    producer = await kafka_producer(principal)
    meta = await asyncio.wait_for(producer.send_and_wait(topic, b'{"acl_probe": true}'), TIMEOUT)
    assert meta.topic == topic


def test_enrolment_does_not_own_scoring_index():
    assert "scoring.index" not in catalogue.topics_written_by("enrolment")
    assert ("enrolment", "scoring.index") in NOT_OWNED


NOT_READ = [
    ("notify", "kiosk.checkins"),
    ("notify", "activities.attendance"),
    ("enrolment", "enrolment.contacts"),
    ("scoring", "enrolment.contacts"),
    ("activities", "scoring.index"),
]


@pytest.mark.parametrize(("principal", "topic"), NOT_READ, ids=[f"{p}<-{t}" for p, t in NOT_READ])
async def test_service_cannot_read_topics_it_was_not_granted(kafka_consumer, principal, topic):
    assert topic not in catalogue.topics_read_by(principal)
    group = f"{catalogue.group_id(principal)}.acl-test-{uuid.uuid4().hex[:8]}"  # a group it may use

    async def consume_one():
        # refused at subscription without Describe, at the first fetch with Describe only
        consumer = await kafka_consumer(principal, topic, group_id=group)
        await consumer.getone()

    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(consume_one(), TIMEOUT)


@pytest.mark.parametrize("principal", catalogue.SERVICES)
async def test_service_can_read_what_it_was_granted(kafka_consumer, principal):
    topics = catalogue.topics_read_by(principal)
    assert topics
    consumer = await kafka_consumer(principal)
    consumer.assign([TopicPartition(t, 0) for t in topics])
    await consumer.seek_to_end()
    # an empty fetch succeeds; an unauthorized one raises TopicAuthorizationFailedError
    assert await asyncio.wait_for(consumer.getmany(timeout_ms=500), TIMEOUT) == {}


async def test_service_cannot_use_another_services_consumer_group(kafka_consumer):
    with pytest.raises(GroupAuthorizationFailedError):
        await asyncio.wait_for(
            kafka_consumer("notify", "scoring.honours", group_id=catalogue.group_id("scoring")), TIMEOUT
        )


# ---------------------------------------------------------------- a principal per kiosk (issue 16)
@pytest.fixture
async def own_kiosk_producer(credentials):
    """The producer of local-kiosk-1 with its own principal (deploy/local/kiosk_principals.py)."""
    from aiokafka import AIOKafkaProducer

    ident = kiosk_principals.identity(kiosk_principals.LOCAL_KIOSKS[0])
    producer = AIOKafkaProducer(
        bootstrap_servers=credentials["KAFKA_BOOTSTRAP"],
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=ident["username"],
        sasl_plain_password=ident["password"],
        enable_idempotence=True,
    )
    await producer.start()
    yield producer
    await producer.stop()


async def test_a_kiosk_with_its_own_principal_writes_checkins(own_kiosk_producer):
    probe = json.dumps({"acl_probe": True, "id": uuid.uuid4().hex}).encode()
    meta = await asyncio.wait_for(own_kiosk_producer.send_and_wait("kiosk.checkins", probe, key=b"acl-probe"), TIMEOUT)
    assert meta.topic == "kiosk.checkins"


@pytest.mark.parametrize("topic", ["kiosk.checkins.dlq", "activities.attendance", "enrolment.residents"])
async def test_a_kiosk_with_its_own_principal_writes_nothing_else(own_kiosk_producer, topic):
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(own_kiosk_producer.send_and_wait(topic, b"{}"), TIMEOUT)


async def test_a_kiosks_own_principal_has_its_own_password(credentials):
    host, port = host_port(credentials)
    one, two = (kiosk_principals.identity(k) for k in kiosk_principals.LOCAL_KIOSKS[:2])
    with pytest.raises(SaslAuthenticationFailed):  # one kiosk's password does not open another's principal
        await asyncio.wait_for(
            create_conn(host, port, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                        sasl_plain_username=two["username"], sasl_plain_password=one["password"]),
            TIMEOUT,
        )  # fmt: skip
