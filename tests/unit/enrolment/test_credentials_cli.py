"""`learnstreet verify FILE` offline (--jwks, --status-list): one JSON line saying valid or why
not, exit 0 only when valid; the trusted issuer is the one given, not the credential's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from services.enrolment.domain import credentials as domain
from shared import credentials as vc
from shared.cli import app
from shared.reference import load_reference

BASE = "https://learn.pinghu.example"
ISSUER = domain.Issuer(BASE, load_reference())
KEY = vc.new_signing_key()


def _files(tmp_path, revoked: list[int]):
    honour = domain.Honour("h-9", "learning_family", "2026", "family", datetime.now(UTC) - timedelta(days=2))
    token = vc.sign(domain.open_badge(ISSUER, honour, credential_id="urn:uuid:c", subject="urn:uuid:s", list_id="1",
                                      index=5), KEY)  # fmt: skip
    status = vc.sign(domain.status_list_credential(ISSUER, "1", revoked, datetime.now(UTC)), KEY)
    paths = {name: tmp_path / name for name in ("badge.jwt", "jwks.json", "status.jwt")}
    paths["badge.jwt"].write_text(token + "\n")
    paths["jwks.json"].write_text(json.dumps({"keys": [KEY.public_jwk]}))
    paths["status.jwt"].write_text(status)
    return paths


def _verify(paths, *, issuer: str = BASE, badge: str = "badge.jwt"):
    args = ["verify", str(paths[badge]), "--issuer", issuer, "--jwks", str(paths["jwks.json"])]
    result = CliRunner().invoke(app, [*args, "--status-list", str(paths["status.jwt"])])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_a_valid_credential_verifies_offline(tmp_path):
    code, out = _verify(_files(tmp_path, []))
    assert (code, out["valid"], out["reason"]) == (0, True, None)
    assert "书香家庭" in out["credential"]["achievement"]


def test_a_revoked_credential_exits_1_saying_revoked(tmp_path):
    code, out = _verify(_files(tmp_path, [5]))
    assert (code, out["valid"], out["reason"]) == (1, False, "revoked")


def test_a_tampered_file_exits_1_saying_bad_signature(tmp_path):
    paths = _files(tmp_path, [])
    header, payload, signature = paths["badge.jwt"].read_text().strip().split(".")
    paths["badge.jwt"].write_text(f"{header}.{payload}.{signature[:-4]}AAAA")
    code, out = _verify(paths)
    assert (code, out["reason"]) == (1, "bad_signature")


def test_another_trusted_issuer_refuses_the_street_credential(tmp_path):
    code, out = _verify(_files(tmp_path, []), issuer="https://other-street.example")
    assert (code, out["reason"]) == (1, "wrong_issuer")


def test_a_file_that_is_not_a_credential_is_malformed(tmp_path):
    paths = _files(tmp_path, [])
    paths["badge.jwt"].write_text("hello")
    assert _verify(paths)[1]["reason"] == "malformed"
