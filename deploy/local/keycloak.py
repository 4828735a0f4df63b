"""Keycloak, the local stack's OpenID Connect provider (realm `learnstreet`).

    .venv/bin/python deploy/local/keycloak.py setup | up | down | status | token DEMO_USERNAME
    .venv/bin/python deploy/local/keycloak.py token-for ROLE SUBJECT [COMMUNITY] [--venue VENUE_ID ...]

`keycloak_setup()` fetches the `org.keycloak:keycloak-quarkus-dist` tar.gz from Maven Central
(`mvn dependency:get`, checked against its .sha1) and unpacks it into .local/keycloak/; it does
nothing when that version is already there. `keycloak_up(creds)` runs `kc.sh start-dev` on
127.0.0.1 (embedded H2 under the distribution's data/), with the bootstrap admin and the demo
users' passwords from generated credentials, imports deploy/keycloak/learnstreet-realm.json
(`--import-realm`) and returns once the realm's discovery document answers. `keycloak_down()`
stops exactly the process `keycloak_up` recorded.

Credentials (`credential_defaults`): KEYCLOAK_HTTP_PORT, KEYCLOAK_ADMIN_USERNAME,
KEYCLOAK_ADMIN_PASSWORD and KEYCLOAK_USER_<USERNAME>_PASSWORD for each demo user of the realm
file. A value in the credentials passed in wins; otherwise the one kept in
.local/keycloak/credentials.env (mode 600); otherwise a new one, kept there. So the stack's
credentials.env may take these keys over without changing a password Keycloak already holds.

The realm file is committed without secrets: passwords and the dashboard's port are filled in
when the import file is rendered into the distribution's data/import/. When the rendered realm
changes (a new realm file or password), the H2 data is dropped so that the import runs again
(`--import-realm` skips a realm that exists); it holds nothing but what the import put there.

Tokens for tests, the demo, chaos, the bench (development only): `dev_token(role, subject,
community_id=...)` is the provider's token when LS_OIDC_ISSUER is set, else an HS256 one;
`access_token` makes a realm user per (role, subject, community) on first use (admin REST API;
`ensure_users` imports many at once) whose `learnstreet_id` attribute is the subject the services
see, signs in through `learnstreet-cli` and caches the token until shortly before it expires.
Venue staff get their venues in the multi-valued `venue_id` attribute, which the realm maps into
the `venue_id` claim (`venue_ids=`; `token-for venue_staff SUBJECT --venue V1 --venue V2`).

Only the standard library (and no other script of deploy/local): credentials.py and stack.py
import this module, also before the project's environment exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:tar.gz"
ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
STACK_CREDENTIALS = LOCAL / "credentials.env"
KC_ROOT = LOCAL / "keycloak"
KC_HOME = KC_ROOT / f"keycloak-{VERSION}"
KC_STAMP = KC_ROOT / "dist.stamp"
KC_SECRETS = KC_ROOT / "credentials.env"
KC_REALM_STAMP = KC_ROOT / "realm.sha256"
REALM_FILE = ROOT / "deploy" / "keycloak" / "learnstreet-realm.json"
REALM = "learnstreet"
RUN = LOCAL / "run"
PID_FILE = RUN / "keycloak.pid"
LOG = LOCAL / "logs" / "keycloak.log"
DEFAULT_PORT = 18080
# The dashboard's redirect URIs name the scoring service's port.
DEFAULT_SCORING_PORT = 8103
DISTRICT_PORT_OFFSET = 100  # the same as deploy/local/streets.py's (this file imports nothing of ours)
# Heap for a development server: enough for the realm and a test run, and far below the 70% of
# the machine's memory Keycloak would otherwise allow itself on a machine shared with Kafka.
HEAP = "-Xms64m -Xmx512m -XX:MaxMetaspaceSize=256m"
READY_TIMEOUT_S = 420.0  # 70 s on a quiet machine here (first start: Quarkus augmentation); 270 s seen under load


def _maven_file() -> Path:
    group, artifact, version, ext = ARTIFACT.split(":")
    base = Path.home() / ".m2" / "repository" / Path(*group.split(".")) / artifact / version
    return base / f"{artifact}-{version}.{ext}"


def keycloak_setup() -> Path:
    """The unpacked distribution (KC_HOME); fetched and unpacked only when missing."""
    if (KC_HOME / "bin" / "kc.sh").exists() and KC_STAMP.exists() and KC_STAMP.read_text().strip() == VERSION:
        return KC_HOME
    archive = _maven_file()
    if not archive.exists():
        subprocess.run(
            ["mvn", "-B", "-q", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    sha1 = archive.with_name(archive.name + ".sha1")
    if sha1.exists():
        want = sha1.read_text().split()[0].strip().lower()
        digest = hashlib.sha1()
        with archive.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != want:
            raise SystemExit(f"{archive} does not match its .sha1: delete it and run set-up again")
    KC_ROOT.mkdir(parents=True, exist_ok=True)
    staging = KC_ROOT / ".unpack"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(staging)], check=True)
    shutil.rmtree(KC_HOME, ignore_errors=True)
    (staging / f"keycloak-{VERSION}").rename(KC_HOME)
    staging.rmdir()
    KC_STAMP.write_text(VERSION + "\n")
    return KC_HOME


# ---------------------------------------------------------------- credentials
def demo_users(realm: dict | None = None) -> list[str]:
    realm = realm if realm is not None else json.loads(REALM_FILE.read_text(encoding="utf-8"))
    return [u["username"] for u in realm.get("users", [])]


def password_key(username: str) -> str:
    return f"KEYCLOAK_USER_{username.upper().replace('-', '_')}_PASSWORD"


# deploy/local/credentials.py imports this module for the keys below, so this one reads and
# makes secrets itself (an import the other way would be a cycle).
def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.removeprefix("export ").partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    return values


def _password(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def credential_defaults(existing: dict[str, str]) -> dict[str, str]:
    """Every KEYCLOAK_* key: from `existing`, else from .local/keycloak/credentials.env, else new
    (and then kept in that file)."""
    kept = _read_env_file(KC_SECRETS)
    wanted = {
        "KEYCLOAK_HTTP_PORT": lambda: str(DEFAULT_PORT),
        "KEYCLOAK_ADMIN_USERNAME": lambda: "ls-admin",
        "KEYCLOAK_ADMIN_PASSWORD": lambda: _password(32),
        **{password_key(u): lambda: _password(24) for u in demo_users()},
    }
    out = {k: existing.get(k) or kept.get(k) or make() for k, make in wanted.items()}
    if any(kept.get(k) != v for k, v in out.items()):
        _write_secret(KC_SECRETS, "".join(f"{k}={v}\n" for k, v in {**kept, **out}.items()))
    return out


def effective(creds: dict[str, str] | None = None) -> dict[str, str]:
    """The stack's credentials (or `creds`) with every KEYCLOAK_* key filled in."""
    base = dict(creds) if creds is not None else _stack_credentials()
    return {**base, **credential_defaults(base)}


