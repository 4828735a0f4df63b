"""HTTP API of residents' sign-in (public: these routes are how a resident gets a token) and the
sign-in issuer's discovery document and keys, from which every service verifies resident tokens
(docs/decisions/0017-resident-sign-in.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.enrolment.entrypoints.http import Id, Phone
from services.enrolment.service_layer import sign_in
from shared.http.errors import domain_error_response

router = APIRouter(prefix="/v1/sign-in", tags=["sign-in"])
discovery_router = APIRouter(tags=["sign-in"])

JWKS_PATH = "/v1/sign-in/jwks.json"
Code = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="the 6 digits of the SMS")]


def _deps(request: Request) -> sign_in.SignInDeps:
    return request.app.state.sign_in


def _uow(request: Request):
    return request.app.state.api_uow


def _refusal(error: sign_in.TooManyRequests) -> JSONResponse:
    response = domain_error_response(error)
    response.headers["Retry-After"] = str(error.retry_after_s)
    return response


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Phone


class CodeOut(BaseModel):
    expires_in_s: int = Field(description="how long the code signs in")
    retry_after_s: int = Field(description="when this phone may ask for another code")


@router.post(
    "/code",
    status_code=202,
    response_model=CodeOut,
    responses={
        429: {"description": "too many codes for this phone or from this address; see Retry-After"},
        503: {"description": "sign-in is not configured"},
    },
)
async def request_code(body: CodeIn, request: Request) -> Any:
    """Send a one-time sign-in code by SMS to a registered resident's phone. The answer is the same
    whether or not the phone is registered (a phone nobody registered receives nothing)."""
    deps = _deps(request)
    client = request.client.host if request.client is not None else "unknown"
    try:
        expires_in = await sign_in.request_code(_uow(request), deps, body.phone, client)
    except sign_in.TooManyRequests as error:
        return _refusal(error)
    return CodeOut(expires_in_s=expires_in, retry_after_s=int(deps.limits.phone_interval.total_seconds()))


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Phone
    code: Code
    resident_id: Id | None = Field(None, description="only when several residents share the phone")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    resident_id: str


@router.post(
    "/token",
    response_model=TokenOut,
    responses={401: {"description": "wrong, used or expired code, or too many wrong codes"}},
)
async def exchange_code(body: TokenIn, request: Request) -> TokenOut:
    """Exchange the code for a resident token (ES256, 15 minutes) that every service accepts."""
    token = await sign_in.exchange_code(_uow(request), _deps(request), body.phone, body.code, body.resident_id)
    return TokenOut(access_token=token.access_token, expires_in=token.expires_in, resident_id=token.resident_id)


@router.get("/jwks.json")
async def jwks(request: Request) -> dict[str, Any]:
    """The public key of the resident sign-in issuer (not the Open Badges keys)."""
    signer = _deps(request).signer
    return signer.jwks() if signer is not None else {"keys": []}


@discovery_router.get("/.well-known/openid-configuration", response_model=None)
async def discovery(request: Request) -> Any:
    """Where verifiers find the resident sign-in issuer's keys (OpenID Connect discovery)."""
    signer = _deps(request).signer
    if signer is None:
        return Response(status_code=404)
    return signer.discovery(f"{signer.issuer}{JWKS_PATH}")
