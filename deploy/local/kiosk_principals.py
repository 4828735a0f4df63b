"""Kiosk identities of the local stack (issue 16): for each kiosk its own Kafka principal
`kiosk.<id>` (SCRAM-SHA-512; ACLs: Write and Describe on kiosk.checkins, nothing else) and its own
Ed25519 signing key, generated once into .local/ and provisioned by provision.py (the two local
kiosks) and by the demo (one per kiosk of the venues it registers).

    .local/kiosks/<id>.json   {"kiosk_id", "username", "password", "key_pem"}  (mode 600)

Provisioning is one Admin API call for all the kiosks' SCRAM credentials
(AlterUserScramCredentials) and one for their ACLs (CreateAcls), through confluent-kafka's admin
client: no JVM per kiosk as kafka-configs.sh/kafka-acls.sh would start. Write on the topic is all
an idempotent producer needs (Kafka >= 3.0 grants IdempotentWrite with Write, KIP-679).

The shared `kiosk` principal of the catalogue (shared/events/topics.py) stays for what is not a
kiosk with an identity of its own: the chaos harness's two load clients and the tests' and
bench's fleet-wide producers, which send scans in the name of many made-up kiosks. Its ACL is the
same, Write and Describe on kiosk.checkins only. In production the steps here run per kiosk from
the operator's runbook, with the password and the key made on and delivered to that kiosk only.

    .venv/bin/python deploy/local/kiosk_principals.py [KIOSK_ID ...]   # generate what is missing, provision
    .venv/bin/python deploy/local/kiosk_principals.py --remove KIOSK_ID ...
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import credentials
import kafka_admin
from kafka_tools import console

from shared.events import topics

KIOSKS_DIR = credentials.LOCAL / "kiosks"
APPLIED = KIOSKS_DIR / "provisioned.json"  # {"": cluster id, principal: password applied}
CLUSTER_ID = credentials.LOCAL / "kafka" / "cluster.id"
SIGNING_SEED = KIOSKS_DIR / "signing.seed"
TOPIC = topics.KIOSK_CHECKINS.name
# The demo's and the tests' kiosks with an identity of their own; any id matching the venues'
# kiosk id pattern works.
LOCAL_KIOSKS = ("local-kiosk-1", "local-kiosk-2")


@functools.cache
def signing_key(kiosk_id: str):
    """The local Ed25519 signing key of any kiosk id (the demo's, chaos's and bench's generated
    kiosks): derived from one seed made on first use (.local/kiosks/signing.seed), so every
    simulator finds the same key for a kiosk without a file per kiosk. Local use only: a real
    kiosk makes its key itself and the private half never leaves it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not SIGNING_SEED.exists():
        _write_secret(SIGNING_SEED, secrets.token_hex(32) + "\n")
    seed = bytes.fromhex(SIGNING_SEED.read_text().strip())
    return Ed25519PrivateKey.from_private_bytes(hmac.new(seed, kiosk_id.encode(), hashlib.sha256).digest())


def principal(kiosk_id: str) -> str:
    """`kiosk.<id>`, behind the street's prefix on a cluster several streets share (LS_STREET_ID)."""
    return f"{topics.STREET_PREFIX}kiosk.{kiosk_id}"


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _identity_file(kiosk_id: str) -> Path:
    return KIOSKS_DIR / f"{topics.STREET_PREFIX}{kiosk_id}.json"


def identity(kiosk_id: str) -> dict[str, str]:
    """The kiosk's principal, password and private key (PEM), made on first use."""
    path = _identity_file(kiosk_id)
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    found = {
        "kiosk_id": kiosk_id,
        "username": principal(kiosk_id),
        "password": credentials.password(),
        "key_pem": key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
    }
    _write_secret(path, json.dumps(found, indent=1))
    return found


KIOSK_ACLS = frozenset({("TOPIC", TOPIC, "LITERAL", "WRITE"), ("TOPIC", TOPIC, "LITERAL", "DESCRIBE")})


def acl_bindings(username: str) -> list:
    """What a kiosk principal may do: Write and Describe kiosk.checkins, nothing else."""
    return [kafka_admin.binding(username, acl) for acl in sorted(KIOSK_ACLS)]


def _admin(creds: dict[str, str]):
    return kafka_admin.AdminConnection.from_settings(creds).confluent_admin()


@contextlib.contextmanager
def _applied(creds: dict[str, str]):
    """The principals applied on this cluster, {principal: password}, under a file lock (the demo,
    the tests and provision.py may provision at once)."""
    KIOSKS_DIR.mkdir(parents=True, exist_ok=True)
    with open(KIOSKS_DIR / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # a reformatted cluster has forgotten every user: what was applied belongs to one cluster id
        cluster = CLUSTER_ID.read_text().strip() if CLUSTER_ID.exists() else ""
        applied = json.loads(APPLIED.read_text()) if APPLIED.exists() else {}
        if applied.get("", cluster) != cluster:
            applied = {}
        applied[""] = cluster
        yield applied
        _write_secret(APPLIED, json.dumps(applied))


def provision(creds: dict[str, str], kiosks: Iterable[str] = LOCAL_KIOSKS, *, report: bool = True) -> list[str]:
    """SCRAM credentials and ACLs of every kiosk of `kiosks` not provisioned with its current
    password, in one AlterUserScramCredentials and one CreateAcls call; returns the principals
    provisioned now. Returns once the broker authenticates them."""
    with _applied(creds) as applied:
        todo = {}
        for kiosk_id in dict.fromkeys(kiosks):
            ident = identity(kiosk_id)
            if applied.get(ident["username"]) != ident["password"]:
                todo[ident["username"]] = ident["password"]
        if not todo:
            return []
        admin = _admin(creds)
        kafka_admin.upsert_scram_users(admin, todo)
        kafka_admin.create_acls(admin, dict.fromkeys(todo, KIOSK_ACLS))
        applied.update(todo)
    if report:
        console.print(f"[cyan]kiosks[/]: {len(todo)} principal(s) kiosk.<id>: SCRAM and Write/Describe on {TOPIC}")
    return list(todo)


def remove(creds: dict[str, str], kiosks: Iterable[str]) -> list[str]:
    """Take the Kafka identity of `kiosks` away (a kiosk retired or lost, a test's kiosks): their
    ACLs are deleted, their SCRAM secret replaced by one nobody holds (kafka_admin.revoke_users) and
    their files removed. Returns the principals removed."""
    users = [principal(k) for k in dict.fromkeys(kiosks)]
    if not users:
        return []
    with _applied(creds) as applied:
        kafka_admin.revoke_users(_admin(creds), users)
        for kiosk_id, user in zip(dict.fromkeys(kiosks), users, strict=True):
            applied.pop(user, None)
            _identity_file(kiosk_id).unlink(missing_ok=True)
    return users


def client_kwargs(kiosk_id: str, creds: dict[str, str]) -> dict[str, str]:
    """aiokafka client arguments of a kiosk's own principal (provisioned with `provision`)."""
    ident = identity(kiosk_id)
    connection = kafka_admin.AdminConnection.from_settings(creds)
    return connection.as_user(ident["username"], ident["password"]).aiokafka_kwargs()


def _main(argv: list[str]) -> None:
    creds = credentials.load()
    if argv[:1] == ["--remove"]:
        print(" ".join(remove(creds, argv[1:])))
        return
    t0 = time.monotonic()
    done = provision(creds, argv or LOCAL_KIOSKS)
    console.print(f"{len(done)} kiosk principal(s) provisioned in {time.monotonic() - t0:.2f}s")


if __name__ == "__main__":
    _main(sys.argv[1:])
