"""Verifiable honours (docs/decisions/0012-open-badges.md): an honour in a resident's passport as
an Open Badges 3.0 credential (`OpenBadgeCredential`, W3C VC Data Model 2.0), the street as its
issuer, and the Bitstring Status List that revokes it. Pure: builds the JSON to be signed.

The resident is named by a pseudonym, never by contact data nor by their id in learnstreet: the
subject id is a UUID derived from the resident id with the street's key (HMAC), the same for all
of a resident's credentials (they can be shown together), meaningless to whoever lacks the key.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

from shared import credentials as vc
from shared.reference import Reference

STATUS_PURPOSE = "revocation"
# Status positions: the n-th credential issued lands on list n // BITS + 1 at an index spread by
# an odd multiplier (a bijection modulo 2^17), so that neighbours in a list are not neighbours in
# time and an index does not tell how many were issued before it.
_SPREAD = 0x9E37_79B1 % vc.STATUS_LIST_BITS | 1


def status_position(n: int) -> tuple[str, int]:
    if n < 0:
        raise ValueError("issue numbers start at 0")
    return str(n // vc.STATUS_LIST_BITS + 1), (n % vc.STATUS_LIST_BITS) * _SPREAD % vc.STATUS_LIST_BITS


def subject_id(key: bytes, resident_id: str) -> str:
    digest = hmac.new(key, f"learnstreet-credential-subject:v1:{resident_id}".encode(), sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=4).urn


# What each honour kind recognises, for the achievement's description and criteria. Names come
# from the street's reference data; the thresholds are the street's indicator file's (scoring),
# so the criteria say what is measured, not the numbers.
KIND_TEXT: dict[str, dict[str, str]] = {
    "learning_star": {
        "zh-CN": "居民在评选年度内参加社区学习累计达到街道规定的学习时长。",
        "en": "A resident whose community learning in the year reached the hours the street sets.",
    },
    "learning_family": {
        "zh-CN": "家庭中达到街道规定人数的成员在评选年度内各自达到规定的学习时长。",
        "en": "A family in which the number of members the street sets each reached its learning hours in the year.",
    },
    "book_fragrant_enterprise": {
        "zh-CN": "企业登记员工中参加社区学习的比例达到街道规定。",
        "en": "An employer the share of whose registered employees who took part in learning reached the street's bar.",
    },
    "excellent_volunteer": {
        "zh-CN": "志愿者授课累计学习时长达到街道规定。",
        "en": "A volunteer whose courses gave the attendance hours the street sets.",
    },
    "knowledge_competition": {
        "zh-CN": "在街道组织的知识竞赛中获奖。",
        "en": "A prize in a knowledge competition the street held.",
    },
}
_GENERIC = {"zh-CN": "由街道按评选规则授予的荣誉。", "en": "An honour the street awarded under its selection rules."}


def _both(zh: str, en: str) -> str:
    return zh if zh == en else f"{zh} / {en}"


@dataclass(frozen=True)
class Issuer:
    """The street as an Open Badges issuer: `base_url` is where this service is reached."""

    base_url: str
    reference: Reference

    @property
    def id(self) -> str:
        return f"{self.base_url}/v1/credentials/issuer"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/jwks.json"

    def status_list_url(self, list_id: str) -> str:
        return f"{self.base_url}/v1/credentials/status/{list_id}"

    def achievement_id(self, kind: str) -> str:
        return f"urn:learnstreet:{self.reference.street.id}:achievement:{kind}"

    def profile(self) -> dict[str, Any]:
        street = self.reference.street
        return {
            "id": self.id,
            "type": ["Profile"],
            "name": _both(street.name_zh, street.name_en),
            "url": self.base_url,
            "description": _both(f"{street.name_zh}学习型街道", f"{street.name_en}, a learning street"),
        }


@dataclass(frozen=True)
class Honour:
    """What the passport knows of an awarded honour, as the credential needs it."""

    honour_id: str
    kind: str
    period: str
    recipient_kind: str
    awarded_at: datetime


def achievement(issuer: Issuer, kind: str) -> dict[str, Any]:
    reference = issuer.reference
    name = {lang: reference.honour_name(kind, lang) for lang in ("zh-CN", "en")}
    text = KIND_TEXT.get(kind) or KIND_TEXT.get(kind.split(":", 1)[0]) or _GENERIC
    street = reference.street
    return {
        "id": issuer.achievement_id(kind),
        "type": ["Achievement"],
        "achievementType": "Award",
        "name": _both(name["zh-CN"], name["en"]),
        "description": _both(
            f"{street.name_zh}授予的“{name['zh-CN']}”荣誉。", f"The {street.name_en} honour “{name['en']}”."
        ),
        "criteria": {"narrative": _both(text["zh-CN"], text["en"])},
        "humanCode": kind,
        "creator": {"id": issuer.id, "type": ["Profile"], "name": _both(street.name_zh, street.name_en)},
    }


def open_badge(
    issuer: Issuer,
    honour: Honour,
    *,
    credential_id: str,
    subject: str,
    list_id: str,
    index: int,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """The credential as signed: the OB 3.0 fields, then the JWT claims that repeat them."""
    badge = achievement(issuer, honour.kind)
    credential: dict[str, Any] = {
        "@context": [vc.VC_CONTEXT, vc.OB_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{badge['name']} ({honour.period})",
        "issuer": issuer.profile(),
        "validFrom": vc.timestamp(honour.awarded_at),
        "awardedDate": vc.timestamp(honour.awarded_at),
        "credentialSubject": {
            "id": subject,
            "type": ["AchievementSubject"],
            "achievement": badge,
            "term": honour.period,
        },
        "credentialStatus": {
            "id": f"{issuer.status_list_url(list_id)}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": STATUS_PURPOSE,
            "statusListIndex": str(index),
            "statusListCredential": issuer.status_list_url(list_id),
        },
        "credentialSchema": [{"id": vc.OB_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }
    claims: dict[str, Any] = {
        "iss": issuer.id,
        "jti": credential_id,
        "sub": subject,
        "nbf": vc.epoch(honour.awarded_at),
    }
    if valid_until is not None:
        credential["validUntil"] = vc.timestamp(valid_until)
        claims["exp"] = vc.epoch(valid_until)
    return {**credential, **claims}


def status_list_credential(issuer: Issuer, list_id: str, set_indexes: list[int], now: datetime) -> dict[str, Any]:
    """The signed list of one `list_id`, as of `now` (it is made on each request from the stored
    revocations, so it is never older than the passport)."""
    url = issuer.status_list_url(list_id)
    return {
        "@context": [vc.VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.id,
        "validFrom": vc.timestamp(now),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": STATUS_PURPOSE,
            "encodedList": vc.encode_status_list(set_indexes),
            "ttl": 60_000,  # ms: how long a verifier may cache it
        },
        "iss": issuer.id,
        "jti": url,
        "nbf": vc.epoch(now),
    }
