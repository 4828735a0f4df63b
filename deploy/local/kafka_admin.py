"""How provisioning reaches a Kafka cluster as its admin principal, for any security protocol.

One place decides the connection, so that topics (aiokafka's admin client), ACLs and SCRAM users
(confluent-kafka's AdminClient) and the kiosk principals all connect the same way:
  KAFKA_SECURITY_PROTOCOL and KAFKA_SSL_CA_FILE as every client reads them (shared/bus/tls.py),
  SCRAM-SHA-512 with the admin's username and password from the credentials.
Values come from the credentials file, overridden by the environment (credentials.load).

ACLs and SCRAM users go through the admin protocol (DescribeAcls, CreateAcls,
AlterUserScramCredentials) rather than Kafka's Java tools, whose text output would have to be
parsed and whose JVM start costs seconds per call.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from shared.bus import tls

MECHANISM = tls.MECHANISM
SCRAM_ITERATIONS = 4096

# (resource type, name, pattern type, operation), e.g. ("TOPIC", "activities.attendance", "LITERAL", "READ")
Acl = tuple[str, str, str, str]


class AdminSettingsError(ValueError):
    """A setting that cannot work; its message says which and how to fix it."""


@dataclass(frozen=True)
class AdminConnection:
    bootstrap: str
    username: str
    password: str
    protocol: str = "SASL_PLAINTEXT"
    ca_file: str | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, str], password: str | None = None) -> AdminConnection:
        """From the effective settings; `password` overrides the admin's (a SCRAM change in flight)."""
        missing = [k for k in ("KAFKA_BOOTSTRAP", "KAFKA_ADMIN_USERNAME", "KAFKA_ADMIN_PASSWORD") if not values.get(k)]
        if missing:
            raise AdminSettingsError(f"{', '.join(missing)} not set: put it in the environment or credentials.env")
        try:
            protocol, ca_file = tls.checked(values.get("KAFKA_SECURITY_PROTOCOL"), values.get("KAFKA_SSL_CA_FILE"))
        except ValueError as e:
            raise AdminSettingsError(str(e)) from None
        return cls(
            bootstrap=values["KAFKA_BOOTSTRAP"],
            username=values["KAFKA_ADMIN_USERNAME"],
            password=password or values["KAFKA_ADMIN_PASSWORD"],
            protocol=protocol,
            ca_file=ca_file,
        )

    @classmethod
    def from_settings(cls, creds: Mapping[str, str], password: str | None = None) -> AdminConnection:
        """From the credentials file's values with the environment's on top, including the transport
        settings a deployment sets only in the environment (KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_CA_FILE)."""
        return cls.from_values({**os.environ, **creds}, password=password)

    def as_user(self, username: str, password: str) -> AdminConnection:
        """The same cluster and protocol for another principal (a kiosk, a service)."""
        return replace(self, username=username, password=password)

    def aiokafka_kwargs(self) -> dict[str, Any]:
        return tls.client_kwargs(self.bootstrap, self.username, self.password, self.protocol, self.ca_file)

    def confluent_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.protocol,
            "sasl.mechanisms": MECHANISM,
            "sasl.username": self.username,
            "sasl.password": self.password,
            "request.timeout.ms": 30_000,
        }
        if self.ca_file:
            config["ssl.ca.location"] = self.ca_file
        return config

    def confluent_admin(self):
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.confluent_config())


def wait_all(futures: Mapping[Any, Any], what: str, timeout_s: float = 60) -> list:
    """Every future's result; one error naming up to three failures when any failed."""
    results, failed = [], []
    for name, future in futures.items():
        try:
            results.append(future.result(timeout=timeout_s))
        except Exception as error:  # confluent_kafka.KafkaException, one per item
            failed.append(f"{name}: {error}")
    if failed:
        raise RuntimeError(f"{what} failed for {len(failed)}: {'; '.join(failed[:3])}")
    return results


