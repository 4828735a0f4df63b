"""Kiosk cards as keyed digests (docs/decisions/0010-erasure.md, amendment 2026-12-07).

Enrolment tells activities which resident holds which card, and activities maps a kiosk's scan to
the resident; neither the topic between them (`enrolment.resident-cards`) nor activities' map needs
the card itself, only a digest both can compute: HMAC-SHA256 under a key derived from the street's
secret (`LS_JWT_SECRET`), which stays outside Kafka and the databases. So the card number is kept
by enrolment's registry alone, and by the kiosks' raw scans on `kiosk.checkins` until activities has
read them (cut after an erasure). The digest is a pseudonym: whoever holds the street's secret and
a card can recompute it, which an erasure does not undo, and the resident id it maps to names no
one once enrolment has erased its registry row.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

_PURPOSE = b"learnstreet kiosk cards v1"


@dataclass(frozen=True)
class CardDigests:
    key: bytes

    @classmethod
    def for_street(cls, jwt_secret: str) -> CardDigests:
        return cls(hmac.new(jwt_secret.encode(), _PURPOSE, hashlib.sha256).digest())

    def of(self, card: str) -> str:
        return hmac.new(self.key, card.encode(), hashlib.sha256).hexdigest()
