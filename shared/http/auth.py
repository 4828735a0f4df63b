"""Bearer-token authentication for operator, assessor, kiosk and resident endpoints.

Two modes, chosen at start-up by `install_auth` from the environment:

- OpenID Connect, when `LS_OIDC_ISSUER` is set: access tokens of that issuer, checked against
  its published keys (shared/http/oidc.py) with this service's audience (`<SERVICE>_OIDC_AUDIENCE`,
  default `learnstreet-<service>`). Roles come from the claim at `LS_OIDC_ROLES_CLAIM` (default
  `realm_access.roles`), the community scope from `LS_OIDC_COMMUNITY_CLAIM` (`community_id`),
  the caller's id from `LS_OIDC_SUBJECT_CLAIM` (`sub`; a token without it is refused).
  Symmetric tokens are refused, so `learnstreet token` cannot mint for such a service.
- Development: HS256 JWTs signed with `LS_JWT_SECRET` (`learnstreet token --role operator`).
  Claims: `sub`, `role`, `exp` (and `community_id` for a community worker). Start-up refuses a
  secret shorter than 32 characters or an example file's placeholder.

A second, optional issuer: the street's own resident sign-in (`LS_RESIDENT_ISSUER`, optional
`LS_RESIDENT_DISCOVERY_URL`; docs/decisions/0017-resident-sign-in.md), trusted beside either mode.
Its tokens are checked the same way (discovery, JWKS, ES256, this service's audience) and may carry
only the `resident` role: one claiming any other role is refused (401), so a leaked sign-in key
cannot make an operator. A token goes to the check of the issuer its `iss` names.

A missing, malformed, forged, expired or foreign token is 401 with the reason; a valid token
without a role the endpoint admits is 403; the provider's keys being unreachable is 503.

Every service takes its auth dependencies from here (a guard test forbids defining them
elsewhere): `Operator`, `Assessor`, `Kiosk`, `ResidentOrOperator`, `ResidentOnly`, `AnyUser`,
`CommunityStaff`, `EvaluationStaff`, `Reader`, `CommunityReader`, `SiteStaff`, `ResidentOrStaff`.

Scope (issue 16): a community worker reaches only their community's data (claim `community_id`),
venue staff only their venues' (claim `venue_id`, one id or a list; `LS_OIDC_VENUE_CLAIM`). The
dependencies that admit them say so; the route checks each record with `Principal.check_reach`
and restricts lists with `Principal.community_filter`. Each route's roles and scope rule go into
its OpenAPI operation (`x-roles`, `x-scope`), from which docs/security/routes.md is generated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, routing, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.http.oidc import (
    OIDCConfig,
    OIDCVerifier,
    ProviderUnavailable,
    TokenRejected,
    claim_at,
    community_from,
    roles_from,
    subject_from,
)

# The order is the precedence of a token's roles when it carries several (see `acting_as`).
ROLES = ("operator", "assessor", "community_worker", "venue_staff", "kiosk", "resident")
# The roles every endpoint open to "any signed-in user" admits. Community workers and venue staff
# are admitted route by route, by the dependencies that make the route check their scope; kiosks
# only to their own scans (issue 16: a kiosk token read the honours list with resident ids).
SIGNED_IN = ("operator", "assessor", "resident")
# Staff whose reach is a part of the street: a community (community_worker) or venues (venue_staff).
SCOPED_ROLES = ("community_worker", "venue_staff")
# Scope rules a route declares in its OpenAPI operation (`x-scope`); docs/security/routes.md explains them.
SCOPE_RULES = {
    "community": "community worker: their community's records only; venue staff: their venues' only",
    "self": "resident: their own records only",
    "kiosk": "kiosk: its own scans only (token subject = kiosk id)",
    "notice": "resident: also candidates in their notice period, without the recipient's ids",
    "reference": "the street's reference data, no community's records: the same for every role listed",
}
ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
# Placeholders of the example env files (deploy/compose/env.example, deploy/k8s/.../*.env.example).
_PLACEHOLDER_MARKERS = ("change-me", "changeme", "replace-with", "replace-me", "placeholder", "example")

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    """Who calls. `role` is the role the endpoint admits them in (their first of ROLES among the
    ones it admits); `roles` are all of theirs; `community_id` scopes a community worker."""

    subject: str
    role: str
    roles: frozenset[str] = field(default=frozenset())
    community_id: str | None = None
    venue_ids: frozenset[str] = field(default=frozenset())  # scopes venue staff

    def __post_init__(self) -> None:
        if not self.roles:
            object.__setattr__(self, "roles", frozenset({self.role}))

    def acting_as(self, admitted: tuple[str, ...]) -> Principal | None:
        """This principal in the first of its roles that `admitted` lists, or None."""
        for role in ROLES:
            if role in admitted and role in self.roles:
                return self if role == self.role else replace(self, role=role)
        return None

    @property
    def scoped(self) -> bool:
        """Acting as staff of one community or of some venues (not the whole street)."""
        return self.role in SCOPED_ROLES

    def reach_refusal(self, community_id: str | None, venue_id: str | None = None) -> str | None:
        """Why this principal may not reach a record of `community_id` (held at `venue_id`), or None.
        Only community workers and venue staff are limited here; residents' and kiosks' own-data
        rules are the routes' (their subjects are what they own)."""
        if self.role == "community_worker":
            if self.community_id is None:
                return "a community worker's token must name their community (community_id claim)"
            if community_id != self.community_id:
                return f"you act for community {self.community_id} only; this belongs to {community_id or 'none'}"
        elif self.role == "venue_staff":
            if venue_id is None or venue_id not in self.venue_ids:
                mine = ", ".join(sorted(self.venue_ids)) or "none"
                return f"you act for venue(s) {mine} only; this belongs to {venue_id or f'community {community_id}'}"
        return None

    def check_reach(self, community_id: str | None, venue_id: str | None = None) -> None:
        """403 with the reason when `reach_refusal` has one."""
        if (reason := self.reach_refusal(community_id, venue_id)) is not None:
            raise _forbidden(reason)

    def community_filter(self, requested: str | None) -> str | None:
        """The community a list is restricted to: a community worker's own (403 when they ask for
        another, so a foreign filter is refused rather than silently ignored); others' request as is.
        Venue staff lists are filtered row by row with `reach_refusal`."""
        if self.role != "community_worker":
            return requested
        self.check_reach(self.community_id if requested is None else requested)
        return self.community_id


