"""More streets on the local stack's one Kafka cluster and PostgreSQL, and the district view over
them (issue 19; docs/decisions/0021-streets-on-one-cluster.md, 0022-district-view.md, 0023).

    LS_STREETS=nanwan make up        # Pinghu (the stack's own street) and Nanwan, plus the district

The stack's own street keeps everything it has (no prefix, credentials.env). Each street named in
LS_STREETS (a folder reference/<id> must hold its reference data) gets, derived here:
- the four services with `LS_STREET_ID=<id>` and `LS_REFERENCE_DIR=reference/<id>`, on ports one
  thousand above the stack's per street (Nanwan's activities: 9101), named `<id>-<service>`;
- its own Kafka principals `<id>.<principal>` and their ACLs, provisioned by provision.py run with
  the street's settings (its topics `<id>.*`, groups `<id>.learnstreet.*` and kiosks);
- its own databases `<id>_<service>` with one role each;
- Kafka over the brokers' SASL_SSL listener, verified against the local CA: a second street is
  the production shape (TLS), while the stack's own street keeps SASL_PLAINTEXT for the tests;
- its own resident sign-in key and issuer (its enrolment).
Secrets are generated once into .local/streets/<id>.env (mode 600).

With any extra street, a district instance (`district`, scoring in district mode on the scoring
port + 100, over TLS too) reads every street's published index and nothing else, in its own
database. It uses the stack's scoring principal, which provisioning grants Read on the other streets' index topics
(SCORING_DISTRICT_STREETS, ADR 0022).

Pure functions first (settings from settings), then the few that touch files, PostgreSQL and Kafka.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import credentials
import keycloak

sys.path.insert(0, str(credentials.ROOT))
from shared.events.topics import RESERVED_STREET_IDS

ROOT = credentials.ROOT
LOCAL = credentials.LOCAL
SECRETS_DIR = LOCAL / "streets"
STARTED = LOCAL / "run" / "streets.json"  # the extra streets `up` started, for `down`
REFERENCE = ROOT / "reference"
PY = str(ROOT / ".venv" / "bin" / "python")

STREET_PORT_STEP = 1000  # street k (1-based among the extra ones): the stack's ports + 1000 k
# the district instance: the stack's scoring port + 100 (8203), where the realm lets it sign in
DISTRICT_PORT_OFFSET = keycloak.DISTRICT_PORT_OFFSET
DISTRICT = "district"
# The catalogue's rule for LS_STREET_ID (shared/events/topics.py), refused here before anything starts
STREET_ID = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
# The catalogue's reserved ids (names that would read as a service or a topic's own first segment,
# `activities.activities.attendance`), the admin principal's, and the district instance's name
RESERVED = frozenset({*RESERVED_STREET_IDS, "admin", DISTRICT})


class StreetsError(ValueError):
    """A street choice the stack cannot run (one line for the operator)."""


@dataclass(frozen=True)
class StreetProcess:
    """One process of an extra street or of the district: `python -m services.<service>` with
    `env` over the stack's settings."""

    name: str
    service: str
    port: int
    env: dict[str, str]


def home_street(reference_dir: str | None = None) -> str:
    """The stack's own street id (its reference data's), `pinghu` by default."""
    import yaml

    folder = Path(reference_dir or "reference/pinghu")
    folder = folder if folder.is_absolute() else ROOT / folder
    return yaml.safe_load((folder / "communities.yaml").read_text(encoding="utf-8"))["street"]["id"]


def parse(value: str | None, home: str, reference: Path = REFERENCE) -> list[str]:
    """LS_STREETS (`nanwan` or `pinghu,nanwan`) → the extra streets, in order, without the home
    street; StreetsError for an id that cannot name topics, a reserved one, or one without
    reference data."""
    out: list[str] = []
    for raw in (value or "").split(","):
        street = raw.strip()
        if not street or street == home or street in out:
            continue
        if not STREET_ID.match(street):
            raise StreetsError(
                f"LS_STREETS: {street!r} is not a street id (lower-case letters, digits and '-', "
                "3 to 32 characters, starting with a letter)"
            )
        if street in RESERVED:
            raise StreetsError(f"LS_STREETS: {street!r} is reserved (a service or principal name): use the street's id")
        if not (reference / street / "communities.yaml").is_file():
            raise StreetsError(
                f"LS_STREETS: no reference data for {street!r}: add reference/{street}/communities.yaml "
                "(the street, its communities and themes; see reference/nanwan)"
            )
        out.append(street)
    return out