def _stack_credentials() -> dict[str, str]:
    values = _read_env_file(STACK_CREDENTIALS)
    return {k: os.environ.get(k, v) for k, v in values.items()}


def port(creds: dict[str, str]) -> int:
    return int(creds.get("KEYCLOAK_HTTP_PORT") or DEFAULT_PORT)


def base_url(creds: dict[str, str]) -> str:
    return f"http://127.0.0.1:{port(creds)}"


def issuer(creds: dict[str, str]) -> str:
    """The `iss` of the realm's tokens (and LS_OIDC_ISSUER for services that use this provider)."""
    return f"{base_url(creds)}/realms/{REALM}"


def render_realm(creds: dict[str, str]) -> str:
    """The import file: the committed realm with the dashboard's port and the demo passwords."""
    scoring_port = creds.get("SCORING_HTTP_PORT") or str(DEFAULT_SCORING_PORT)
    # the district instance of `LS_STREETS=... make up` (deploy/local/streets.py): scoring's port + 100
    district_port = str(int(scoring_port) + DISTRICT_PORT_OFFSET)
    text = REALM_FILE.read_text(encoding="utf-8")
    text = text.replace("{{SCORING_HTTP_PORT}}", scoring_port).replace("{{DISTRICT_HTTP_PORT}}", district_port)
    realm = json.loads(text)
    for user in realm.get("users", []):
        secret = creds[password_key(user["username"])]
        user["credentials"] = [{"type": "password", "value": secret, "temporary": False}]
    return json.dumps(realm, ensure_ascii=False, indent=1)