def mint_token(
    secret: str,
    *,
    subject: str,
    role: str,
    ttl_s: int = 3600,
    community_id: str | None = None,
    venue_id: str | list[str] | None = None,
) -> str:
    """A development HS256 token (`learnstreet token`)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "role": role, "iat": now, "exp": now + ttl_s}
    if community_id is not None:
        claims["community_id"] = community_id
    if venue_id is not None:
        claims["venue_id"] = venue_id
    return jwt.encode(claims, secret, ALGORITHM)


def venues_from(value: Any) -> frozenset[str]:
    """Venue ids of a `venue_id` claim: one id, a list of ids, or a space-separated string."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str) and v)
    return frozenset()


def weak_secret_reason(secret: str) -> str | None:
    """Why an HS256 secret must not be used, or None."""
    if len(secret) < MIN_SECRET_LENGTH:
        return f"LS_JWT_SECRET has {len(secret)} characters; use at least {MIN_SECRET_LENGTH} random ones"
    lowered = secret.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return "LS_JWT_SECRET is an example file's placeholder; generate a random secret"
    if len(set(secret)) < 10:
        return "LS_JWT_SECRET repeats a few characters; use a random secret"
    return None


def oidc_config_from_env(service: str, environ: Mapping[str, str] | None = None) -> OIDCConfig | None:
    """The OIDC settings of `service`, or None when no issuer is configured (development HS256)."""
    env = os.environ if environ is None else environ
    issuer = env.get("LS_OIDC_ISSUER", "").strip()
    if not issuer:
        return None
    optional: dict[str, Any] = {}
    for name, key, kind in (
        ("discovery_url", "LS_OIDC_DISCOVERY_URL", str),
        ("roles_claim", "LS_OIDC_ROLES_CLAIM", str),
        ("community_claim", "LS_OIDC_COMMUNITY_CLAIM", str),
        ("subject_claim", "LS_OIDC_SUBJECT_CLAIM", str),
        ("leeway_s", "LS_OIDC_LEEWAY_S", float),
        ("jwks_min_refresh_s", "LS_OIDC_JWKS_MIN_REFRESH_S", float),
        ("jwks_max_age_s", "LS_OIDC_JWKS_MAX_AGE_S", float),
    ):
        if env.get(key, "").strip():
            optional[name] = kind(env[key].strip())
    if env.get("LS_OIDC_ALGORITHMS", "").strip():
        optional["algorithms"] = tuple(a.strip() for a in env["LS_OIDC_ALGORITHMS"].split(",") if a.strip())
    audience = env.get(f"{service.upper()}_OIDC_AUDIENCE", "").strip() or f"learnstreet-{service}"
    return OIDCConfig(issuer=issuer, audience=audience, **optional)


