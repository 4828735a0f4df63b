"""Residents' sign-in use cases: send a one-time code to a registered phone (through notify, by
the outbox), exchange it for a short-lived resident token (docs/decisions/0017-resident-sign-in.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.enrolment.adapters import sign_in as repository
from services.enrolment.adapters.resident_tokens import ResidentTokenSigner
from services.enrolment.domain import sign_in as domain
from shared.db.uow import UnitOfWork
from shared.events.catalogue import SignInCodeIssued
from shared.events.envelope import envelop
from shared.http.errors import DomainError, TooManyRequests

SOURCE = "learnstreet/enrolment"
UowFactory = Callable[[], UnitOfWork]


class SignInRefused(DomainError):
    status_code = 401


class SignInUnavailable(DomainError):
    status_code = 503


@dataclass
class SignInDeps:
    key: bytes  # HMAC key of the phones' and codes' hashes
    limits: domain.Limits
    token_ttl_s: int
    signer: ResidentTokenSigner | None  # None: no key configured, sign-in is off
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


_REFUSALS = {
    "phone_interval": "a code was sent to this phone moments ago; wait before asking again / 请稍后再获取验证码",
    "phone_hourly": "too many codes for this phone this hour / 该号码本小时获取验证码次数过多",
    "ip_hourly": "too many code requests from this address this hour / 请求过于频繁",
}


async def request_code(uow_factory: UowFactory, deps: SignInDeps, phone: str, client: str) -> int:
    """Sends a code when the phone is registered; the same answer either way. Returns the code's
    lifetime in seconds; raises TooManyRequests over a limit."""
    if deps.signer is None:
        raise SignInUnavailable("resident sign-in is not configured on this service / 未启用居民登录")
    now = deps.clock()
    phone_bucket = domain.phone_key(deps.key, phone)
    ip_bucket = domain.keyed_hash(deps.key, "ip", client)
    code = domain.new_code()
    async with uow_factory() as uow:
        await repository.lock_buckets(uow.conn, phone_bucket, ip_bucket)
        refused = domain.check_rate(
            now,
            await repository.recent_requests(uow.conn, phone_bucket, now),
            await repository.recent_requests(uow.conn, ip_bucket, now),
            deps.limits,
        )
        if refused is not None:
            await uow.commit()  # the pruning of old requests
            raise TooManyRequests(_REFUSALS[refused.reason], refused.retry_after_s, field="phone")
        await repository.add_request(uow.conn, [phone_bucket, ip_bucket], now)
        residents = await repository.residents_with_phone(uow.conn, domain.phone_spellings(phone))
        expires_at = now + deps.limits.code_ttl
        await repository.replace_code(
            uow.conn, phone_bucket, residents, domain.code_hash(deps.key, phone, code), now, expires_at
        )
        if residents:
            # Several residents may share a phone (a family's): one SMS, through the first's contact.
            event = SignInCodeIssued(
                resident_id=residents[0], request_id=uuid.uuid4(), code=code, expires_at=expires_at
            )
            uow.publish(envelop(event, source=SOURCE))
        await uow.commit()
    return int(deps.limits.code_ttl.total_seconds())


@dataclass(frozen=True)
class ResidentToken:
    access_token: str
    expires_in: int
    resident_id: str


async def exchange_code(
    uow_factory: UowFactory, deps: SignInDeps, phone: str, code: str, resident_id: str | None = None
) -> ResidentToken:
    """The resident's token for a live code of their phone; a wrong code counts against the code
    (committed even though the answer is a refusal), a right one is used up."""
    if deps.signer is None:
        raise SignInUnavailable("resident sign-in is not configured on this service / 未启用居民登录")
    now = deps.clock()
    phone_bucket = domain.phone_key(deps.key, phone)
    offered = domain.code_hash(deps.key, phone, code) if domain.well_formed_code(code) else b""
    async with uow_factory() as uow:
        stored = await repository.code_for_update(uow.conn, phone_bucket)
        try:
            wrong = domain.check_code(stored, offered, now, deps.limits)
        except domain.CodeRefused as refused:
            if refused.dead:
                raise SignInRefused(
                    "too many wrong codes: request a new code / 错误次数过多，请重新获取验证码", field="code"
                ) from None
            raise SignInRefused("the code is wrong, used or expired / 验证码错误或已失效", field="code") from None
        if wrong:
            await repository.count_wrong_attempt(uow.conn, phone_bucket)
            await uow.commit()
            raise SignInRefused("the code is wrong, used or expired / 验证码错误或已失效", field="code")
        assert stored is not None
        if resident_id is None:
            if len(stored.resident_ids) > 1:
                # the code stays live: the same request naming the resident signs in
                raise SignInRefused(
                    "several residents share this phone: send resident_id too / 多位居民共用此号码，请注明居民编号",
                    field="resident_id",
                )
            resident_id = stored.resident_ids[0]
        elif resident_id not in stored.resident_ids:
            await repository.count_wrong_attempt(uow.conn, phone_bucket)
            await uow.commit()
            raise SignInRefused("the code is wrong, used or expired / 验证码错误或已失效", field="code")
        await repository.mark_used(uow.conn, phone_bucket, now)
        await uow.commit()
    token = deps.signer.sign(resident_id, deps.token_ttl_s, now.timestamp())
    return ResidentToken(token, deps.token_ttl_s, resident_id)