# ---------------------------------------------------------------- process
def _alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and str(KC_HOME) in cmdline


def _group_alive(pgid: int) -> bool:
    """kc.sh runs in its own process group; on a first start it builds, then the server may run in
    a process of the group other than the one started (seen in CI: "exited while starting" while
    the log showed the server coming up)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def keycloak_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def discovery(creds: dict[str, str], timeout_s: float = 2.0) -> dict | None:
    """The realm's discovery document, or None while Keycloak does not serve it."""
    try:
        with urllib.request.urlopen(f"{issuer(creds)}/.well-known/openid-configuration", timeout=timeout_s) as r:
            doc = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return doc if doc.get("issuer") == issuer(creds) else None


def keycloak_ready(creds: dict[str, str]) -> bool:
    return discovery(creds) is not None


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants (kc.sh runs the JVM as its child)."""
    total = 0
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def keycloak_up(creds: dict[str, str] | None = None, timeout_s: float = READY_TIMEOUT_S) -> dict[str, float]:
    """Start Keycloak unless it runs; return when the realm's discovery document answers.
    Returns {"pid", "seconds" (0 when it was already running), "rss_mib"}."""
    creds = effective(creds)
    running = keycloak_pid()
    if running is not None and keycloak_ready(creds):
        return {"pid": running, "seconds": 0.0, "rss_mib": _tree_rss_kib(running) / 1024}
    t0 = time.monotonic()
    pid, _ = keycloak_start(creds)
    return _wait(creds, pid, t0, timeout_s)


def keycloak_start(creds: dict[str, str]) -> tuple[int, bool]:
    """Spawn Keycloak unless it runs, without waiting (the stack starts Kafka and PostgreSQL
    meanwhile); returns (pid, True when this call started it). `creds` as from `effective`."""
    running = keycloak_pid()
    if running is not None:
        return running, False
    if _port_taken(port(creds)):
        raise SystemExit(f"port {port(creds)} is taken by a process this stack did not start (KEYCLOAK_HTTP_PORT)")
    keycloak_setup()
    rendered = render_realm(creds)
    digest = hashlib.sha256(rendered.encode()).hexdigest()
    if not KC_REALM_STAMP.exists() or KC_REALM_STAMP.read_text().strip() != digest:
        # --import-realm skips a realm that exists: start from an empty database instead
        shutil.rmtree(KC_HOME / "data" / "h2", ignore_errors=True)
    _write_secret(KC_HOME / "data" / "import" / f"{REALM}-realm.json", rendered)
    p = port(creds)
    argv = [
        str(KC_HOME / "bin" / "kc.sh"),
        "start-dev",
        "--http-host=127.0.0.1",
        f"--http-port={p}",
        f"--hostname={base_url(creds)}",
        # The management interface (health, metrics) would take port 9000 on every machine.
        "--health-enabled=false",
        "--metrics-enabled=false",
        "--import-realm",
    ]
    env = {
        **os.environ,
        "KC_BOOTSTRAP_ADMIN_USERNAME": creds["KEYCLOAK_ADMIN_USERNAME"],
        "KC_BOOTSTRAP_ADMIN_PASSWORD": creds["KEYCLOAK_ADMIN_PASSWORD"],
        "JAVA_OPTS_KC_HEAP": HEAP,
    }
    RUN.mkdir(parents=True, exist_ok=True)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=KC_HOME,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: keycloak_down signals kc.sh and its JVM
        )
    PID_FILE.write_text(f"{proc.pid}\n")
    KC_REALM_STAMP.write_text(digest + "\n")
    return proc.pid, True


def _port_taken(p: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", p)) == 0


def keycloak_alive(pid: int) -> bool:
    """kc.sh or the server it started still runs (for a wait to give up when it exited)."""
    return _alive(pid) or _group_alive(pid)


def rss_mib(pid: int) -> float:
    return _tree_rss_kib(pid) / 1024


def _wait(creds: dict[str, str], pid: int, t0: float, timeout_s: float) -> dict[str, float]:
    while time.monotonic() - t0 < timeout_s:
        if keycloak_ready(creds):
            return {"pid": pid, "seconds": time.monotonic() - t0, "rss_mib": _tree_rss_kib(pid) / 1024}
        if not _alive(pid) and not _group_alive(pid):
            KC_REALM_STAMP.unlink(missing_ok=True)  # the import may not have run: run it next time
            raise SystemExit(f"keycloak exited while starting; see {LOG}:\n{_tail(LOG)}")
        time.sleep(1.0)
    raise SystemExit(f"keycloak not ready within {timeout_s:.0f}s; see {LOG}:\n{_tail(LOG)}")


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def keycloak_down(grace_s: float = 30.0) -> bool:
    """Stop the Keycloak that keycloak_up recorded; True when one was running."""
    pid = keycloak_pid()
    if pid is None:
        PID_FILE.unlink(missing_ok=True)  # a stale file of a process that is gone
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    PID_FILE.unlink(missing_ok=True)
    return True


def keycloak_status(creds: dict[str, str] | None = None) -> dict[str, object]:
    creds = effective(creds)
    pid = keycloak_pid()
    return {
        "component": "keycloak",
        "address": issuer(creds),
        "pid": pid,
        "ready": pid is not None and keycloak_ready(creds),
    }


def password_grant(creds: dict[str, str], username: str, client_id: str = "learnstreet-cli") -> dict:
    """Tokens of a demo user through the development client's password grant (tests, scripts)."""
    doc = discovery(creds)
    if doc is None:
        raise SystemExit(f"keycloak does not serve {issuer(creds)}: run `keycloak.py up`")
    body = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": creds[password_key(username)],
            "scope": "openid",
        }
    ).encode()
    # generous: the first requests after a start are slow while the JVM warms up (10 s timed out here)
    with urllib.request.urlopen(urllib.request.Request(doc["token_endpoint"], data=body), timeout=60) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------- tokens for tests and tools
