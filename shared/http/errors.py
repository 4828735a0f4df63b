"""Errors a client can act on: 4xx with the field and the reason, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class PayloadTooLarge(DomainError):
    status_code = 413


class TooManyRequests(DomainError):
    """Over a rate limit: 429 with Retry-After (seconds until the request would be accepted)."""

    status_code = 429

    def __init__(self, detail: str, retry_after_s: int, *, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.retry_after_s = max(1, int(retry_after_s))


def domain_error_response(exc: DomainError) -> JSONResponse:
    """The answer to a domain error (also used by routes served outside FastAPI's handlers)."""
    body = {"detail": [{"loc": ["body", exc.field] if exc.field else [], "msg": exc.detail}]}
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyRequests) else None
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        from shared.bus.consumer import is_transient

        if is_transient(exc):  # database or broker briefly unavailable: the client should retry
            body = {"detail": [{"loc": [], "msg": "temporarily unavailable; retry shortly"}]}
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        # Logged with its trace for operators; the client gets no internals.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": [{"loc": [], "msg": "internal error; see service logs"}]}, 500)