# The resident sign-in issuer (services/enrolment) writes these claims; it is learnstreet's own, so
# they are fixed rather than configurable like a city's identity provider's.
RESIDENT_ISSUER_ROLES = frozenset({"resident"})
RESIDENT_ROLES_CLAIM = "roles"
RESIDENT_SUBJECT_CLAIM = "learnstreet_id"


def resident_config_from_env(service: str, environ: Mapping[str, str] | None = None) -> OIDCConfig | None:
    """The resident sign-in issuer's settings, or None when no such issuer is trusted."""
    env = os.environ if environ is None else environ
    issuer = env.get("LS_RESIDENT_ISSUER", "").strip().rstrip("/")
    if not issuer:
        return None
    audience = env.get(f"{service.upper()}_OIDC_AUDIENCE", "").strip() or f"learnstreet-{service}"
    return OIDCConfig(
        issuer=issuer,
        audience=audience,
        discovery_url=env.get("LS_RESIDENT_DISCOVERY_URL", "").strip() or None,
        algorithms=("ES256",),
        roles_claim=RESIDENT_ROLES_CLAIM,
        subject_claim=RESIDENT_SUBJECT_CLAIM,
    )


class _HS256:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.cache_key: object = ("HS256", secret)

    async def principal(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.InvalidTokenError as e:
            raise TokenRejected(f"invalid token: {e}") from None
        role = claims.get("role")
        if role not in ROLES:
            raise TokenRejected("token has no valid role")
        community = claims.get("community_id")
        principal = Principal(
            str(claims["sub"]), role, community_id=community if isinstance(community, str) else None,
            venue_ids=venues_from(claims.get("venue_id")),
        )  # fmt: skip
        return principal, float(claims["exp"])


class _OIDC:
    def __init__(self, verifier: OIDCVerifier, venue_claim: str = "venue_id") -> None:
        self.verifier = verifier
        self.venue_claim = venue_claim  # where venue staff tokens name their venues (LS_OIDC_VENUE_CLAIM)
        self.cache_key: object = self  # entries verified by another verifier never count

    async def principal(self, token: str) -> tuple[Principal, float]:
        claims = await self.verifier.verify(token)
        config = self.verifier.config
        roles = roles_from(claims, config.roles_claim) & frozenset(ROLES)
        first = next((r for r in ROLES if r in roles), None)
        if first is None:
            # signed by the provider, so not a bad token: the person has no role here
            raise _forbidden(f"the token carries none of the roles {', '.join(ROLES)} (claim {config.roles_claim})")
        subject = subject_from(claims, config.subject_claim)
        if subject is None:
            raise TokenRejected(f"token lacks the subject claim {config.subject_claim!r}")
        community = community_from(claims, config.community_claim)
        venues = venues_from(claim_at(claims, self.venue_claim))
        return Principal(subject, first, roles, community, venues), float(claims["exp"])


class _ResidentIssuer:
    """Tokens of the resident sign-in issuer: the resident role and nothing else."""

    def __init__(self, verifier: OIDCVerifier) -> None:
        self.verifier = verifier
        self.issuer = verifier.config.issuer

    async def principal(self, token: str) -> tuple[Principal, float]:
        claims = await self.verifier.verify(token)
        roles = roles_from(claims, RESIDENT_ROLES_CLAIM)
        if roles != RESIDENT_ISSUER_ROLES:
            # signed with the sign-in key, so a forgery or a leaked key, never a person's right
            raise TokenRejected("a resident sign-in token may carry the resident role only")
        subject = subject_from(claims, RESIDENT_SUBJECT_CLAIM)
        if subject is None or subject != claims.get("sub"):
            raise TokenRejected(f"token lacks the subject claim {RESIDENT_SUBJECT_CLAIM!r}")
        return Principal(subject, "resident", RESIDENT_ISSUER_ROLES), float(claims["exp"])


class _ByIssuer:
    """The main check (OIDC or HS256) and the resident sign-in issuer's, chosen by the token's
    unverified `iss`: the chosen check then verifies everything, `iss` included."""

    def __init__(self, main: _HS256 | _OIDC, residents: _ResidentIssuer) -> None:
        self.main = main
        self.residents = residents
        self.cache_key: object = self

    async def principal(self, token: str) -> tuple[Principal, float]:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            issuer = None
        check = self.residents if issuer == self.residents.issuer else self.main
        return await check.principal(token)


def _with_resident_issuer(app: FastAPI, service: str, environ: Mapping[str, str] | None) -> None:
    config = resident_config_from_env(service, environ)
    if config is None:
        return
    main = app.state.auth
    if isinstance(main, _OIDC) and main.verifier.config.issuer.rstrip("/") == config.issuer:
        raise ValueError("LS_RESIDENT_ISSUER must differ from LS_OIDC_ISSUER: its tokens are residents' only")
    app.state.auth = _ByIssuer(main, _ResidentIssuer(OIDCVerifier(config)))


def install_auth(
    app: FastAPI, *, service: str, jwt_secret: str | None, environ: Mapping[str, str] | None = None
) -> None:
    """Choose the app's token check at start-up; refuses a weak HS256 secret (raises ValueError)."""
    document_access(app)
    config = oidc_config_from_env(service, environ)
    if config is not None:
        env = os.environ if environ is None else environ
        app.state.auth = _OIDC(OIDCVerifier(config), env.get("LS_OIDC_VENUE_CLAIM", "").strip() or "venue_id")
        _with_resident_issuer(app, service, environ)
        return
    if not jwt_secret:
        raise ValueError("set LS_OIDC_ISSUER (OpenID Connect) or LS_JWT_SECRET (development HS256)")
    if (reason := weak_secret_reason(jwt_secret)) is not None:
        raise ValueError(reason)
    app.state.jwt_secret = jwt_secret
    app.state.auth = _HS256(jwt_secret)
    _with_resident_issuer(app, service, environ)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


# Verified tokens, until they expire: checking the signature of the same token on every request
# was 5% of the enrolment's CPU. Only tokens that passed `authenticate` get in, and an entry is
# used only before its token's `exp` and under the check that verified it (same secret, same OIDC
# verifier). Tokens are not revocable here anyway: access tokens are short-lived. Bounded: a flood
# of distinct tokens empties it rather than growing it.
_verified: dict[str, tuple[Principal, float, object]] = {}
_VERIFIED_MAX = 10_000


async def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The token's principal; 401 for a missing, malformed, forged, foreign or expired token."""
    token = credentials.credentials if credentials is not None and credentials.scheme.lower() == "bearer" else None
    check = getattr(request.app.state, "auth", None)
    if check is None:  # an app built without install_auth (tests): HS256 with its jwt_secret
        check = _HS256(request.app.state.jwt_secret)
    if token is not None and (hit := _verified.get(token)) is not None and hit[2] == check.cache_key:
        if time.time() < hit[1]:
            return hit[0]
    if token is None:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    try:
        principal, expires = await check.principal(token)
    except TokenRejected as e:
        raise _unauthorized(str(e)) from None
    except ProviderUnavailable as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot check tokens now: {e}",
                            headers={"Retry-After": "5"}) from None  # fmt: skip
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = (principal, expires, check.cache_key)
    return principal


