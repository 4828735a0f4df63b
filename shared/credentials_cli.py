"""`learnstreet verify FILE`: verify an Open Badges credential the street issued (a VC-JWT, as
downloaded from GET /v1/residents/{id}/credentials/{honour_id}) and say why it fails.

The trusted issuer is the street's enrolment service (`--issuer`, default the local one): its
published key set and its signed status list decide, never addresses taken from the credential
itself. `--jwks` and `--status-list` verify offline from saved copies of both.
Prints one JSON line (valid, reason, detail, kid, credential); exit 0 when valid, 1 when not,
2 when the verification could not be attempted (unreadable file, key set unreachable).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer

from shared import credentials as vc
from shared.local_env import read_credentials

ISSUER_PATH = "/v1/credentials/issuer"
JWKS_PATH = "/v1/.well-known/jwks.json"
STATUS_PATH = "/v1/credentials/status/"


def _default_issuer() -> str:
    values = {**read_credentials(), **{k: v for k, v in os.environ.items() if k.startswith("ENROLMENT_")}}
    if values.get("ENROLMENT_CREDENTIALS_BASE_URL"):
        return values["ENROLMENT_CREDENTIALS_BASE_URL"]
    return f"http://{values.get('ENROLMENT_HTTP_HOST') or '127.0.0.1'}:{values.get('ENROLMENT_HTTP_PORT') or 8102}"


def _stop(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def _read(path: Path) -> str:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        _stop(f"cannot read {path}: {e}")
    text = text.strip()
    if text.startswith("{"):  # the verify endpoint's body, {"credential": "<jwt>"}
        try:
            return str(json.loads(text)["credential"]).strip()
        except (ValueError, KeyError, TypeError):
            return text  # left to the verifier, which calls it malformed
    return text


def _fetch(http: httpx.Client, url: str) -> httpx.Response | None:
    try:
        response = http.get(url)
    except httpx.HTTPError:
        return None
    return response if response.status_code == 200 else None


def verification(token: str, base: str, jwks: dict[str, Any], status_token: str | None, now: datetime) -> dict:
    issuer = base + ISSUER_PATH
    checked = None
    try:
        checked = vc.check_credential(token, jwks, issuer, now)
        vc.check_status(checked, status_token, jwks, issuer, now)
    except vc.CredentialFailure as failure:
        return vc.verdict(failure, checked)
    return vc.verdict(None, checked)


def verify(
    file: Path = typer.Argument(..., help="the credential (VC-JWT), '-' for standard input"),
    issuer: str = typer.Option(None, help="the street's enrolment service, https://... (default: the local one)"),
    jwks: Path = typer.Option(None, help="the issuer's key set saved as a file (offline)"),
    status_list: Path = typer.Option(None, "--status-list", help="the status list credential saved as a file"),
) -> None:
    """Verify an Open Badges credential and say why it fails / 核验开放徽章凭证并说明原因."""
    token = _read(file)
    base = (issuer or _default_issuer()).rstrip("/")
    with httpx.Client(timeout=15.0) as http:
        if jwks is not None:
            try:
                keys = json.loads(jwks.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                _stop(f"cannot read the key set {jwks}: {e}")
        else:
            response = _fetch(http, base + JWKS_PATH)
            if response is None:
                _stop(f"cannot fetch the key set from {base + JWKS_PATH}")
            keys = response.json()
        status_token = None
        if status_list is not None:
            status_token = _read(status_list)
        else:
            try:  # where the status list is, from the credential; fetched only from the trusted issuer
                entry = vc.check_credential(token, keys, base + ISSUER_PATH, datetime.now(UTC)).status
            except vc.CredentialFailure:
                entry = None  # the verification below says why
            if entry is not None and entry.list_url.startswith(base + STATUS_PATH):
                response = _fetch(http, entry.list_url)
                status_token = response.text if response is not None else None
    result = verification(token, base, keys, status_token, datetime.now(UTC))
    print(json.dumps(result, ensure_ascii=False))
    raise typer.Exit(0 if result["valid"] else 1)
