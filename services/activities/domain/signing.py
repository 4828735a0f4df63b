"""When a kiosk check-in's signature is good enough (contract v2): pure rules, no I/O.

A check-in is refused with `bad_signature` when
- it is signed, but the signature is malformed, names a key that is not one of the record's
  kiosk's active keys, or does not verify over the record's canonical form (a tampered field, a
  kiosk signing a scan in another kiosk's name);
- it is unsigned and its kiosk has a registered key (once a kiosk signs, nobody may drop the
  signature and speak for it);
- it is unsigned and arrived at or after its venue's deadline for unsigned check-ins.
An unsigned check-in of a kiosk without a key, at a venue whose deadline is not reached (or not
set), is accepted: the migration window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.kiosk_signing import Unsignable, canonical_of

REASON = "bad_signature"


@dataclass(frozen=True)
class KioskKey:
    key_id: str
    kiosk_id: str
    public_key: bytes


def refusal(
    checkin,
    signature: bytes | None,
    key_id: str | None,
    keys: Sequence[KioskKey],
    unsigned_until: datetime | None,
    received_at: datetime,
    verify: Callable[[bytes, bytes, bytes], bool],
) -> str | None:
    """Why `checkin` is refused (`bad_signature`), or None when it is accepted.
    `signature`: None when unsigned, b"" when the header was there but not a signature; `keys`: the
    active keys of the record's kiosk; `verify(public_key, signature, message)`."""
    kiosk = checkin.kiosk_id
    if signature is None:
        if keys:
            return f"unsigned, but kiosk {kiosk} has a registered key: its check-ins must be signed"
        if unsigned_until is not None and received_at >= unsigned_until:
            return f"unsigned: venue {checkin.venue_id} refuses unsigned check-ins since {unsigned_until.isoformat()}"
        return None
    if not signature:
        return "ls-signature is not a base64 Ed25519 signature (64 bytes)"
    candidates = [k for k in keys if k.key_id == key_id] if key_id else list(keys)
    if not candidates:
        if key_id:
            return f"key {key_id} is not an active key of kiosk {kiosk}"
        return f"kiosk {kiosk} has no registered key"
    try:
        message = canonical_of(checkin)
    except Unsignable as e:
        return f"cannot be signed: {e}"
    if any(verify(k.public_key, signature, message) for k in candidates):
        return None
    return f"the signature does not match the record with {'key ' + key_id if key_id else 'any key'} of kiosk {kiosk}"