# ---------------------------------------------------------------- ACLs


def binding(username: str, acl: Acl):
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    rtype, name, pattern, op = acl
    return AclBinding(ResourceType[rtype], name, ResourcePatternType[pattern], f"User:{username}", "*",
                      AclOperation[op], AclPermissionType.ALLOW)  # fmt: skip


def existing_acls(admin) -> dict[str, set[Acl]]:
    """The ALLOW ACLs for any host, per username (the only kind provisioning writes)."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                             AclPermissionType.ALLOW)  # fmt: skip
    out: dict[str, set[Acl]] = {}
    for b in admin.describe_acls(every).result(timeout=60):
        if b.host != "*" or not b.principal.startswith("User:"):
            continue
        acl = (b.restype.name, b.name, b.resource_pattern_type.name, b.operation.name)
        out.setdefault(b.principal.removeprefix("User:"), set()).add(acl)
    return out


def create_acls(admin, wanted: Mapping[str, Iterable[Acl]]) -> int:
    """Creates the ACLs (idempotent on the broker's side); returns how many were asked for."""
    bindings = [binding(user, acl) for user, acls in wanted.items() for acl in sorted(acls)]
    if bindings:
        wait_all(admin.create_acls(bindings), "CreateAcls")
    return len(bindings)


# ---------------------------------------------------------------- SCRAM users


def upsert_scram_users(admin, passwords: Mapping[str, str]) -> None:
    """Sets each user's SCRAM-SHA-512 password (creating the user when new); returns once the broker
    describes every one, so a client that connects next is not refused."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    if not passwords:
        return
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [UserScramCredentialUpsertion(user, info, pw.encode()) for user, pw in passwords.items()]
    wait_all(admin.alter_user_scram_credentials(upserts), "AlterUserScramCredentials")
    wait_scram_known(admin, list(passwords))


def revoke_users(admin, users: Iterable[str]) -> None:
    """Takes principals away: every ACL naming them goes, and their SCRAM credential is replaced by
    a random secret nobody holds.

    Not AlterUserScramCredentials' deletion: with Kafka 4.1 in KRaft mode, once the metadata log holds
    a RemoveUserScramCredentialRecord, the brokers come back from their next restart refusing every
    SCRAM login, the admin's and the services' included (reproduced: delete a user, restart, every
    principal refused; replacing its secret instead, every principal signs in). A chaos run's Kafka
    restart after the tests had removed their kiosks' principals took the whole stack down that way."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    users = list(users)
    if not users:
        return
    upsert_scram_users(admin, {u: secrets.token_urlsafe(32) for u in users})
    filters = [AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{u}", None, AclOperation.ANY,
                                AclPermissionType.ANY) for u in users]  # fmt: skip
    wait_all(admin.delete_acls(filters), "DeleteAcls")


def wait_scram_known(admin, users: list[str], timeout_s: float = 30.0) -> None:
    """Until the broker describes every user's credential: the controller has committed them and
    the broker applied that metadata."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            wait_all(admin.describe_user_scram_credentials(users), "DescribeUserScramCredentials")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_reachable(conn: AdminConnection, timeout_s: float) -> None:
    """Until an authenticated metadata call succeeds; RuntimeError naming the last error after `timeout_s`."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def once() -> None:
        client = AIOKafkaAdminClient(**conn.aiokafka_kwargs(), request_timeout_ms=5000)
        try:
            await asyncio.wait_for(client.start(), 10)
            await asyncio.wait_for(client.describe_cluster(), 10)
        finally:
            await client.close()

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            asyncio.run(once())
            return
        except Exception as error:  # connection refused, TLS or SASL failure: retried until the deadline
            if time.monotonic() > deadline:
                waited = f"did not answer the admin in {timeout_s:.0f}s"
                raise RuntimeError(f"Kafka at {conn.bootstrap} ({conn.protocol}) {waited}: {error!r}") from None
            time.sleep(2)
