"""`learnstreet privacy erase RESIDENT_ID --reason ... --approved-by ...`: asks enrolment to erase
a resident (docs/decisions/0010-erasure.md). Registered on `learnstreet privacy` by shared/cli.py;
the request and its status are enrolment's, this only calls its API."""

from __future__ import annotations

import os
import sys

import typer

from shared.http.auth import mint_token
from shared.local_env import setting

_ENROLMENT_PORT = 8102


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def _enrolment_url() -> str:
    host = setting("ENROLMENT_HTTP_HOST") or "127.0.0.1"
    return f"http://{host}:{setting('ENROLMENT_HTTP_PORT') or _ENROLMENT_PORT}"


def _operator_bearer(given: str | None, subject: str) -> str:
    # the same rule as `learnstreet privacy export` (shared/cli.py), which this module may not import
    if given:
        return given
    if setting("LS_OIDC_ISSUER"):
        _fail("the services take tokens of an identity provider (LS_OIDC_ISSUER): pass --token or set LS_TOKEN")
    secret = setting("LS_JWT_SECRET")
    if secret is None:
        _fail("LS_JWT_SECRET is not set (nor in the credentials file): pass --token")
    return mint_token(secret, subject=subject, role="operator", ttl_s=600)


def privacy_erase(
    resident_id: str = typer.Argument(..., help="the resident's id (card number)"),
    reason: str = typer.Option(..., help="why, e.g. the resident's written request of <date>; recorded"),
    approved_by: str = typer.Option(..., "--approved-by", help="the second operator who approved the erasure"),
    token: str = typer.Option(None, envvar="LS_TOKEN", help="operator bearer token (default: minted locally)"),
    operator: str = typer.Option(os.environ.get("USER", "operator"), help="who asks, recorded as the requester"),
) -> None:
    """Erase a resident from every service's database / 删除居民个人信息.

    Cannot be undone. Enrolment erases its rows and tells the other services (resident.erased);
    prints the request id and its status."""
    from urllib.parse import quote

    import httpx
    import orjson

    bearer = _operator_bearer(token, operator)
    headers = {"Authorization": f"Bearer {bearer}", "X-Access-Purpose": quote(f"erasure: {reason}", safe=" /:,.;()-")}
    url = f"{_enrolment_url()}/v1/residents/{quote(resident_id, safe='')}/erasure"
    try:
        r = httpx.post(url, json={"reason": reason, "approved_by": approved_by}, headers=headers, timeout=60.0)
    except httpx.HTTPError as e:
        _fail(f"enrolment: {e}; nothing erased")
    if r.status_code != 201:
        _fail(f"enrolment: HTTP {r.status_code} {r.text[:300]}; nothing erased")
    print(orjson.dumps(r.json(), option=orjson.OPT_INDENT_2).decode())
    print("erased in enrolment; the other services erase on resident.erased / 已删除")
