"""Provisioning's admin calls against the real local cluster (deploy/local/kafka_admin.py): SCRAM
users and ACLs go through the admin protocol, and what the broker then holds is what the event
catalogue asks for."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tests.conftest import load_credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
import kafka_admin  # deploy/local/kafka_admin.py
import provision  # deploy/local/provision.py
import stack  # deploy/local/stack.py

pytestmark = pytest.mark.integration


def connection() -> kafka_admin.AdminConnection:
    return kafka_admin.AdminConnection.from_values(load_credentials())


async def authenticates(username: str, password: str) -> bool:
    client = AIOKafkaAdminClient(**connection().as_user(username, password).aiokafka_kwargs(), request_timeout_ms=8000)
    try:
        await client.start()
        await client.describe_cluster()
        return True
    except KafkaError:
        return False
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def test_a_password_changed_in_the_credentials_reaches_the_broker_through_the_admin_api(
    tmp_path, monkeypatch
) -> None:
    creds = load_credentials()
    user = f"it-scram-{uuid.uuid4().hex[:8]}"
    applied_file = tmp_path / "scram.applied.json"
    admin_user, admin_pw = creds["KAFKA_ADMIN_USERNAME"], creds["KAFKA_ADMIN_PASSWORD"]
    applied_file.write_text(json.dumps({admin_user: admin_pw, user: "old-password"}))
    monkeypatch.setattr(stack, "KAFKA_SCRAM_APPLIED", applied_file)
    admin = connection().confluent_admin()
    try:
        for password in ("first-password-1", "second-password-2"):
            monkeypatch.setattr(stack, "kafka_users", lambda _c, pw=password: {admin_user: admin_pw, user: pw})
            stack.kafka_sync_scram(creds)
            assert await authenticates(user, password)
            assert json.loads(applied_file.read_text())[user] == password
        assert not await authenticates(user, "first-password-1")  # the old one no longer opens the broker
        assert await authenticates(admin_user, admin_pw)  # the admin, unchanged, still signs in
    finally:
        kafka_admin.revoke_users(admin, [user])
    assert not await authenticates(user, "second-password-2")


def test_the_brokers_acls_are_the_catalogues_and_new_ones_are_added_by_the_admin_api() -> None:
    creds = load_credentials()
    admin = connection().confluent_admin()
    held = kafka_admin.existing_acls(admin)
    for principal, wanted in provision.wanted_acls().items():
        username = creds[f"{principal.upper()}_KAFKA_USERNAME"]
        assert held.get(username, set()) >= wanted, (principal, sorted(wanted - held.get(username, set())))
    user = f"it-acl-{uuid.uuid4().hex[:8]}"
    acls = {("TOPIC", "scoring.index", "LITERAL", "READ"), ("GROUP", f"learnstreet.{user}", "PREFIXED", "READ")}
    try:
        assert kafka_admin.create_acls(admin, {user: acls}) == 2
        assert kafka_admin.create_acls(admin, {user: acls}) == 2  # again: the broker keeps one of each
        # the broker answers DescribeAcls from its metadata, a moment behind the controller
        assert held_soon(admin, lambda held: held.get(user) == acls), "the new ACLs never showed"
    finally:
        kafka_admin.revoke_users(admin, [user])
    assert held_soon(admin, lambda held: user not in held), "the revoked user's ACLs stayed"


def held_soon(admin, condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition(kafka_admin.existing_acls(admin)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
