"""Our JSON Schema (draft 2019-09) of what Open Badges 3.0 requires of an OpenBadgeCredential.

Written for learnstreet's tests from the Open Badges 3.0 specification's data model (classes
OpenBadgeCredential / AchievementCredential, Profile, AchievementSubject, Achievement, Criteria)
and the W3C Verifiable Credentials Data Model 2.0 it builds on: the required properties, their
types, the required type values and the two contexts in order. It is not 1EdTech's schema file
(which the build machine cannot reach); a credential valid here may still break a rule of the
specification this schema does not state (e.g. language maps, result descriptions).
"""

from __future__ import annotations

_URI = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$"}
_DATE_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"}


def _types(*required: str) -> dict:
    """A `type` that is a string or an array holding each required value."""
    if len(required) == 1:
        one = {"const": required[0]}
        return {"oneOf": [one, {"type": "array", "minItems": 1, "items": {"type": "string"}, "contains": one}]}
    return {"type": "array", "items": {"type": "string"}, "allOf": [{"contains": {"const": r}} for r in required]}


PROFILE = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {"id": _URI, "type": _types("Profile"), "name": {"type": "string"}, "url": _URI},
}

CRITERIA = {
    "type": "object",
    "anyOf": [{"required": ["id"]}, {"required": ["narrative"]}],
    "properties": {"id": _URI, "narrative": {"type": "string", "minLength": 1}},
}

ACHIEVEMENT = {
    "type": "object",
    "required": ["id", "type", "name", "description", "criteria"],
    "properties": {
        "id": _URI,
        "type": _types("Achievement"),
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "criteria": CRITERIA,
        "achievementType": {"type": "string"},
        "creator": PROFILE,
        "humanCode": {"type": "string"},
    },
}

ACHIEVEMENT_SUBJECT = {
    "type": "object",
    "required": ["type", "achievement"],
    "anyOf": [{"required": ["id"]}, {"required": ["identifier"]}],
    "properties": {"id": _URI, "type": _types("AchievementSubject"), "achievement": ACHIEVEMENT},
}

STATUS = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": _URI,
        "type": {"type": "string"},
        "statusPurpose": {"enum": ["revocation", "suspension", "refresh", "message"]},
        "statusListIndex": {"type": "string", "pattern": r"^\d+$"},
        "statusListCredential": _URI,
    },
}

OPEN_BADGE_CREDENTIAL = {
    "$schema": "https://json-schema.org/draft/2019-09/schema",
    "type": "object",
    "required": ["@context", "id", "type", "issuer", "validFrom", "name", "credentialSubject"],
    "properties": {
        "@context": {
            "type": "array",
            "minItems": 2,
            "items": [{"const": "https://www.w3.org/ns/credentials/v2"}],
            "contains": {
                "type": "string",
                "pattern": r"^https://purl\.imsglobal\.org/spec/ob/v3p0/context(-3\.\d+\.\d+)?\.json$",
            },
        },
        "id": _URI,
        "type": {
            "type": "array",
            "items": {"type": "string"},
            "allOf": [
                {"contains": {"const": "VerifiableCredential"}},
                {"contains": {"enum": ["OpenBadgeCredential", "AchievementCredential"]}},
            ],
        },
        "name": {"type": "string", "minLength": 1},
        "issuer": PROFILE,
        "validFrom": _DATE_TIME,
        "validUntil": _DATE_TIME,
        "awardedDate": _DATE_TIME,
        "credentialSubject": ACHIEVEMENT_SUBJECT,
        "credentialStatus": STATUS,
        "credentialSchema": {"type": "array", "items": {"type": "object", "required": ["id", "type"]}},
    },
}