def secret_keys(street: str) -> list[str]:
    """What is generated per street: a password per Kafka principal and per database, and the
    resident sign-in secret."""
    keys = [f"{p.upper()}_KAFKA_PASSWORD" for p in credentials.PRINCIPALS]
    keys += [f"{s.upper()}_DATABASE_PASSWORD" for s in credentials.SERVICES]
    return [*keys, "ENROLMENT_SIGN_IN_SECRET"]


def port_of(service: str, creds: Mapping[str, str], index: int) -> int:
    base = int(creds.get(f"{service.upper()}_HTTP_PORT") or credentials.HTTP_PORTS[service])
    return base + STREET_PORT_STEP * index


def settings(street: str, index: int, creds: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """What street `street` (the `index`-th extra one) sets over the stack's settings `creds`."""
    pg_port = creds.get("PGPORT_LOCAL") or str(credentials.PG_PORT)
    ports = {s: port_of(s, creds, index) for s in credentials.SERVICES}
    out = {
        "LS_STREET_ID": street,
        "LS_REFERENCE_DIR": f"reference/{street}",
        **tls_settings(creds),
        "ENROLMENT_SIGN_IN_KEY_FILE": str(LOCAL / "keys" / f"{street}-resident-sign-in.pem"),
        "ENROLMENT_SIGN_IN_SECRET": secrets["ENROLMENT_SIGN_IN_SECRET"],
        "LS_RESIDENT_ISSUER": f"http://127.0.0.1:{ports['enrolment']}",
        "ENROLMENT_ACTIVITIES_PUBLIC_URL": f"http://127.0.0.1:{ports['activities']}",
        "ACTIVITIES_CORS_ORIGINS": ",".join(f"http://{h}:{ports['enrolment']}" for h in ("127.0.0.1", "localhost")),
    }
    for p in credentials.PRINCIPALS:
        out[f"{p.upper()}_KAFKA_USERNAME"] = f"{street}.{p}"
        out[f"{p.upper()}_KAFKA_PASSWORD"] = secrets[f"{p.upper()}_KAFKA_PASSWORD"]
    for s in credentials.SERVICES:
        role = db = f"{street.replace('-', '_')}_{s}"
        password = secrets[f"{s.upper()}_DATABASE_PASSWORD"]
        out[f"{s.upper()}_DATABASE_URL"] = f"postgresql://{role}:{password}@127.0.0.1:{pg_port}/{db}"
        out[f"{s.upper()}_HTTP_PORT"] = str(ports[s])
    return out


def district_streets(home: str, streets: list[str]) -> str:
    """SCORING_DISTRICT_STREETS for the home street (unprefixed topics) and the extra ones."""
    return ",".join([f"{home}=scoring.index", *streets])


def district_settings(home: str, streets: list[str], creds: Mapping[str, str], password: str) -> dict[str, str]:
    pg_port = creds.get("PGPORT_LOCAL") or str(credentials.PG_PORT)
    return {
        "SCORING_DISTRICT_STREETS": district_streets(home, streets),
        "SCORING_HTTP_PORT": str(int(creds.get("SCORING_HTTP_PORT") or 8103) + DISTRICT_PORT_OFFSET),
        "SCORING_DATABASE_URL": f"postgresql://learnstreet_district:{password}@127.0.0.1:{pg_port}/learnstreet_district",
        "LS_INSTANCE": DISTRICT,
        **tls_settings(creds),
    }


def tls_settings(creds: Mapping[str, str]) -> dict[str, str]:
    """The brokers' TLS listener, verified against the local CA (deploy/local/kafka_tls.py)."""
    return {
        "KAFKA_BOOTSTRAP": creds["LS_KAFKA_TLS_BOOTSTRAP"],
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CA_FILE": creds["LS_KAFKA_TLS_CA_FILE"],
    }


def processes(home: str, streets: list[str], creds: Mapping[str, str]) -> list[StreetProcess]:
    """Every extra street's four services, then the district instance (none without a street)."""
    out = []
    for index, street in enumerate(streets, start=1):
        env = settings(street, index, creds, secrets(street))
        for s in credentials.SERVICES:
            out.append(StreetProcess(f"{street}-{s}", s, int(env[f"{s.upper()}_HTTP_PORT"]), env))
    if streets:
        env = district_settings(home, streets, creds, secrets(DISTRICT)["SCORING_DATABASE_PASSWORD"])
        out.append(StreetProcess(DISTRICT, "scoring", int(env["SCORING_HTTP_PORT"]), env))
    return out


# ---------------------------------------------------------------- files
def secrets(street: str, directory: Path = SECRETS_DIR) -> dict[str, str]:
    """The street's generated secrets (made once; existing values never change)."""
    path = directory / f"{street}.env"
    existing = credentials.read_file(path)
    keys = ["SCORING_DATABASE_PASSWORD"] if street == DISTRICT else secret_keys(street)
    wanted = {**{k: credentials.password() for k in keys if k not in existing}, **existing}
    if wanted != existing:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        credentials._write(path, wanted)
    return wanted


def chosen(environ: Mapping[str, str] | None = None) -> list[str]:
    """The extra streets the environment asks for (LS_STREETS)."""
    environ = os.environ if environ is None else environ
    return parse(environ.get("LS_STREETS"), home_street(environ.get("LS_REFERENCE_DIR")))


def remember(streets: list[str], path: Path = STARTED) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(streets) + "\n")