async def admitted(request: Request, *roles: str) -> Principal | None:
    """What `require(*roles)` gives a route, for a route answered outside FastAPI's dependencies
    (services/enrolment/entrypoints/http.py HotRoutes): the acting principal, or None wherever
    the dependency would refuse (401, 403, 503); the caller then hands the request to FastAPI,
    which refuses it in the dependency's own words."""
    try:
        principal = await authenticate(request, await _bearer(request))
    except HTTPException:
        return None
    return principal.acting_as(roles)


def require(*roles: str, scope: tuple[str, ...] = ()):
    """A FastAPI dependency admitting only the given roles; `scope` names the rules (SCOPE_RULES)
    the routes using it apply, for the route list (`document_access`)."""

    # async, so FastAPI runs it on the event loop instead of a thread-pool hop per request
    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = await authenticate(request, credentials)
        acting = principal.acting_as(roles)
        if acting is None:
            raise _forbidden(f"role {principal.role!r} may not do this; needs {' or '.join(roles)}")
        return acting

    dependency.roles = roles  # type: ignore[attr-defined]  # read by document_access
    dependency.scope = scope  # type: ignore[attr-defined]
    return dependency


def require_community_scope(*roles: str, scope: tuple[str, ...] = ("community",)):
    """Like `require`, and a community worker must carry the community it is scoped to, venue staff
    their venues; the route then checks each record's community or venue (`Principal.check_reach`)."""
    admit = require(*roles)

    # a default, not Annotated[...]: string annotations cannot name this local `admit`
    async def dependency(principal: Principal = Depends(admit)) -> Principal:
        if principal.role == "community_worker" and principal.community_id is None:
            raise _forbidden("a community worker's token must name their community (community_id claim)")
        if principal.role == "venue_staff" and not principal.venue_ids:
            raise _forbidden("a venue staff token must name their venue(s) (venue_id claim)")
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]
    dependency.scope = scope  # type: ignore[attr-defined]
    return dependency


