"""A second street on the same Kafka cluster (issue 19): provisioned with its own LS_STREET_ID and
principals, it gets its own prefixed topics and consumer groups, and the ACLs keep each street's
principals to its own names both ways. The street is made up per run and removed afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from shared.bus import tls
from shared.events import topics
from tests.conftest import load_credentials
from tests.support import ROOT, kafka_auth

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import kafka_admin  # deploy/local/kafka_admin.py
from kiosk_principals import KIOSKS_DIR, LOCAL_KIOSKS  # deploy/local/kiosk_principals.py

pytestmark = pytest.mark.integration

PRINCIPALS = (*topics.SERVICES, topics.KIOSK)
TIMEOUT = 20


def street_auth(street: str, principal: str, password: str) -> dict:
    creds = load_credentials()
    return tls.client_kwargs(creds["KAFKA_BOOTSTRAP"], f"{street}.{principal}", password)


@pytest.fixture
def second_street():
    """(street id, password of its principals) with its topics and ACLs provisioned, gone afterwards."""
    street = f"it{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    users = {f"{street}.{p}": password for p in PRINCIPALS}
    admin = kafka_admin.AdminConnection.from_settings(load_credentials()).confluent_admin()
    kafka_admin.upsert_scram_users(admin, users)
    env = {**os.environ, "LS_STREET_ID": street, "PYTHONUNBUFFERED": "1"}
    env |= {f"{p.upper()}_KAFKA_USERNAME": f"{street}.{p}" for p in PRINCIPALS}
    try:
        run = subprocess.run([str(ROOT / ".venv/bin/python"), "deploy/local/provision.py"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        yield street, password
    finally:
        remove = [str(ROOT / ".venv/bin/python"), "deploy/local/kiosk_principals.py", "--remove", *LOCAL_KIOSKS]
        kiosks = subprocess.run(remove, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        _remove(admin, street, list(users))
        assert kiosks.returncode == 0, kiosks.stderr[-2000:]


def _remove(admin, street: str, users: list[str]) -> None:
    kafka_admin.revoke_users(admin, users)
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(f"{street}.")]
    if mine:
        kafka_admin.wait_all(admin.delete_topics(mine), "DeleteTopics")


async def topic_names() -> set[str]:
    admin = AIOKafkaAdminClient(**kafka_auth("admin"))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def read_assigned(auth: dict, topic: str) -> None:
    """Reads partition 0 by assignment: an empty fetch succeeds, an unauthorized one raises."""
    consumer = AIOKafkaConsumer(**auth, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_end()
        assert await asyncio.wait_for(consumer.getmany(timeout_ms=500), TIMEOUT) == {}
    finally:
        await consumer.stop()


async def join_and_read(auth: dict, topic: str, group: str) -> None:
    """Subscribes in `group` until it holds the topic's partitions; refused at join (the group) or
    at the first fetch (the topic)."""
    consumer = AIOKafkaConsumer(topic, **auth, group_id=group, enable_auto_commit=False)
    try:
        await consumer.start()

        async def assigned() -> None:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=300)

        await asyncio.wait_for(assigned(), TIMEOUT)
    finally:
        await consumer.stop()


async def write(auth: dict, topic: str) -> None:
    producer = AIOKafkaProducer(**auth, enable_idempotence=True, acks="all", request_timeout_ms=10000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), TIMEOUT)
    finally:
        await producer.stop()


async def eventually_allowed(attempt, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await attempt()
        except (TopicAuthorizationFailedError, GroupAuthorizationFailedError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_two_streets_share_the_cluster_and_keep_to_their_own_names(second_street) -> None:
    street, password = second_street
    names = await topic_names()
    theirs = {f"{street}.{t.name}" for t in topics.all_topic_specs()}
    assert theirs <= names, sorted(theirs - names)
    assert {t.name for t in topics.all_topic_specs()} <= names  # the first street's are still there

    scoring = street_auth(street, "scoring", password)
    attendance = f"{street}.{topics.ATTENDANCE.name}"
    # the second street's scoring reads its own attendance in its own group (once the brokers have
    # applied the new ACLs: CreateAcls returns when the controller has them)...
    own_group = f"{street}.learnstreet.scoring.it"
    await eventually_allowed(lambda: join_and_read(scoring, attendance, own_group))
    await read_assigned(scoring, attendance)
    # ...and neither the first street's topic nor its group
    with pytest.raises(TopicAuthorizationFailedError):
        await join_and_read(scoring, topics.ATTENDANCE.name, own_group)
    with pytest.raises(GroupAuthorizationFailedError):
        await join_and_read(scoring, attendance, topics.group_id(topics.SCORING))
    # the first street's scoring cannot read the second street's attendance
    with pytest.raises(TopicAuthorizationFailedError):
        await join_and_read(kafka_auth("scoring"), attendance, f"{topics.group_id(topics.SCORING)}.it-{street}")
    # kiosks: each street's kiosk principal writes its own street's scans only
    await eventually_allowed(
        lambda: write(street_auth(street, "kiosk", password), f"{street}.{topics.KIOSK_CHECKINS.name}")
    )
    with pytest.raises(TopicAuthorizationFailedError):
        await write(street_auth(street, "kiosk", password), topics.KIOSK_CHECKINS.name)
    with pytest.raises(TopicAuthorizationFailedError):
        await write(kafka_auth("kiosk"), f"{street}.{topics.KIOSK_CHECKINS.name}")
    # a kiosk with an identity of its own is the street's too: `<street>.kiosk.<id>`, its own file
    own = json.loads((KIOSKS_DIR / f"{street}.{LOCAL_KIOSKS[0]}.json").read_text())
    assert own["username"] == f"{street}.kiosk.{LOCAL_KIOSKS[0]}"
    own_auth = street_auth(street, f"kiosk.{LOCAL_KIOSKS[0]}", own["password"])
    await eventually_allowed(lambda: write(own_auth, f"{street}.{topics.KIOSK_CHECKINS.name}"))
    with pytest.raises(TopicAuthorizationFailedError):
        await write(own_auth, topics.KIOSK_CHECKINS.name)
