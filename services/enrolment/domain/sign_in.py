"""Residents' sign-in with a one-time code sent by SMS (docs/decisions/0017-resident-sign-in.md).

Pure rules: the phone's lookup key, the code and its keyed hash, the rate limits and the checks
of an exchange. The database keeps only what these functions compute (hashes, counts, times)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

CODE_DIGITS = 6
_SEPARATORS = re.compile(r"[ -]")
_CODE = re.compile(r"^[0-9]{6}$")


def national_phone(phone: str) -> str:
    """The number as digits, without separators or mainland China's country code, so that
    "+86 138-0013-8000", "008613800138000" and "13800138000" are one phone. Other numbers keep
    their digits as written (a leading + dropped)."""
    digits = _SEPARATORS.sub("", phone).removeprefix("+")
    for prefix in ("0086", "86"):
        rest = digits.removeprefix(prefix)
        if rest != digits and len(rest) == 11 and rest.startswith("1"):
            return rest
    return digits


def phone_spellings(phone: str) -> list[str]:
    """The separator-free spellings a registered phone may have been stored with."""
    national = national_phone(phone)
    if len(national) == 11 and national.startswith("1"):
        return [national, f"+86{national}", f"86{national}", f"0086{national}"]
    return [national, f"+{national}"]


def keyed_hash(key: bytes, purpose: str, value: str) -> bytes:
    """HMAC-SHA256 under the street's sign-in key: a stolen table gives neither the phones nor
    (with a 10^6 code space that a plain hash would not protect) the codes."""
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()


def phone_key(key: bytes, phone: str) -> bytes:
    return keyed_hash(key, "phone", national_phone(phone))


def code_hash(key: bytes, phone: str, code: str) -> bytes:
    # bound to the phone: a code's hash is worth nothing for another number
    return keyed_hash(key, f"code:{national_phone(phone)}", code)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def well_formed_code(code: str) -> bool:
    return bool(_CODE.match(code))


@dataclass(frozen=True)
class Limits:
    """How often codes may be asked for, and what a code is worth."""

    code_ttl: timedelta = timedelta(minutes=5)
    phone_interval: timedelta = timedelta(seconds=60)  # one code per phone per interval
    phone_per_hour: int = 5
    ip_per_hour: int = 20
    max_attempts: int = 5  # wrong codes before the code is dead


@dataclass(frozen=True)
class Refused:
    """A request over a limit: which one, and how long until one is allowed again."""

    reason: str
    retry_after: timedelta

    @property
    def retry_after_s(self) -> int:
        return max(1, int(-(-self.retry_after.total_seconds() // 1)))  # rounded up, at least 1


def check_rate(
    now: datetime, phone_requests: list[datetime], ip_requests: list[datetime], limits: Limits
) -> Refused | None:
    """Whether one more code may be sent, given the earlier requests of the last hour for this
    phone and this client address (each counted whether or not the phone is registered, so the
    answers tell nothing about registration)."""
    hour = timedelta(hours=1)
    phone_recent = sorted(t for t in phone_requests if now - t < hour)
    ip_recent = sorted(t for t in ip_requests if now - t < hour)
    refusals = []
    if phone_recent and now - phone_recent[-1] < limits.phone_interval:
        refusals.append(Refused("phone_interval", phone_recent[-1] + limits.phone_interval - now))
    if len(phone_recent) >= limits.phone_per_hour:
        refusals.append(Refused("phone_hourly", phone_recent[-limits.phone_per_hour] + hour - now))
    if len(ip_recent) >= limits.ip_per_hour:
        refusals.append(Refused("ip_hourly", ip_recent[-limits.ip_per_hour] + hour - now))
    return max(refusals, key=lambda r: r.retry_after) if refusals else None


@dataclass(frozen=True)
class StoredCode:
    resident_ids: tuple[str, ...]  # empty: the phone is not registered (a code nobody receives)
    code_hash: bytes
    expires_at: datetime
    attempts: int
    used: bool


class CodeRefused(Exception):
    """The code does not sign in; `dead` when a new code must be asked for."""

    def __init__(self, reason: str, *, dead: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dead = dead


def check_code(stored: StoredCode | None, offered_hash: bytes, now: datetime, limits: Limits) -> bool:
    """Raises CodeRefused unless the offered code signs in; returns whether it was wrong (the
    caller counts the attempt). One message for unknown, expired, used and wrong codes, so that
    the answer says nothing of the phone."""
    if stored is None or stored.used or now >= stored.expires_at:
        raise CodeRefused("wrong_or_expired")
    if stored.attempts >= limits.max_attempts:
        raise CodeRefused("too_many_attempts", dead=True)
    if not hmac.compare_digest(stored.code_hash, offered_hash) or not stored.resident_ids:
        return True
    return False
