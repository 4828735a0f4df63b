"""Verifiable credentials as VC-JWT, and the Bitstring Status List: the parts an issuer and every
verifier share (the enrolment service issues Open Badges 3.0 credentials and verifies them on
POST /v1/credentials/verify; `learnstreet verify FILE` verifies them on an operator's machine).

Pure: keys, key sets and status lists come in as values, nothing is fetched here. The formats:
- VC-JWT (W3C VC-JOSE-COSE): a compact JWS whose payload is the credential itself, header
  `typ: vc+jwt` and the signing key's `kid`; ES256 (P-256) signs, EdDSA is accepted too. The
  registered claims `iss`, `jti`, `sub`, `nbf` (and `exp` when the credential has `validUntil`)
  repeat the credential's own fields, as Open Badges 3.0 asks of a VC-JWT.
- Bitstring Status List v1.0: one bit per issued credential at its `statusListIndex`, index 0
  the leftmost bit of the first byte; GZIP, then multibase base64url (`u` prefix, no padding);
  at least 131,072 bits (16 KiB) so that one list hides who in it was revoked.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# How far ahead of the verifier's clock a credential's start may be. The issuer's clock is another
# machine's, and a status list is dated when it is signed, which may be a second after the verifier
# read its own clock. Expiry stays strict: an expired credential is refused at once.
START_SKEW = timedelta(seconds=60)
OB_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
JWT_TYPE = "vc+jwt"
MEDIA_TYPE = "application/vc+jwt"
SIGNING_ALGORITHM = "ES256"
ACCEPTED_ALGORITHMS = ("ES256", "EdDSA")
STATUS_LIST_BITS = 131_072
MAX_TOKEN_CHARS = 65_536  # a credential is a few KB; a status list ~100 bytes gzipped plus its frame
MAX_STATUS_LIST_BYTES = 16 * 1024 * 1024  # decompressed: refuses a gzip bomb, allows 128 M entries

# Why a credential fails, for people (the codes are the API's and the CLI's `reason`).
REASONS: dict[str, str] = {
    "malformed": "not a VC-JWT Open Badge credential / 不是有效格式的开放徽章凭证",
    "unknown_kid": "signed with a key the issuer does not publish / 签名密钥不在签发方公布的密钥中",
    "bad_signature": "the signature does not match the content (altered or forged) / 签名与内容不符（已被篡改或伪造）",
    "wrong_issuer": "issued by someone else than the trusted issuer / 签发方不是受信任的签发方",
    "not_yet_valid": "not valid yet / 尚未生效",
    "expired": "expired / 已过期",
    "revoked": "revoked by the issuer / 已被签发方撤销",
    "suspended": "suspended by the issuer / 已被签发方暂停",
    "status_unavailable": "the issuer's status list could not be checked / 无法核验签发方的状态列表",
}


class CredentialFailure(Exception):
    """A credential that does not verify: `reason` is a key of REASONS, `detail` says what was seen."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --- keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    public_jwk: dict[str, str]


