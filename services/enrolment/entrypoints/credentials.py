"""HTTP API of the verifiable honours: a resident's honour as a signed Open Badges 3.0 credential,
and what anyone needs to verify one without signing in (keys, issuer profile, status lists, a
verification endpoint). docs/decisions/0012-open-badges.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.enrolment.service_layer import credentials
from services.enrolment.service_layer.handlers import Forbidden
from shared import credentials as vc
from shared.http.audit import Audited
from shared.http.auth import ResidentOrOperator

router = APIRouter(prefix="/v1", tags=["credentials"])

PathId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _uow(request: Request):
    return request.app.state.api_uow


def _deps(request: Request) -> credentials.CredentialDeps:
    return request.app.state.credentials


@router.get(
    "/residents/{resident_id}/credentials/{honour_id}",
    response_class=Response,
    responses={
        200: {"content": {vc.MEDIA_TYPE: {}}, "description": "the signed credential (VC-JWT)"},
        403: {"description": "another resident's credential, or no learning_record consent (detail at `consent`)"},
        404: {"description": "unknown resident, or no such honour in their passport"},
        409: {"description": "the honour was revoked before a credential was issued"},
    },
)
async def download_credential(
    resident_id: PathId, honour_id: PathId, request: Request, principal: ResidentOrOperator, _audit: Audited
) -> Response:
    """An honour of the resident's passport as an Open Badges 3.0 credential (OpenBadgeCredential
    signed as a VC-JWT by the street's key), for a wallet or to show anyone: signed on the first
    download, the same afterwards. The resident is named by a pseudonym, with no contact data.
    Only with the resident's `learning_record` consent (ADR 0019): nothing is issued without it."""
    if principal.role != "operator" and not (principal.role == "resident" and principal.subject == resident_id):
        raise Forbidden(f"only resident {resident_id} or an operator may do this / 仅本人或工作人员可操作")
    token = await credentials.credential(_uow(request), _deps(request), resident_id, honour_id)
    return Response(
        token,
        media_type=vc.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="honour-{honour_id}.jwt"'},
    )


@router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> dict[str, Any]:
    """The street's public signing keys (JWKS): every key that ever signed, newest first."""
    return await credentials.jwks(_uow(request))


@router.get("/credentials/issuer")
async def issuer(request: Request) -> dict[str, Any]:
    """The street's Open Badges issuer profile (the `issuer.id` of its credentials)."""
    return _deps(request).issuer.profile()


@router.get(
    "/credentials/status/{list_id}",
    response_class=Response,
    responses={200: {"content": {vc.MEDIA_TYPE: {}}}, 404: {"description": "no such list"}},
)
async def status_list(list_id: Annotated[str, Path(pattern=r"^[0-9]{1,9}$")], request: Request) -> Response:
    """A Bitstring Status List credential (revocation), signed as a VC-JWT: a credential whose
    bit is set was revoked. Made from the stored revocations on each request."""
    token = await credentials.status_list(_uow(request), _deps(request), list_id)
    return Response(token, media_type=vc.MEDIA_TYPE, headers={"Cache-Control": "max-age=60"})


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: str = Field(min_length=1, max_length=vc.MAX_TOKEN_CHARS, description="the VC-JWT (compact JWS)")


class CredentialSummary(BaseModel):
    id: str | None
    achievement: str | None
    achievement_id: str | None
    subject: str | None
    issuer: str | None
    valid_from: str | None


class VerifyOut(BaseModel):
    valid: bool
    reason: str | None = Field(description=f"why it fails, one of {', '.join(vc.REASONS)}; null when valid")
    detail: str | None
    kid: str | None
    credential: CredentialSummary | None


@router.post("/credentials/verify", response_model=VerifyOut)
async def verify(body: VerifyIn, request: Request) -> VerifyOut:
    """Verify a credential of this street without signing in: signature against the published
    keys, issuer, dates, and its bit in the signed status list; says why one fails."""
    return VerifyOut.model_validate(await credentials.verify(_uow(request), _deps(request), body.credential))