# Tests, the demo, chaos and the bench need tokens for many (role, subject, community) triples:
# one realm user each, made through the admin REST API on first use. The user's `learnstreet_id`
# attribute is the subject the services see (the realm maps it into the `learnstreet_id` claim,
# LS_OIDC_SUBJECT_CLAIM), since Keycloak's own `sub` is a UUID it chooses.
SUBJECT_ATTRIBUTE = "learnstreet_id"
TOKEN_MARGIN_S = 60.0  # a cached token is replaced this long before it expires
_tokens: dict[tuple[str, str, str | None, tuple[str, ...]], tuple[str, float]] = {}
_users: set[str] = set()
_roles: dict[str, dict] = {}
_user_locks: dict[tuple[str, str, str | None, tuple[str, ...]], threading.Lock] = {}
_admin: list[tuple[str, float]] = []
_lock = threading.Lock()


def _post_form(url: str, fields: dict[str, str]) -> dict:
    body = urllib.parse.urlencode(fields).encode()
    # generous: the first requests after a start are slow while the JVM warms up (10 s timed out here)
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=60) as r:
        return json.loads(r.read())


def _admin_request(
    creds: dict[str, str], method: str, path: str, payload: object = None, timeout_s: float = 60
) -> tuple[int, bytes, str]:
    """An admin REST call on the realm; returns (status, body, Location), HTTP errors included."""
    now = time.monotonic()
    if not _admin or _admin[0][1] <= now:
        got = _post_form(
            f"{base_url(creds)}/realms/master/protocol/openid-connect/token",
            {
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": creds["KEYCLOAK_ADMIN_USERNAME"],
                "password": creds["KEYCLOAK_ADMIN_PASSWORD"],
            },
        )
        _admin[:] = [(got["access_token"], now + float(got.get("expires_in", 60)) - 10.0)]
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(f"{base_url(creds)}/admin/realms/{REALM}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {_admin[0][0]}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, r.read(), r.headers.get("Location") or ""
    except urllib.error.HTTPError as e:
        return e.code, e.read(), ""


def user_name(role: str, subject: str, community_id: str | None, venue_ids: tuple[str, ...] = ()) -> str:
    """The realm username of a (role, subject, community, venues): stable, and lower-case ASCII as
    Keycloak keeps usernames whatever the subject is made of."""
    key = f"{role}\0{subject}\0{community_id or ''}"
    if venue_ids:  # users without venues keep the names they were made with
        key += "\0" + ",".join(sorted(venue_ids))
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"ls-{role.replace('_', '-')}-{digest}"


def _attributes(subject: str, community_id: str | None, venue_ids: tuple[str, ...] = ()) -> dict[str, list[str]]:
    attributes = {SUBJECT_ATTRIBUTE: [subject]}
    if community_id is not None:
        attributes["community_id"] = [community_id]
    if venue_ids:
        attributes[VENUE_ATTRIBUTE] = sorted(venue_ids)
    return attributes


def _user_password(creds: dict[str, str], username: str) -> str:
    # derived, not stored: a user made by an earlier process (another test run) still signs in
    return hmac.new(creds["KEYCLOAK_ADMIN_PASSWORD"].encode(), username.encode(), hashlib.sha256).hexdigest()


def ensure_user(
    creds: dict[str, str], role: str, subject: str, community_id: str | None = None, venue_ids: tuple[str, ...] = ()
) -> str:
    """The username of a realm user with `role` (a realm role), subject, community and venues; made
    when missing (admin REST API), remembered for this process."""
    username = user_name(role, subject, community_id, venue_ids)
    if username in _users:
        return username
    if venue_ids:
        ensure_venue_claim(creds)
    attributes = _attributes(subject, community_id, venue_ids)
    status, body, location = _admin_request(
        creds, "POST", "/users", _user_representation(creds, username, role, attributes)
    )
    if status not in (201, 409):  # 409: made earlier, by this or another process
        raise RuntimeError(f"keycloak refused to create user {username}: {status} {body[:300]!r}")
    if status == 201:
        _grant_role(creds, username, location.rstrip("/").rsplit("/", 1)[-1], role)
    _users.add(username)
    return username


def _user_representation(creds: dict[str, str], username: str, role: str, attributes: dict) -> dict:
    return {
        "username": username,
        "enabled": True,
        # a user lacking the profile's required fields cannot sign in ("account not fully set up")
        "email": f"{username}@learnstreet.test",
        "emailVerified": True,
        "firstName": role,
        "lastName": username.rsplit("-", 1)[1],
        "attributes": attributes,
        "credentials": [{"type": "password", "value": _user_password(creds, username), "temporary": False}],
    }


def _user_id(creds: dict[str, str], username: str) -> str:
    status, body, _ = _admin_request(creds, "GET", f"/users?exact=true&username={urllib.parse.quote(username)}")
    users = json.loads(body) if status == 200 else []
    if not users:
        raise RuntimeError(f"keycloak has no user {username}: {status}")
    return users[0]["id"]


def _grant_role(creds: dict[str, str], username: str, user_id: str, role: str) -> None:
    if role not in _roles:
        status, body, _ = _admin_request(creds, "GET", f"/roles/{urllib.parse.quote(role)}")
        if status != 200:
            raise RuntimeError(f"the realm has no role {role!r}: {status}")
        _roles[role] = json.loads(body)
    mapped, _, _ = _admin_request(creds, "POST", f"/users/{user_id}/role-mappings/realm", [_roles[role]])
    if mapped != 204:
        raise RuntimeError(f"keycloak refused to give {username} the role {role}: {mapped}")


def access_token(
    role: str,
    subject: str,
    community_id: str | None = None,
    creds: dict[str, str] | None = None,
    venue_ids: tuple[str, ...] | list[str] = (),
) -> str:
    """An access token of the realm for (role, subject, community, venues), valid for every
    service's audience (the development client `learnstreet-cli`): the user is made on first use,
    the token cached until TOKEN_MARGIN_S before it expires. Development and tests only.
    Thread-safe; calls for different users run in parallel (the demo asks for thousands of
    residents' tokens)."""
    venues = tuple(sorted(set(venue_ids)))
    key = (role, subject, community_id, venues)
    with _lock:
        hit = _tokens.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        user_lock = _user_locks.setdefault(key, threading.Lock())
    with user_lock:
        hit = _tokens.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        creds = effective(creds)
        username = ensure_user(creds, role, subject, community_id, venues)
        got = _password_grant(creds, username)
        if role not in _token_roles(got["access_token"]):
            # made by a process that stopped before giving it its role
            _grant_role(creds, username, _user_id(creds, username), role)
            got = _password_grant(creds, username)
        expires = time.monotonic() + float(got.get("expires_in", 300)) - TOKEN_MARGIN_S
        _tokens[key] = (got["access_token"], expires)
        return got["access_token"]


_IMPORT_BATCH = 200


def ensure_users(users: list[tuple[str, str, str | None]], creds: dict[str, str] | None = None) -> int:
    """Make many (role, subject, community) users at once (the realm's partial import, roles
    included): one request per _IMPORT_BATCH instead of two each. Returns how many were new."""
    creds = effective(creds)
    todo = {user_name(*u): u for u in users if user_name(*u) not in _users}
    names = list(todo)
    added = 0
    for i in range(0, len(names), _IMPORT_BATCH):
        batch = []
        for username in names[i : i + _IMPORT_BATCH]:
            role, subject, community_id = todo[username]
            attributes = _attributes(subject, community_id)
            batch.append(
                {
                    **_user_representation(creds, username, role, attributes),
                    "realmRoles": [role],
                }
            )
        # each user's password is hashed on import: on a busy machine a batch takes many seconds
        status, body, _ = _admin_request(
            creds, "POST", "/partialImport", {"ifResourceExists": "SKIP", "users": batch}, timeout_s=300
        )
        if status != 200:
            raise RuntimeError(f"keycloak refused the users' import: {status} {body[:300]!r}")
        added += int(json.loads(body).get("added", 0))
        _users.update(names[i : i + _IMPORT_BATCH])
    return added


def expiring_token(
    role: str, subject: str, community_id: str | None = None, creds: dict[str, str] | None = None
) -> tuple[str, float]:
    """A token of the tests' client whose tokens live 5 seconds, and its `exp` (epoch seconds):
    how a test gets an expired token the provider really signed. Not cached."""
    creds = effective(creds)
    username = ensure_user(creds, role, subject, community_id)
    got = _password_grant(creds, username, client_id="learnstreet-cli-expiring")
    return got["access_token"], time.time() + float(got.get("expires_in", 5))


VENUE_ATTRIBUTE = "venue_id"
_venue_claim: list[bool] = []


def _realm_venue_parts() -> tuple[dict, dict[str, dict]]:
    """From the realm file: the user profile's `venue_id` attribute and, per client that maps
    it, the `venue_id` protocol mapper."""
    realm = json.loads(REALM_FILE.read_text(encoding="utf-8"))
    profile = realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]["config"]
    attribute = next(a for a in json.loads(profile["kc.user.profile.config"][0])["attributes"]
                     if a["name"] == VENUE_ATTRIBUTE)  # fmt: skip
    mappers = {
        c["clientId"]: m for c in realm["clients"] for m in c.get("protocolMappers", []) if m["name"] == VENUE_ATTRIBUTE
    }
    return attribute, mappers


