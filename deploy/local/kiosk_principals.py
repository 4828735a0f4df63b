"""Kiosk identities of the local stack (issue 16): for each local kiosk its own Kafka principal
`kiosk.<id>` (SCRAM-SHA-512; ACLs: Write and Describe on kiosk.checkins, nothing else) and its own
Ed25519 signing key, generated once into .local/ and provisioned by provision.py.

    .local/kiosks/<id>.json   {"kiosk_id", "username", "password", "key_pem"}  (mode 600)

The shared `kiosk` principal stays for version-1 kiosks during the migration window
(docs/kiosk-checkin-contract.md). In production the same steps run per kiosk from the operator's
runbook, with the password and the key made on and delivered to that kiosk only.

    .venv/bin/python deploy/local/kiosk_principals.py     # generate what is missing and provision
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import credentials
from kafka_tools import KAFKA_ADMIN_PROPS, console, java_tool

KIOSKS_DIR = credentials.LOCAL / "kiosks"
APPLIED = KIOSKS_DIR / "provisioned.json"  # {"": cluster id, principal: password applied}
CLUSTER_ID = credentials.LOCAL / "kafka" / "cluster.id"
SIGNING_SEED = KIOSKS_DIR / "signing.seed"
TOPIC = "kiosk.checkins"
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
    return f"kiosk.{kiosk_id}"


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def identity(kiosk_id: str) -> dict[str, str]:
    """The kiosk's principal, password and private key (PEM), made on first use."""
    path = KIOSKS_DIR / f"{kiosk_id}.json"
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


def acl_args(bootstrap: str, username: str) -> list[str]:
    return [
        "--bootstrap-server", bootstrap, "--command-config", str(KAFKA_ADMIN_PROPS), "--add",
        "--allow-principal", f"User:{username}", "--operation", "Write", "--operation", "Describe",
        "--topic", TOPIC,
    ]  # fmt: skip


def provision(creds: dict[str, str], kiosks: tuple[str, ...] = LOCAL_KIOSKS) -> list[str]:
    """SCRAM credentials and ACLs of every local kiosk not provisioned with its current password;
    returns the principals provisioned now."""
    # a reformatted cluster has forgotten every user: what was applied belongs to one cluster id
    cluster = CLUSTER_ID.read_text().strip() if CLUSTER_ID.exists() else ""
    applied = json.loads(APPLIED.read_text()) if APPLIED.exists() else {}
    if applied.get("", cluster) != cluster:
        applied = {}
    applied[""] = cluster
    done = []
    for kiosk_id in kiosks:
        ident = identity(kiosk_id)
        user, pw = ident["username"], ident["password"]
        if applied.get(user) == pw:
            continue
        java_tool(
            "kafka.admin.ConfigCommand", "--bootstrap-server", creds["KAFKA_BOOTSTRAP"], "--command-config",
            str(KAFKA_ADMIN_PROPS), "--alter", "--entity-type", "users", "--entity-name", user,
            "--add-config", f"SCRAM-SHA-512=[password={pw}]",
        )  # fmt: skip
        java_tool("org.apache.kafka.tools.AclCommand", *acl_args(creds["KAFKA_BOOTSTRAP"], user))
        applied[user] = pw
        _write_secret(APPLIED, json.dumps(applied))
        done.append(user)
        console.print(f"[cyan]kiosks[/]: {user}: SCRAM credentials and Write/Describe on {TOPIC}")
    _write_secret(APPLIED, json.dumps(applied))
    return done


if __name__ == "__main__":
    provision(credentials.load())
