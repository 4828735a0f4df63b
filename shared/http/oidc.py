"""OpenID Connect access tokens: verification against the issuer's published keys.

Any standards-conforming provider: the issuer's discovery document
(`<issuer>/.well-known/openid-configuration`) names its `jwks_uri`; tokens must be signed with an
asymmetric algorithm of `algorithms` (RS256, ES256 by default) by a key of that set, and carry
this service's audience, the issuer, `exp` and `sub`; `nbf` and `iat` are checked when present.
Nothing here knows a provider: the subject, roles and the community scope are read at
configurable claim paths (`realm_access.roles` is Keycloak's place for realm roles, another
provider names its own; the subject is `sub` unless the provider maps the services' own id of the
person into another claim).

Keys are cached. An unknown `kid` triggers a refresh (a provider rotated its keys), but at most
one per `jwks_min_refresh_s`, so a flood of tokens with invented kids cannot make the service
hammer the provider; `jwks_max_age_s` re-reads the set anyway so a removed key stops working.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt import PyJWK

# Only public-key algorithms: with a symmetric one, anybody holding the published key could sign.
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


class TokenRejected(Exception):
    """The token is not acceptable (a 401); the message says why, without internals."""


class ProviderUnavailable(Exception):
    """The issuer's keys cannot be had, so no token can be checked (a 503, not the caller's fault)."""


@dataclass(frozen=True)
class OIDCConfig:
    issuer: str
    audience: str
    discovery_url: str | None = None  # when the services reach the provider by another address
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    roles_claim: str = "realm_access.roles"
    community_claim: str = "community_id"
    # The id the services know the person by (a resident's card number), when the provider's
    # `sub` is its own identifier: a claim the provider maps from a user attribute.
    subject_claim: str = "sub"
    leeway_s: float = 30.0  # clock skew between the provider and this host
    jwks_min_refresh_s: float = 30.0
    jwks_max_age_s: float = 3600.0
    http_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ValueError("an OIDC issuer and audience are both required")
        weak = [a for a in self.algorithms if a not in ASYMMETRIC]
        if weak or not self.algorithms:
            raise ValueError(f"OIDC algorithms must be asymmetric ({', '.join(sorted(ASYMMETRIC))}); got {weak}")

    @property
    def discovery(self) -> str:
        return self.discovery_url or f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), or None. A key that itself contains a
    dot (a URL-named claim) is matched whole first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def roles_from(claims: dict[str, Any], path: str) -> frozenset[str]:
    """A list of role names, or one space-separated string (as some providers put scopes)."""
    value = claim_at(claims, path)
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def subject_from(claims: dict[str, Any], path: str) -> str | None:
    """The caller's id at `path`; None when the token lacks it (then it identifies nobody here)."""
    value = claim_at(claims, path)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, str) and value else None


def community_from(claims: dict[str, Any], path: str) -> str | None:
    value = claim_at(claims, path)
    if isinstance(value, list) and len(value) == 1:  # a multivalued attribute mapper with one value
        value = value[0]
    return value if isinstance(value, str) and value else None


class JwksCache:
    """The issuer's signing keys by kid, fetched through its discovery document."""

    def __init__(self, config: OIDCConfig) -> None:
        self.config = config
        self._keys: dict[str, PyJWK] = {}
        self._unnamed: list[PyJWK] = []  # keys published without a kid
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self.fetches = 0
        # one lock per event loop: a lock is bound to the loop that first waits on it
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def key_for(self, kid: str | None, alg: str) -> PyJWK:
        now = time.monotonic()
        if (not self._keys and not self._unnamed) or now - self._fetched_at > self.config.jwks_max_age_s:
            await self.refresh()
        key = self._find(kid, alg)
        if key is None and kid is not None:
            await self.refresh()  # a rotated key: at most once per jwks_min_refresh_s
            key = self._find(kid, alg)
        if key is None:
            if not self._keys and not self._unnamed:
                raise ProviderUnavailable("no signing keys from the identity provider")
            raise TokenRejected(f"unknown signing key (kid {kid!r})" if kid else "token names no signing key (kid)")
        if key.algorithm_name != alg:
            raise TokenRejected(f"token algorithm {alg} does not match its key's algorithm {key.algorithm_name}")
        return key

    def _find(self, kid: str | None, alg: str) -> PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        candidates = [k for k in (*self._keys.values(), *self._unnamed) if k.algorithm_name == alg]
        return candidates[0] if len(candidates) == 1 else None  # without a kid, only an unambiguous key

    async def refresh(self) -> None:
        """Re-read the key set, unless that was tried less than jwks_min_refresh_s ago. A failed
        read keeps the keys already known (a provider outage must not log everybody out)."""
        async with self._lock():
            if time.monotonic() - self._attempted_at < self.config.jwks_min_refresh_s:
                return
            self._attempted_at = time.monotonic()
            self.fetches += 1
            try:
                keys, unnamed = await self._fetch()
            except ProviderUnavailable:
                if self._keys or self._unnamed:
                    return
                raise
            self._keys, self._unnamed = keys, unnamed
            self._fetched_at = time.monotonic()

    async def _fetch(self) -> tuple[dict[str, PyJWK], list[PyJWK]]:
        try:
            async with httpx.AsyncClient(timeout=self.config.http_timeout_s, follow_redirects=False) as http:
                doc = (await http.get(self.config.discovery)).raise_for_status().json()
                if doc.get("issuer") != self.config.issuer:
                    raise ProviderUnavailable(
                        f"discovery document names issuer {doc.get('issuer')!r}, configured {self.config.issuer!r}"
                    )
                jwks = (await http.get(doc["jwks_uri"])).raise_for_status().json()
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            raise ProviderUnavailable(f"identity provider keys unavailable: {type(e).__name__}") from None
        return self._parse(jwks.get("keys") if isinstance(jwks, dict) else None)

    def _parse(self, entries: Iterable[Any] | None) -> tuple[dict[str, PyJWK], list[PyJWK]]:
        keys: dict[str, PyJWK] = {}
        unnamed: list[PyJWK] = []
        for entry in entries or ():
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") not in _KEY_TYPES:
                continue  # encryption keys, symmetric keys and junk never verify a signature
            if "alg" in entry and entry["alg"] not in self.config.algorithms:
                continue
            try:
                key = PyJWK(entry)
            except jwt.PyJWTError:
                continue
            if key.algorithm_name not in self.config.algorithms:
                continue
            if key.key_id is None:
                unnamed.append(key)
            else:
                keys[key.key_id] = key
        return keys, unnamed


class OIDCVerifier:
    """Checks one service's access tokens; `verify` returns the claims or raises TokenRejected."""

    def __init__(self, config: OIDCConfig, jwks: JwksCache | None = None) -> None:
        self.config = config
        self.jwks = jwks or JwksCache(config)

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise TokenRejected(f"malformed token: {e}") from None
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise TokenRejected(f"token algorithm {alg!r} is not accepted (only {', '.join(self.config.algorithms)})")
        kid = header.get("kid")
        key = await self.jwks.key_for(kid if isinstance(kid, str) else None, alg)
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("token not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected(f"token is not meant for this service (audience {self.config.audience!r})") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(f"token not issued by {self.config.issuer}") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenRejected(f"token lacks the {e.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("token signature does not verify") from None
        except jwt.PyJWTError as e:
            raise TokenRejected(f"invalid token: {e}") from None
