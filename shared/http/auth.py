"""Bearer-token authentication for operator, assessor, kiosk and resident endpoints.

Tokens are HS256 JWTs signed with `LS_JWT_SECRET` (`learnstreet token --role operator` mints
one). Claims: `sub` (a user, kiosk or resident id), `role`, `exp`. A missing, malformed or
expired token is 401; a valid token with the wrong role is 403.

Every service takes its auth dependencies from here (a guard test forbids defining them
elsewhere): `Operator`, `Assessor`, `Kiosk`, `ResidentOrOperator`, `ResidentOnly`, `AnyUser`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ROLES = ("operator", "assessor", "resident", "kiosk")
ALGORITHM = "HS256"

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str


def mint_token(secret: str, *, subject: str, role: str, ttl_s: int = 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    now = int(time.time())
    return jwt.encode({"sub": subject, "role": role, "iat": now, "exp": now + ttl_s}, secret, ALGORITHM)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


# Verified tokens, until they expire: checking the HS256 signature of the same token on every
# request was 5% of the enrolment's CPU. Only tokens that passed `authenticate` get in, and an
# entry is used only before its token's `exp` and under the secret that verified it (tokens are
# not revocable anyway). Bounded: a flood of distinct tokens empties it rather than growing it.
_verified: dict[str, tuple[Principal, float, str]] = {}
_VERIFIED_MAX = 10_000


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The token's principal; 401 for a missing, malformed, forged or expired token."""
    token = credentials.credentials if credentials is not None and credentials.scheme.lower() == "bearer" else None
    secret: str = request.app.state.jwt_secret
    if token is not None and (hit := _verified.get(token)) is not None and hit[2] == secret and time.time() < hit[1]:
        return hit[0]
    principal, expires = _verify(token, secret)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = (principal, expires, secret)
    return principal


def _verify(token: str | None, secret: str) -> tuple[Principal, float]:
    if token is None:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.InvalidTokenError as e:
        raise _unauthorized(f"invalid token: {e}") from None
    role = claims.get("role")
    if role not in ROLES:
        raise _unauthorized("token has no valid role")
    return Principal(subject=str(claims["sub"]), role=role), float(claims["exp"])


def require(*roles: str):
    """A FastAPI dependency admitting only the given roles."""

    # async, so FastAPI runs it on the event loop instead of a thread-pool hop per request
    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = authenticate(request, credentials)
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this; needs {' or '.join(roles)}"
            )
        return principal

    return dependency


Operator = Annotated[Principal, Depends(require("operator"))]
Assessor = Annotated[Principal, Depends(require("assessor", "operator"))]
Kiosk = Annotated[Principal, Depends(require("kiosk", "operator"))]
ResidentOrOperator = Annotated[Principal, Depends(require("resident", "operator"))]
ResidentOnly = Annotated[Principal, Depends(require("resident"))]
AnyUser = Annotated[Principal, Depends(require(*ROLES))]