def thumbprint(public_jwk: Mapping[str, str]) -> str:
    """RFC 7638: the key's own fingerprint as its kid, so that a kid names exactly one key."""
    members = {k: public_jwk[k] for k in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk_of(private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public = {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    return {**public, "kid": thumbprint(public), "alg": SIGNING_ALGORITHM, "use": "sig"}


def new_signing_key() -> SigningKey:
    private_key = ec.generate_private_key(ec.SECP256R1())
    public = public_jwk_of(private_key)
    return SigningKey(public["kid"], private_key, public)


def private_pem(key: SigningKey, passphrase: bytes) -> str:
    """PKCS#8 PEM encrypted with the passphrase: a copy of the database alone cannot sign."""
    return key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    ).decode()


def load_signing_key(pem: str, passphrase: bytes) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem.encode(), password=passphrase)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    public = public_jwk_of(private_key)
    return SigningKey(public["kid"], private_key, public)


def sign(payload: Mapping[str, Any], key: SigningKey) -> str:
    return jwt.encode(
        dict(payload), key.private_key, algorithm=SIGNING_ALGORITHM, headers={"typ": JWT_TYPE, "kid": key.kid}
    )


def epoch(at: datetime) -> int:
    return int(at.timestamp())


def timestamp(at: datetime) -> str:
    """XML Schema dateTime in UTC with a Z, to the second (what validFrom and validUntil carry)."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- the status list ------------------------------------------------------------------------------


def encode_status_list(set_indexes: Iterable[int], size: int = STATUS_LIST_BITS) -> str:
    if size < STATUS_LIST_BITS or size % 8:
        raise ValueError(f"a status list holds a multiple of 8 bits, at least {STATUS_LIST_BITS}")
    bits = bytearray(size // 8)
    for index in set_indexes:
        if not 0 <= index < size:
            raise ValueError(f"index {index} outside the list of {size} entries")
        bits[index // 8] |= 0x80 >> (index % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)  # mtime 0: the same bits encode the same
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode()


def decode_status_list(encoded: str) -> bytes:
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise CredentialFailure("status_unavailable", "encodedList is not multibase base64url ('u' prefix)")
    body = encoded[1:]
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj(wbits=31)  # gzip framing
        bits = inflater.decompress(compressed, MAX_STATUS_LIST_BYTES)
    except (ValueError, zlib.error) as e:
        raise CredentialFailure("status_unavailable", f"encodedList does not decode: {e}") from None
    if inflater.unconsumed_tail:
        raise CredentialFailure("status_unavailable", "encodedList decompresses to more than allowed")
    if len(bits) * 8 < STATUS_LIST_BITS:
        raise CredentialFailure("status_unavailable", f"status list of {len(bits) * 8} bits, under the minimum")
    return bits


def bit_at(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise CredentialFailure("status_unavailable", f"statusListIndex {index} outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


# --- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusEntry:
    list_url: str
    index: int
    purpose: str


@dataclass(frozen=True)
class Checked:
    """A credential whose signature, issuer and dates hold; its status is still to be checked."""

    kid: str
    credential: dict[str, Any]
    status: StatusEntry | None


def _unverified_header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise CredentialFailure("malformed", f"a compact JWS of at most {MAX_TOKEN_CHARS} characters is expected")
    if token.count(".") != 2:
        raise CredentialFailure("malformed", "a compact JWS has three dot-separated parts")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise CredentialFailure("malformed", f"the JOSE header does not decode: {e}") from None
    if header.get("typ") != JWT_TYPE:
        raise CredentialFailure("malformed", f"JOSE header typ is {header.get('typ')!r}, not {JWT_TYPE!r}")
    if header.get("alg") not in ACCEPTED_ALGORITHMS:
        raise CredentialFailure("malformed", f"algorithm {header.get('alg')!r} is not one of {ACCEPTED_ALGORITHMS}")
    if not isinstance(header.get("kid"), str):
        raise CredentialFailure("malformed", "the JOSE header names no kid")
    return header


def _key(jwks: Mapping[str, Any], kid: str, alg: str) -> jwt.PyJWK:
    for candidate in jwks.get("keys") or ():
        if isinstance(candidate, Mapping) and candidate.get("kid") == kid:
            try:
                return jwt.PyJWK(dict(candidate), algorithm=alg)
            except jwt.PyJWTError as e:
                raise CredentialFailure("unknown_kid", f"the published key {kid} is unusable: {e}") from None
    raise CredentialFailure("unknown_kid", f"kid {kid} is not in the issuer's key set")


def _decoded(token: str, jwks: Mapping[str, Any], now: datetime) -> tuple[str, dict[str, Any]]:
    header = _unverified_header(token)
    key = _key(jwks, header["kid"], header["alg"])
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[header["alg"]],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError:
        raise CredentialFailure("bad_signature", f"signature does not verify with key {header['kid']}") from None
    except jwt.PyJWTError as e:
        raise CredentialFailure("malformed", f"the JWS does not decode: {e}") from None
    _check_dates(payload, now)
    return header["kid"], payload


def _instant(value: Any, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CredentialFailure("malformed", f"{name} {value!r} is not a date-time") from None
    if at.tzinfo is None:
        raise CredentialFailure("malformed", f"{name} {value!r} has no time zone")
    return at


def _check_dates(payload: Mapping[str, Any], now: datetime) -> None:
    """validFrom/validUntil are the credential's; nbf/exp the JWT's copies. Either failing fails."""
    starts = [_instant(payload["validFrom"], "validFrom")] if "validFrom" in payload else []
    ends = [_instant(payload["validUntil"], "validUntil")] if "validUntil" in payload else []
    for claim, bucket in (("nbf", starts), ("exp", ends)):
        if claim in payload:
            if not isinstance(payload[claim], int | float):
                raise CredentialFailure("malformed", f"JWT claim {claim} is not a number")
            bucket.append(datetime.fromtimestamp(payload[claim], UTC))
    if not starts:
        raise CredentialFailure("malformed", "the credential has no validFrom")
    if max(starts) > now + START_SKEW:
        raise CredentialFailure("not_yet_valid", f"valid from {timestamp(max(starts))}")
    if ends and min(ends) <= now:
        raise CredentialFailure("expired", f"valid until {timestamp(min(ends))}")


def _types(value: Any) -> set[str]:
    return {value} if isinstance(value, str) else {t for t in value or () if isinstance(t, str)}


def issuer_id(credential: Mapping[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    value = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    return value if isinstance(value, str) else None


def _status_entry(credential: Mapping[str, Any]) -> StatusEntry | None:
    status = credential.get("credentialStatus")
    if status is None:
        return None
    if not isinstance(status, Mapping) or status.get("type") != "BitstringStatusListEntry":
        raise CredentialFailure("malformed", "credentialStatus is not a BitstringStatusListEntry")
    try:
        index = int(status["statusListIndex"])
        url = str(status["statusListCredential"])
        purpose = str(status.get("statusPurpose", "revocation"))
    except (KeyError, TypeError, ValueError):
        raise CredentialFailure("malformed", "credentialStatus lacks statusListCredential or statusListIndex") from None
    if index < 0:
        raise CredentialFailure("malformed", f"statusListIndex {index} is negative")
    return StatusEntry(url, index, purpose)


def check_credential(token: str, jwks: Mapping[str, Any], issuer: str, now: datetime) -> Checked:
    """Signature (from the trusted issuer's key set), issuer, dates and shape of an Open Badge.
    Raises CredentialFailure with the first reason it fails for."""
    kid, credential = _decoded(token, jwks, now)
    if not {"VerifiableCredential", "OpenBadgeCredential"} <= _types(credential.get("type")) and not {
        "VerifiableCredential",
        "AchievementCredential",
    } <= _types(credential.get("type")):
        raise CredentialFailure("malformed", "type is not VerifiableCredential + OpenBadgeCredential")
    subject = credential.get("credentialSubject")
    if not isinstance(subject, Mapping) or not isinstance(subject.get("achievement"), Mapping):
        raise CredentialFailure("malformed", "credentialSubject has no achievement")
    found = issuer_id(credential)
    if found != issuer:
        raise CredentialFailure("wrong_issuer", f"issuer {found!r}, trusted issuer {issuer!r}")
    if credential.get("iss", issuer) != issuer:
        raise CredentialFailure("malformed", "JWT claim iss differs from the credential's issuer")
    return Checked(kid, credential, _status_entry(credential))


def check_status(
    checked: Checked, status_token: str | None, jwks: Mapping[str, Any], issuer: str, now: datetime
) -> None:
    """The credential's bit in the issuer's signed status list (None: the list was not obtained)."""
    entry = checked.status
    if entry is None:
        return
    if status_token is None:
        raise CredentialFailure("status_unavailable", f"no status list from {entry.list_url}")
    try:
        _, status_list = _decoded(status_token.strip(), jwks, now)
    except CredentialFailure as e:
        raise CredentialFailure("status_unavailable", f"the status list does not verify: {e}") from None
    if "BitstringStatusListCredential" not in _types(status_list.get("type")):
        raise CredentialFailure("status_unavailable", "the status list is not a BitstringStatusListCredential")
    if issuer_id(status_list) != issuer or status_list.get("id") != entry.list_url:
        raise CredentialFailure("status_unavailable", f"the status list is not the issuer's list {entry.list_url}")
    subject = status_list.get("credentialSubject")
    if not isinstance(subject, Mapping) or subject.get("statusPurpose") != entry.purpose:
        raise CredentialFailure("status_unavailable", f"the status list is not a {entry.purpose} list")
    if bit_at(decode_status_list(subject.get("encodedList")), entry.index):
        reason = {"revocation": "revoked", "suspension": "suspended"}.get(entry.purpose, "revoked")
        raise CredentialFailure(reason, f"its bit {entry.index} is set in {entry.list_url}")


def summary(credential: Mapping[str, Any]) -> dict[str, Any]:
    """What a verifier is told a valid credential says."""
    subject = credential.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {}
    issuer = credential.get("issuer")
    return {
        "id": credential.get("id"),
        "achievement": achievement.get("name"),
        "achievement_id": achievement.get("id"),
        "subject": subject.get("id"),
        "issuer": issuer.get("name") if isinstance(issuer, Mapping) else issuer,
        "valid_from": credential.get("validFrom"),
    }


def verdict(failure: CredentialFailure | None, checked: Checked | None = None) -> dict[str, Any]:
    """The answer of the HTTP endpoint and of the CLI: valid or not, and why not."""
    if failure is None and checked is not None:
        return {
            "valid": True,
            "reason": None,
            "detail": None,
            "kid": checked.kid,
            "credential": summary(checked.credential),
        }
    assert failure is not None
    return {
        "valid": False,
        "reason": failure.reason,
        "detail": f"{REASONS.get(failure.reason, failure.reason)}: {failure.detail}".rstrip(": "),
        "kid": checked.kid if checked else None,
        "credential": summary(checked.credential) if checked else None,
    }