def ensure_venue_claim(creds: dict[str, str]) -> None:
    """Give a running realm imported before the realm file had them the `venue_id` user-profile
    attribute and the clients' `venue_id` mappers, as the realm file has them (admin REST API):
    the next import starts from the file anyway, and a development Keycloak need not be restarted
    (and its users dropped) for them. Idempotent; checked once per process."""
    with _lock:
        if _venue_claim:
            return
        attribute, mappers = _realm_venue_parts()
        status, body, _ = _admin_request(creds, "GET", "/users/profile")
        if status != 200:
            raise RuntimeError(f"keycloak did not give the user profile: {status} {body[:300]!r}")
        profile = json.loads(body)
        if not any(a["name"] == VENUE_ATTRIBUTE for a in profile.get("attributes", [])):
            profile["attributes"].append(attribute)
            status, body, _ = _admin_request(creds, "PUT", "/users/profile", profile)
            if status != 200:
                raise RuntimeError(f"keycloak refused the venue_id attribute: {status} {body[:300]!r}")
        for client_id, mapper in mappers.items():
            status, body, _ = _admin_request(creds, "GET", f"/clients?clientId={urllib.parse.quote(client_id)}")
            found = json.loads(body) if status == 200 else []
            if not found:
                raise RuntimeError(f"the realm has no client {client_id}: {status}")
            client = found[0]
            if any(m["name"] == VENUE_ATTRIBUTE for m in client.get("protocolMappers", [])):
                continue
            path = f"/clients/{client['id']}/protocol-mappers/models"
            status, body, _ = _admin_request(creds, "POST", path, mapper)
            if status not in (201, 409):
                raise RuntimeError(f"keycloak refused the venue_id mapper of {client_id}: {status} {body[:300]!r}")
        _venue_claim.append(True)


