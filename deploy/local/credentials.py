"""Local credentials: generated once into .local/credentials.env, read by everything else.

The file holds shell-sourceable `KEY=value` lines. `load()` returns the effective settings:
a variable already set in the environment wins over the file, so the same tooling and services
can be pointed at an existing cluster. Running this module adds any missing key (existing
values are never changed) and keeps the file at mode 600.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
CREDENTIALS = LOCAL / "credentials.env"

# Kept in sync with shared/events/topics.py (PRINCIPALS / SERVICES); duplicated so that this
# file works before the project is importable.
SERVICES = ("activities", "enrolment", "scoring", "notify")
PRINCIPALS = (*SERVICES, "kiosk")
HTTP_PORTS = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}
KAFKA_PORT = 19092
PG_PORT = 55432

# The services take tokens of the local identity provider (Keycloak), not development HS256
# ones: generation writes LS_OIDC_ISSUER. `LS_OIDC_ISSUER= make up` (set, empty: the environment
# wins over the file) runs the stack on HS256 tokens without Keycloak.
USE_IDENTITY_PROVIDER = True

# Residents' sign-in (docs/decisions/0017-resident-sign-in.md): enrolment signs resident tokens
# with this ES256 key, apart from its Open Badges keys; every service trusts LS_RESIDENT_ISSUER.
SIGN_IN_KEY = LOCAL / "keys" / "resident-sign-in.pem"

_ALPHABET = string.ascii_letters + string.digits  # no commas or quotes: safe for SCRAM and URLs


def password(length: int = 32) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def defaults(existing: dict[str, str]) -> dict[str, str]:
    """Every key with its value: the existing one, or a new one."""

    def get(key: str, make) -> str:
        # a new key takes the environment's value when set, so that derived values (the
        # database URLs use PGPORT_LOCAL) agree with an overridden port
        if key in existing:
            return existing[key]
        return os.environ.get(key) or make()

    out: dict[str, str] = {}
    out["KAFKA_BOOTSTRAP"] = get("KAFKA_BOOTSTRAP", lambda: f"127.0.0.1:{KAFKA_PORT}")
    out["KAFKA_ADMIN_USERNAME"] = get("KAFKA_ADMIN_USERNAME", lambda: "admin")
    out["KAFKA_ADMIN_PASSWORD"] = get("KAFKA_ADMIN_PASSWORD", password)
    for p in PRINCIPALS:
        out[f"{p.upper()}_KAFKA_USERNAME"] = get(f"{p.upper()}_KAFKA_USERNAME", lambda p=p: p)
        out[f"{p.upper()}_KAFKA_PASSWORD"] = get(f"{p.upper()}_KAFKA_PASSWORD", password)
    pg_port = out["PGPORT_LOCAL"] = get("PGPORT_LOCAL", lambda: str(PG_PORT))
    out["PG_SUPERUSER_PASSWORD"] = get("PG_SUPERUSER_PASSWORD", password)
    for s in SERVICES:
        key = f"{s.upper()}_DATABASE_URL"
        out[key] = get(
            key,
            lambda s=s: f"postgresql://learnstreet_{s}:{password()}@127.0.0.1:{pg_port}/learnstreet_{s}",
        )
        out[f"{s.upper()}_HTTP_PORT"] = get(f"{s.upper()}_HTTP_PORT", lambda s=s: str(HTTP_PORTS[s]))
    out["LS_JWT_SECRET"] = get("LS_JWT_SECRET", lambda: password(48))
    out["ENROLMENT_SIGN_IN_KEY_FILE"] = get("ENROLMENT_SIGN_IN_KEY_FILE", lambda: str(SIGN_IN_KEY))
    out["ENROLMENT_SIGN_IN_SECRET"] = get("ENROLMENT_SIGN_IN_SECRET", lambda: password(48))
    enrolment_port = out["ENROLMENT_HTTP_PORT"]
    out["LS_RESIDENT_ISSUER"] = get("LS_RESIDENT_ISSUER", lambda: f"http://127.0.0.1:{enrolment_port}")
    if USE_IDENTITY_PROVIDER:
        out.update(identity_provider(existing))
    # keep keys that someone added by hand
    for k, v in existing.items():
        out.setdefault(k, v)
    return out


def identity_provider(existing: dict[str, str]) -> dict[str, str]:
    """The local Keycloak's keys (deploy/local/keycloak.py) and the services' OIDC settings for
    it: with LS_OIDC_ISSUER in the file, the services take only the provider's tokens, `make up`
    starts Keycloak and the tests, demo and tools ask it for tokens."""
    import keycloak  # deploy/local/keycloak.py; imports this module, so not at the top

    kc = keycloak.credential_defaults(existing)
    issuer = keycloak.issuer(kc)
    out = dict(kc)
    for key, value in (
        ("LS_OIDC_ISSUER", issuer),
        ("LS_OIDC_DISCOVERY_URL", f"{issuer}/.well-known/openid-configuration"),
        # the realm maps each user's learnstreet_id attribute (a resident's card number) here
        ("LS_OIDC_SUBJECT_CLAIM", keycloak.SUBJECT_ATTRIBUTE),
    ):
        out[key] = existing.get(key) or os.environ.get(key) or value
    return out


def ensure_sign_in_key(path: Path) -> bool:
    """An EC P-256 private key (PKCS#8 PEM, mode 600) at `path` unless one is there; True if made.
    Replacing it signs every resident out within a token's lifetime (15 minutes)."""
    if path.exists():
        return False
    from cryptography.hazmat.primitives import serialization  # the project's venv runs set-up
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return True


def parse(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def read_file(path: Path = CREDENTIALS) -> dict[str, str]:
    return parse(path.read_text()) if path.exists() else {}


def load(path: Path = CREDENTIALS) -> dict[str, str]:
    """Effective settings: file values, overridden by variables set in the environment."""
    values = read_file(path)
    if not values:
        raise SystemExit(f"{path} is missing: run `make setup` first")
    return {k: os.environ.get(k, v) for k, v in values.items()}


def _write(path: Path, values: dict[str, str]) -> None:
    body = "# learnstreet local credentials (generated; git-ignored). Env vars override these.\n"
    body += "".join(f"{k}={v}\n" for k, v in values.items())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body)
    os.replace(tmp, path)


def update(changes: dict[str, str], path: Path = CREDENTIALS) -> bool:
    """Set some keys of an existing file (the stack's own endpoints); returns True when written."""
    existing = read_file(path)
    wanted = {**existing, **changes}
    if wanted == existing:
        return False
    _write(path, wanted)
    return True


def ensure(path: Path = CREDENTIALS) -> bool:
    """Create the file or add missing keys; returns True when it was written."""
    existing = read_file(path)
    wanted = defaults(existing)
    path.parent.mkdir(parents=True, exist_ok=True)
    changed = wanted != existing
    if changed:
        _write(path, wanted)
    os.chmod(path, 0o600)
    if path == CREDENTIALS:  # a key elsewhere is the deployment's to provide
        changed = ensure_sign_in_key(Path(wanted["ENROLMENT_SIGN_IN_KEY_FILE"])) or changed
    return changed


if __name__ == "__main__":
    if ensure():
        print(f"[setup] wrote {CREDENTIALS.relative_to(ROOT)}")
