"""Verifiable honours' use cases: issue a passport honour as a signed Open Badge, publish the
keys and the status lists, verify a credential (docs/decisions/0012-open-badges.md)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.enrolment.adapters import credentials as repository
from services.enrolment.adapters import passport as passports
from services.enrolment.domain import credentials as domain
from services.enrolment.service_layer.consents import require_learning_record
from shared import credentials as vc
from shared.db.uow import UnitOfWork
from shared.http.errors import Conflict, NotFound

UowFactory = Callable[[], UnitOfWork]


def derived_secret(street_secret: str | None, jwt_secret: str, purpose: bytes) -> bytes:
    """The street's own secret when set, else one derived from the token secret for this purpose
    alone (as the certificate key is): knowing one derived secret reveals nothing of the others."""
    if street_secret:
        return hmac.new(street_secret.encode(), purpose, hashlib.sha256).digest()
    return hmac.new(jwt_secret.encode(), purpose, hashlib.sha256).digest()


@dataclass
class CredentialDeps:
    issuer: domain.Issuer
    key_passphrase: bytes
    subject_key: bytes
    # Decrypting a key costs a key derivation: done once per kid and process.
    _keys: dict[str, vc.SigningKey] = field(default_factory=dict)

    def signing_key(self, kid: str, pem: str) -> vc.SigningKey:
        if kid not in self._keys:
            self._keys[kid] = vc.load_signing_key(pem, self.key_passphrase)
        return self._keys[kid]


async def ensure_signing_key(uow_factory: UowFactory, deps: CredentialDeps) -> str | None:
    async with uow_factory() as uow:
        kid = await repository.ensure_key(uow.conn, deps.key_passphrase)
        await uow.commit()
    return kid


async def rotate_key(uow_factory: UowFactory, deps: CredentialDeps) -> str:
    """A new signing key: it signs from now on, the older ones stay published."""
    async with uow_factory() as uow:
        kid = await repository.add_key(uow.conn, deps.key_passphrase)
        await uow.commit()
    return kid


async def credential(uow_factory: UowFactory, deps: CredentialDeps, resident_id: str, honour_id: str) -> str:
    """The resident's credential for an honour in their passport: signed on the first download,
    the same credential (id, status position, signature) afterwards. A revoked honour has none
    to give (409); one issued before the revocation stays downloadable only as what it is: its
    status bit says revoked. Without the resident's `learning_record` consent nothing is issued
    nor served (403); a credential issued before a withdrawal stays valid where the resident holds it."""
    async with uow_factory() as uow:
        if not await passports.resident_exists(uow.conn, resident_id):
            raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
        await require_learning_record(uow.conn, resident_id)
        honour = await repository.honour_of(uow.conn, honour_id, resident_id)
        if honour is None:
            raise NotFound(
                f"no honour {honour_id} in the passport of {resident_id} / 档案中无此荣誉", field="honour_id"
            )
        token = await repository.issued(uow.conn, honour_id, resident_id)
        if token is not None:
            return token
        if honour["revoked"]:
            raise Conflict(
                f"honour {honour_id} was revoked: {honour['revoke_reason']} / 该荣誉已撤销", field="honour_id"
            )
        signer = await repository.signing_key_pem(uow.conn)
        if signer is None:
            raise Conflict("the street has no signing key yet / 尚无签名密钥", field="honour_id")
        key = deps.signing_key(*signer)
        now = datetime.now(UTC)
        list_id, index = domain.status_position(await repository.next_issue_number(uow.conn))
        credential_id = uuid.uuid4().urn
        payload = domain.open_badge(
            deps.issuer,
            domain.Honour(
                honour_id, honour["kind"], honour["period"], honour["recipient_kind"], honour["awarded_at"] or now
            ),
            credential_id=credential_id,
            subject=domain.subject_id(deps.subject_key, resident_id),
            list_id=list_id,
            index=index,
        )
        row = {
            "honour_id": honour_id, "resident_id": resident_id, "credential_id": credential_id,
            "status_list": list_id, "status_index": index, "kid": key.kid, "issued_at": now,
            "token": vc.sign(payload, key),
        }  # fmt: skip
        token = await repository.store_issued(uow.conn, row)
        await uow.commit()
    return token


async def jwks(uow_factory: UowFactory) -> dict[str, Any]:
    async with uow_factory() as uow:
        return {"keys": await repository.public_keys(uow.conn)}


async def status_list(uow_factory: UowFactory, deps: CredentialDeps, list_id: str) -> str:
    """The signed status list, made from the revocations stored when it is asked for."""
    async with uow_factory() as uow:
        if not await repository.status_list_used(uow.conn, list_id):
            raise NotFound(f"no status list {list_id} / 无此状态列表", field="list_id")
        revoked = await repository.revoked_indexes(uow.conn, list_id)
        signer = await repository.signing_key_pem(uow.conn)
    assert signer is not None  # a list in use had a credential signed
    payload = domain.status_list_credential(deps.issuer, list_id, revoked, datetime.now(UTC))
    return vc.sign(payload, deps.signing_key(*signer))


async def verify(uow_factory: UowFactory, deps: CredentialDeps, token: str) -> dict[str, Any]:
    """Verifies as any verifier would, from the published keys and the signed status list, with
    this street as the trusted issuer; the answer says why a credential fails."""
    now = datetime.now(UTC)
    keys = await jwks(uow_factory)
    checked = None
    try:
        checked = vc.check_credential(token.strip(), keys, deps.issuer.id, now)
        status_token = None
        if checked.status is not None:
            prefix = deps.issuer.status_list_url("")
            list_id = checked.status.list_url.removeprefix(prefix)
            if checked.status.list_url.startswith(prefix) and list_id.isdigit():
                try:
                    status_token = await status_list(uow_factory, deps, list_id)
                except NotFound:
                    status_token = None
        vc.check_status(checked, status_token, keys, deps.issuer.id, now)
    except vc.CredentialFailure as failure:
        return vc.verdict(failure, checked)
    return vc.verdict(None, checked)
