"""Local kiosk identities (deploy/local/kiosk_principals.py): one principal and one signing key per
kiosk, derived or generated once, kept private in .local/."""

from __future__ import annotations

import json
import stat

import kiosk_principals

from shared.kiosk_signing import public_bytes


def test_signing_keys_are_stable_per_kiosk_and_differ_between_kiosks(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kiosk_principals, "SIGNING_SEED", tmp_path / "kiosks" / "signing.seed")
    derive = kiosk_principals.signing_key.__wrapped__  # past the cache: this seed only
    one, again, other = derive("kiosk-1"), derive("kiosk-1"), derive("kiosk-2")
    assert public_bytes(one) == public_bytes(again)
    assert public_bytes(one) != public_bytes(other)
    assert stat.S_IMODE((tmp_path / "kiosks" / "signing.seed").stat().st_mode) == 0o600
    monkeypatch.setattr(kiosk_principals, "SIGNING_SEED", tmp_path / "another.seed")
    assert public_bytes(derive("kiosk-1")) != public_bytes(one)  # another checkout, other keys


def test_an_identity_is_made_once_with_its_own_principal(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kiosk_principals, "KIOSKS_DIR", tmp_path)
    first = kiosk_principals.identity("local-kiosk-9")
    assert first["username"] == "kiosk.local-kiosk-9"
    assert kiosk_principals.identity("local-kiosk-9") == first
    assert stat.S_IMODE((tmp_path / "local-kiosk-9.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "local-kiosk-9.json").read_text())["key_pem"].startswith("-----BEGIN PRIVATE KEY")


def test_a_kiosk_principal_may_write_and_describe_the_checkin_topic_only() -> None:
    from confluent_kafka.admin import AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    bindings = kiosk_principals.acl_bindings("kiosk.k1")
    assert {b.principal for b in bindings} == {"User:kiosk.k1"}
    assert {b.operation for b in bindings} == {AclOperation.WRITE, AclOperation.DESCRIBE}
    assert {(b.restype, b.name, b.resource_pattern_type) for b in bindings} == {
        (ResourceType.TOPIC, "kiosk.checkins", ResourcePatternType.LITERAL)
    }
    assert {b.permission_type for b in bindings} == {AclPermissionType.ALLOW} and len(bindings) == 2