def remembered(path: Path = STARTED) -> list[str]:
    try:
        return [s for s in json.loads(path.read_text()) if isinstance(s, str)]
    except (OSError, ValueError):
        return []


def serves_another_street(pid: int, own: Mapping[str, str] | None = None) -> bool:
    """True for a process of an extra street or of the district (its environment says so): the
    chaos harness and the benchmarks find the stack's services by command line, and must leave
    these alone. A process gone or not ours to read is not another street's."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    environ = dict(item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    own = os.environ if own is None else own
    if environ.get("SCORING_DISTRICT_STREETS", "").strip():
        return True
    return environ.get("LS_STREET_ID", "").strip() != own.get("LS_STREET_ID", "").strip()


# ---------------------------------------------------------------- provisioning
def databases(home: str, streets: list[str], creds: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """{database: (role, password)} of every extra street and of the district."""
    from urllib.parse import urlsplit

    out = {}
    for proc in processes(home, streets, creds):
        u = urlsplit(proc.env[f"{proc.service.upper()}_DATABASE_URL"])
        out[u.path.lstrip("/")] = (u.username or "", u.password or "")
    return out


def provision_kafka(street: str, index: int, creds: Mapping[str, str]) -> None:
    """The street's principals (SCRAM), then its topics, ACLs and kiosks by provision.py run with
    the street's settings over TLS: the catalogue's names take the street's prefix only in a process
    started with LS_STREET_ID (shared/events/topics.py reads it once)."""
    import kafka_admin

    env = settings(street, index, creds, secrets(street))
    users = {env[f"{p.upper()}_KAFKA_USERNAME"]: env[f"{p.upper()}_KAFKA_PASSWORD"] for p in credentials.PRINCIPALS}
    admin = kafka_admin.AdminConnection.from_values({**creds, **env}).confluent_admin()
    kafka_admin.upsert_scram_users(admin, users)
    run = subprocess.run(
        [PY, "deploy/local/provision.py"],
        cwd=ROOT,
        env={**os.environ, **creds, **env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if run.returncode != 0:
        tail = (run.stdout[-1500:] + run.stderr[-1500:]).strip()
        raise StreetsError(f"provisioning street {street} failed:\n{tail}")