def access_of(route: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(roles, scope rules) of the route's auth dependency, or None for a public route."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop(0)
        if (roles := getattr(dependant.call, "roles", None)) is not None:
            return roles, dependant.call.scope
        pending.extend(dependant.dependencies)
    return None


def document_access(app: FastAPI) -> None:
    """Put each route's roles and scope rules into its OpenAPI operation (`x-roles`, empty for a
    public route; `x-scope`), unless the route declares them itself (`openapi_extra`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for route in _api_routes(app):
            if not route.include_in_schema:
                continue
            roles, scope = access_of(route) or ((), ())
            for method in route.methods:
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    operation.setdefault("x-roles", list(roles))
                    operation.setdefault("x-scope", list(scope))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _api_routes(app: FastAPI) -> list[Any]:
    """The app's API routes, those of included routers too (FastAPI >= 0.160 keeps an included
    router as one entry of `app.routes`; its route contexts read like the routes, with the prefix)."""
    iterate = getattr(routing, "iter_route_contexts", None)
    if iterate is None:
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [c for c in iterate(app.routes) if isinstance(c.original_route, APIRoute)]


Operator = Annotated[Principal, Depends(require("operator"))]
Assessor = Annotated[Principal, Depends(require("assessor", "operator"))]
Kiosk = Annotated[Principal, Depends(require("kiosk", "operator", scope=("kiosk",)))]
ResidentOrOperator = Annotated[Principal, Depends(require("resident", "operator", scope=("self",)))]
ResidentOnly = Annotated[Principal, Depends(require("resident", scope=("self",)))]
AnyUser = Annotated[Principal, Depends(require(*SIGNED_IN))]
# For endpoints that filter by community: an operator (every community) or a community worker
# (principal.community_id only).
CommunityStaff = Annotated[Principal, Depends(require_community_scope("operator", "community_worker"))]
# The catalogue (venues, courses, sessions): every signed-in user, community workers and venue
# staff reading only their community's or venues' records.
Reader = Annotated[Principal, Depends(require_community_scope(*SIGNED_IN, *SCOPED_ROLES))]
# Community-level data (the index, honours): every signed-in user, community workers their community's.
CommunityReader = Annotated[Principal, Depends(require_community_scope(*SIGNED_IN, "community_worker"))]
# Running venues and sessions: operators, community workers in their community, venue staff at their venues.
SiteStaff = Annotated[Principal, Depends(require_community_scope("operator", *SCOPED_ROLES))]
# A resident's records: the resident, an operator, or a community worker of the resident's community.
RESIDENT_OR_STAFF = ("resident", "operator", "community_worker")
ResidentOrStaff = Annotated[
    Principal, Depends(require_community_scope(*RESIDENT_OR_STAFF, scope=("self", "community")))
]
# Evaluation work (assessments, rectification tasks): operators, assessors, and community workers
# scoped to their community; the handler decides which of them may take which step.
EvaluationStaff = Annotated[Principal, Depends(require_community_scope("operator", "assessor", "community_worker"))]
