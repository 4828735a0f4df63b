"""Kiosk check-in signatures (contract v2, docs/kiosk-checkin-contract.md): the canonical form of a
check-in, signing it with a kiosk's Ed25519 key, and verifying it. Pure functions, no I/O: kiosks
(the simulators in deploy/demo, bench, chaos, tests) sign with it, the activities service verifies.

The canonical form is what is signed, not the JSON body: JSON has many spellings of one record
(key order, spaces, escapes, `+08:00` or `Z`), and a kiosk in any language must be able to rebuild
the exact bytes. It is the UTF-8 encoding of eight lines joined by LF, no trailing LF:

    learnstreet.kiosk.checkin.v2
    <checkin_id, lower-case hyphenated UUID>
    <kiosk_id>
    <venue_id>
    <resident_id>
    <session_id, or the empty string when null>
    <scanned_at as whole microseconds since 1970-01-01T00:00:00Z, decimal>
    <direction: in | out>

`scanned_at` is signed as an instant (the offset the kiosk wrote does not change when the scan
was). A field holding a line feed cannot be signed unambiguously: such a record never verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CONTEXT = "learnstreet.kiosk.checkin.v2"
# Kafka record headers, and the HTTP request headers of POST /v1/checkins (case-insensitive there).
SIGNATURE_HEADER = "ls-signature"
KEY_ID_HEADER = "ls-key-id"
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Unsignable(ValueError):
    """A check-in whose fields cannot be put in canonical form (a line feed in a field)."""


def epoch_micros(at: datetime) -> int:
    # integer arithmetic on the timedelta: a float timestamp would round some microseconds
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical(
    *,
    checkin_id: uuid.UUID | str,
    kiosk_id: str,
    venue_id: str,
    resident_id: str,
    session_id: str | None,
    scanned_at: datetime,
    direction: str = "in",
) -> bytes:
    """The bytes a kiosk signs for one check-in."""
    if scanned_at.tzinfo is None:
        raise Unsignable("scanned_at: a time without an offset cannot be signed")
    fields = (
        CONTEXT,
        str(uuid.UUID(str(checkin_id))),
        kiosk_id,
        venue_id,
        resident_id,
        session_id or "",
        str(epoch_micros(scanned_at)),
        direction,
    )
    if any("\n" in f for f in fields):
        raise Unsignable("a field holds a line feed")
    return "\n".join(fields).encode("utf-8")


def canonical_of(checkin) -> bytes:
    """`canonical` of a KioskCheckin (or anything with its attributes)."""
    return canonical(
        checkin_id=checkin.checkin_id,
        kiosk_id=checkin.kiosk_id,
        venue_id=checkin.venue_id,
        resident_id=checkin.resident_id,
        session_id=checkin.session_id,
        scanned_at=checkin.scanned_at,
        direction=checkin.direction,
    )


def key_id(public_key: bytes) -> str:
    """The id of a raw 32-byte Ed25519 public key: the first 16 bytes of its SHA-256, hex (what a
    kiosk sends in `ls-key-id`; the service derives it, nobody chooses it)."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def public_bytes(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(private_key: Ed25519PrivateKey, checkin) -> dict[str, str]:
    """The headers that sign `checkin`: {ls-signature: base64 signature, ls-key-id: key id}."""
    signature = private_key.sign(canonical_of(checkin))
    return {
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
        KEY_ID_HEADER: key_id(public_bytes(private_key)),
    }


def decode_signature(text: str | bytes | None) -> bytes | None:
    """The 64 signature bytes of a header value (standard or URL-safe base64, padded or not), or
    None when it is not one."""
    if not text:
        return None
    raw = text if isinstance(text, bytes) else text.encode("ascii", "replace")
    raw = raw.strip().replace(b"-", b"+").replace(b"_", b"/")
    raw += b"=" * (-len(raw) % 4)
    try:
        signature = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return signature if len(signature) == SIGNATURE_BYTES else None


def signature_headers(headers) -> tuple[bytes | None, str | None]:
    """(raw signature, key id) from Kafka record headers [(name, bytes)] or an HTTP header mapping.
    Signature None: absent or not 64 bytes of base64."""
    if isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers or ()
    signature = key = None
    for name, value in items:
        lowered = name.lower()
        if lowered == SIGNATURE_HEADER:
            signature = value
        elif lowered == KEY_ID_HEADER:
            key = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    present = signature is not None
    decoded = decode_signature(signature)
    if present and decoded is None:
        decoded = b""  # present but malformed: must not pass for "unsigned"
    return decoded, key


class Verifier:
    """Verifies signatures against raw public keys, keeping the parsed key objects (parsing one is
    ~20 µs, a verification ~60 µs) and the verdicts of signatures already seen (a kiosk retry, a
    redelivered batch), so a replay costs no second verification."""

    def __init__(self, max_remembered: int = 65_536) -> None:
        self._keys: dict[bytes, Ed25519PublicKey] = {}
        self._seen: dict[tuple[bytes, bytes, bytes], bool] = {}
        self._max = max_remembered
        self.verified = 0  # verifications actually computed (tests check the replay shortcut)

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        seen = (public_key, signature, message)
        known = self._seen.get(seen)
        if known is not None:
            return known
        key = self._keys.get(public_key)
        if key is None:
            if len(self._keys) >= self._max:
                self._keys.clear()
            key = self._keys[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
        self.verified += 1
        try:
            key.verify(signature, message)
            ok = True
        except InvalidSignature:
            ok = False
        if len(self._seen) >= self._max:
            self._seen.clear()
        self._seen[seen] = ok
        return ok