def _password_grant(creds: dict[str, str], username: str, client_id: str = "learnstreet-cli") -> dict:
    return _post_form(
        f"{issuer(creds)}/protocol/openid-connect/token",
        {
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": _user_password(creds, username),
            "scope": "openid",
        },
    )


def _token_roles(token: str) -> list[str]:
    """The realm roles a token of this realm carries (read, not verified: our own fresh token)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return list((claims.get("realm_access") or {}).get("roles") or [])


def dev_token(
    role: str,
    subject: str,
    *,
    community_id: str | None = None,
    venue_ids: tuple[str, ...] | list[str] = (),
    ttl_s: int = 3600,
    env: dict[str, str] | None = None,
) -> str:
    """A bearer token the local services accept, for tests, the demo, chaos and the bench: the
    identity provider's when they take its tokens (LS_OIDC_ISSUER set; `ttl_s` is then the
    realm's, so ask again rather than keep one), else a development HS256 token."""
    if env is None:
        env = _stack_credentials()
        env.setdefault("LS_OIDC_ISSUER", os.environ.get("LS_OIDC_ISSUER", ""))  # as the services see it
    if env.get("LS_OIDC_ISSUER"):
        return access_token(role, subject, community_id, env, venue_ids)
    from shared.http.auth import mint_token  # the project's environment: HS256 is the services' own

    return mint_token(
        env["LS_JWT_SECRET"], subject=subject, role=role, ttl_s=ttl_s, community_id=community_id,
        venue_id=sorted(venue_ids) or None,
    )  # fmt: skip


