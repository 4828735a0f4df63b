"""Kiosk signing keys and signature checks (contract v2): the operator's use cases (register and
retire a kiosk's key, set a venue's deadline for unsigned check-ins) and the check both check-in
paths run, a batch at a time (one query for the batch's kiosks' keys, one for its venues'
deadlines, then the verifications)."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from prometheus_client import Counter, Histogram

from services.activities.adapters import kiosk_keys
from services.activities.domain import signing
from services.activities.domain.signing import KioskKey
from services.activities.service_layer.handlers import Context
from shared.http.errors import Conflict, DomainError, Invalid, NotFound
from shared.kiosk_signing import PUBLIC_KEY_BYTES, Verifier, key_id, public_bytes, signature_headers

SIGNATURES = Counter(
    "learnstreet_activities_checkin_signatures_total",
    "Check-ins by signature: signed (verified), unsigned (accepted in a venue's migration window), refused.",
    ["outcome"],
)
VERIFY_SECONDS = Histogram(
    "learnstreet_activities_checkin_signature_check_seconds",
    "Time to check the signatures of one batch of check-ins (lookups and verifications).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)

# One per process: parsed public keys and the verdicts of signatures already checked (replays).
VERIFIER = Verifier()


class BadSignature(DomainError):
    status_code = 403


async def refusals(conn, items: Sequence[tuple[object, object]], received_at: datetime) -> dict[int, str]:
    """{index: why} of the check-ins of `items` [(KioskCheckin, headers)] refused `bad_signature`."""
    if not items:
        return {}
    started = time.perf_counter()
    parsed = [signature_headers(headers) for _, headers in items]
    kiosks = sorted({c.kiosk_id for c, _ in items})
    unsigned_venues = sorted({c.venue_id for (c, _), (sig, _) in zip(items, parsed, strict=True) if sig is None})
    keys = await kiosk_keys.active_keys(conn, kiosks)
    deadlines = await kiosk_keys.unsigned_deadlines(conn, unsigned_venues) if unsigned_venues else {}
    out: dict[int, str] = {}
    for i, ((checkin, _), (signature, kid)) in enumerate(zip(items, parsed, strict=True)):
        why = signing.refusal(
            checkin,
            signature,
            kid,
            keys.get(checkin.kiosk_id, ()),
            deadlines.get(checkin.venue_id),
            received_at,
            VERIFIER.verify,
        )
        if why is not None:
            out[i] = why
            SIGNATURES.labels("refused").inc()
        else:
            SIGNATURES.labels("unsigned" if signature is None else "signed").inc()
    VERIFY_SECONDS.observe(time.perf_counter() - started)
    return out


async def check(ctx: Context, checkin, headers) -> None:
    """The HTTP path's check of one check-in: raises BadSignature when it is refused."""
    async with ctx.uow() as uow:
        refused = await refusals(uow.conn, [(checkin, headers)], datetime.now(UTC))
    if refused:
        raise BadSignature(refused[0], field="ls-signature")


# --- the operator's use cases ---------------------------------------------------------------


def parse_public_key(text: str) -> bytes:
    """The raw 32 bytes of an Ed25519 public key given as PEM (`openssl pkey -pubout`) or as the
    base64 of the raw key."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode())
        except ValueError:
            raise Invalid("not a PEM public key", field="public_key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise Invalid("not an Ed25519 public key", field="public_key")
        return public_bytes(key)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("neither PEM nor base64", field="public_key") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise Invalid(f"an Ed25519 public key has {PUBLIC_KEY_BYTES} bytes, not {len(raw)}", field="public_key")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise Invalid("not an Ed25519 public key", field="public_key") from None
    return raw


def _key_out(r) -> dict:
    return {
        "key_id": r["key_id"],
        "kiosk_id": r["kiosk_id"],
        "public_key": base64.b64encode(bytes(r["public_key"])).decode(),
        "registered_by": r["registered_by"],
        "registered_at": r["registered_at"],
        "retired_at": r["retired_at"],
    }


async def register_key(ctx: Context, kiosk_id: str, public_key: str, by: str) -> tuple[dict, bool]:
    """Register a public key for a kiosk (a new kiosk, or a rotation: the old key stays valid until
    it is retired). Returns (the key, True when it is new)."""
    raw = parse_public_key(public_key)
    key = KioskKey(key_id(raw), kiosk_id, raw)
    async with ctx.uow() as uow:
        if not await kiosk_keys.kiosk_exists(uow.conn, kiosk_id):
            raise NotFound(f"no kiosk {kiosk_id} is registered at a venue", field="kiosk_id")
        stored, created = await kiosk_keys.register(uow.conn, key, by)
        if stored.kiosk_id != kiosk_id:
            raise Conflict(f"this key is registered for kiosk {stored.kiosk_id}", field="public_key")
        rows = [r for r in await kiosk_keys.keys_of(uow.conn, kiosk_id) if r["key_id"] == key.key_id]
        await uow.commit()
    return _key_out(rows[0]), created


async def keys_of(ctx: Context, kiosk_id: str) -> list[dict]:
    async with ctx.uow() as uow:
        return [_key_out(r) for r in await kiosk_keys.keys_of(uow.conn, kiosk_id)]


async def retire_key(ctx: Context, kiosk_id: str, kid: str) -> dict:
    async with ctx.uow() as uow:
        row = await kiosk_keys.retire(uow.conn, kiosk_id, kid)
        if row is None:
            raise NotFound(f"kiosk {kiosk_id} has no key {kid}", field="key_id")
        await uow.commit()
    return _key_out(row)


async def set_unsigned_deadline(ctx: Context, venue_id: str, until: datetime | None, by: str) -> datetime | None:
    async with ctx.uow() as uow:
        if not await kiosk_keys.venue_exists(uow.conn, venue_id):
            raise NotFound(f"no venue {venue_id}", field="venue_id")
        await kiosk_keys.set_unsigned_deadline(uow.conn, venue_id, until, by)
        await uow.commit()
    return until


async def unsigned_deadline(ctx: Context, venue_id: str) -> datetime | None:
    async with ctx.uow() as uow:
        if not await kiosk_keys.venue_exists(uow.conn, venue_id):
            raise NotFound(f"no venue {venue_id}", field="venue_id")
        return await kiosk_keys.unsigned_deadline(uow.conn, venue_id)
