"""No secret in the repository: neither the generated local credentials nor anything that looks
like a private key or a real password in the files git tracks (or would add: untracked files
that are not ignored)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[3]
CREDENTIALS = ROOT / ".local" / "credentials.env"

PATTERNS = {
    "private key": re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "cloud access key": re.compile(rb"\bAKIA[0-9A-Z]{16}\b"),
    # a URL with a password in it, unless the password is an obvious placeholder or a template
    "password in a URL": re.compile(rb"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s'\"/{}$<>]{8,})@"),
    "assigned password": re.compile(
        rb"(?i)\b[a-z_]*(?:password|passwd|secret)[a-z_]*\s*[:=]\s*['\"]([A-Za-z0-9+/=_-]{20,})['\"]"
    ),
}
PLACEHOLDERS = re.compile(rb"(?i)change|example|placeholder|secret|password|dummy|xxxx|redacted|not-|test|local")


def repository_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return [ROOT / p.decode() for p in out.split(b"\0") if p and (ROOT / p.decode()).is_file()]


def generated_secrets() -> dict[str, str]:
    """Every password the local setup generated (credentials.env), also those inside URLs."""
    if not CREDENTIALS.exists():
        pytest.fail(f"{CREDENTIALS} is missing: run `make setup` first")
    secrets: dict[str, str] = {}
    for line in CREDENTIALS.read_text().splitlines():
        key, sep, value = line.partition("=")
        if not sep or line.lstrip().startswith("#"):
            continue
        key, value = key.strip(), value.strip().strip("'\"")
        if key.endswith(("_PASSWORD", "_SECRET")) and len(value) >= 12:
            secrets[key] = value
        if key.endswith("_URL") and (password := urlsplit(value).password):
            secrets[key] = password
    return secrets


def test_the_scan_sees_the_repository_and_the_credentials():
    files = [p.relative_to(ROOT).as_posix() for p in repository_files()]
    assert "pyproject.toml" in files and "shared/events/topics.py" in files
    assert ".local/credentials.env" not in files  # git-ignored
    assert {"KAFKA_ADMIN_PASSWORD", "LS_JWT_SECRET"} <= set(generated_secrets())


def test_no_generated_credential_is_in_a_repository_file():
    secrets = {k: v.encode() for k, v in generated_secrets().items()}
    leaks = []
    for path in repository_files():
        data = path.read_bytes()
        leaks += [f"{path.relative_to(ROOT)}: {key}" for key, value in secrets.items() if value in data]
    assert not leaks, f"generated secrets committed: {leaks}"


def test_no_private_key_or_password_pattern_in_a_repository_file():
    findings = []
    for path in repository_files():
        if path.suffix in {".png", ".jpg", ".jar", ".gz", ".whl"} or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        for name, pattern in PATTERNS.items():
            for m in pattern.finditer(data):
                secret = m.group(1) if m.groups() else m.group(0)
                if name in ("password in a URL", "assigned password") and PLACEHOLDERS.search(secret):
                    continue
                line = data.count(b"\n", 0, m.start()) + 1
                findings.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not findings, "secrets in the repository:\n" + "\n".join(findings)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # split literals: this file must not match its own scan
        (b"-----BEGIN OPENSSH " + b"PRIVATE KEY-----\nabc", True),
        (b"postgresql://svc:" + b"Zq8pWx3kLm9vTt2R" + b"@127.0.0.1/db", True),
        (b"postgresql://svc:{password}@127.0.0.1/db", False),
        (b'KAFKA_PASSWORD = "' + b'Zq8pWx3kLm9vTt2RaBcDeFgH"', True),
        (b'password="whatever"', False),
    ],
)
def test_the_patterns_catch_what_they_should(text, found):
    hits = []
    for name, pattern in PATTERNS.items():
        for m in pattern.finditer(text):
            secret = m.group(1) if m.groups() else m.group(0)
            if name in ("password in a URL", "assigned password") and PLACEHOLDERS.search(secret):
                continue
            hits.append(name)
    assert bool(hits) is found