def _token_for_args(args: list[str]) -> tuple[str, str, str | None, tuple[str, ...]] | None:
    """ROLE SUBJECT [COMMUNITY] [--venue VENUE_ID ...]; None when that is not what was given."""
    positional, venues = [], []
    it = iter(args)
    for arg in it:
        if arg == "--venue":
            venue = next(it, None)
            if not venue:
                return None
            venues.append(venue)
        elif arg.startswith("--venue="):
            venues.append(arg.removeprefix("--venue="))
        else:
            positional.append(arg)
    if len(positional) not in (2, 3):
        return None
    return positional[0], positional[1], positional[2] if len(positional) == 3 else None, tuple(venues)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "setup":
        print(keycloak_setup())
    elif command == "up":
        started = keycloak_up()
        print(json.dumps({"issuer": issuer(effective()), **started}))
    elif command == "down":
        print("stopped" if keycloak_down() else "not running")
    elif command == "status":
        state = keycloak_status()
        print(json.dumps(state))
        return 0 if state["ready"] else 1
    elif command == "token" and len(argv) == 2:
        print(password_grant(effective(), argv[1])["access_token"])
    elif command == "token-for" and (parsed := _token_for_args(argv[1:])) is not None:
        role, subject, community_id, venues = parsed
        print(access_token(role, subject, community_id, venue_ids=venues))
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
