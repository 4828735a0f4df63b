"""The two delivery channels: e-mail over SMTP and SMS through an HTTP gateway.

Both raise `DeliveryError`, which says whether a failure is worth retrying (network, timeouts,
429, 5xx, SMTP 4xx) or permanent (other 4xx, SMTP 5xx: a bad address or a rejected message)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime
from io import BytesIO

import aiosmtplib
import httpx
from aiosmtplib.email import extract_sender

RETRYABLE_HTTP = {408, 409, 425, 429}  # 409: the gateway is still processing the same key


class DeliveryError(Exception):
    def __init__(self, reason: str, detail: str, *, permanent: bool) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # low-cardinality code (a metric label)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    resident_id: str
    idempotency_key: str
    address: str
    subject: str
    body: str
    language: str
    first_attempt_at: datetime
    kind: str = ""  # the message kind: a carrier sends the template registered for it


def message_id(idempotency_key: str, domain: str) -> str:
    """Derived from the key: a resend after a crash is recognisably the same message."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


# What aiosmtplib's `send_message` sends to a server that takes 8BITMIME, for ASCII envelope
# addresses: the message flattened with `email.policy.SMTP`, headers parsed with the default policy.
# `rendered` gives the same bytes with less work per e-mail (issue 18: building and flattening an
# EmailMessage cost ~1 ms of CPU per e-mail): a header's folded form is computed once per value by
# the standard library and cached (sender, subject, date, language repeat across a broadcast), a
# value of a per-message header in the plain form below folds to itself, and the body with its MIME
# headers is flattened once per text (a broadcast sends one text per language).
_FLATTEN = policy.SMTP
_PLAIN_HEADERS = {
    # each pattern matches only values the standard library writes back unchanged
    "To": re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"),
    "Message-ID": re.compile(r"<[0-9a-f]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>"),
    "X-Learnstreet-Notification": re.compile(r"[A-Za-z0-9-]+"),
}


def _fold(name: str, value: str) -> bytes:
    return _FLATTEN.fold_binary(*policy.default.header_store_parse(name, value))


_folded = functools.lru_cache(maxsize=1024)(_fold)


def _header(name: str, value: str) -> bytes:
    plain = _PLAIN_HEADERS.get(name)
    if plain is None:
        return _folded(name, value)
    if len(name) + 2 + len(value) <= _FLATTEN.max_line_length and plain.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return _fold(name, value)  # a per-message value (an address): not kept


@functools.lru_cache(maxsize=64)
def _content(body: str, language: str) -> bytes:
    """The MIME headers, the blank line and the body, as they end the flattened message."""
    part = EmailMessage()
    part.set_content(body, charset="utf-8", cte="8bit")
    part["Content-Language"] = language  # after set_content, which resets Content-* headers
    out = BytesIO()
    BytesGenerator(out, policy=_FLATTEN).flatten(part)
    return out.getvalue()


class SmsGateway:
    """One HTTP client for the service's life: its connections to the gateway are kept alive and
    reused from one message to the next (httpx's pool)."""

    def __init__(self, url: str, token: str, timeout_s: float) -> None:
        self.url = url
        self._http = httpx.AsyncClient(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})

    async def send(self, message: Outgoing) -> str:
        try:
            response = await self._http.post(
                self.url,
                json={"to": message.address, "text": message.body, "reference": message.notification_id},
                headers={"Idempotency-Key": message.idempotency_key},
            )
        except httpx.TimeoutException as e:
            raise DeliveryError("timeout", f"SMS gateway did not answer: {e!r}", permanent=False) from None
        except httpx.TransportError as e:
            raise DeliveryError("unreachable", f"SMS gateway unreachable: {e!r}", permanent=False) from None
        if response.is_success:
            try:
                return str(response.json().get("id", ""))
            except ValueError:
                return ""
        detail = f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code in RETRYABLE_HTTP or response.status_code >= 500:
            reason = "rate_limited" if response.status_code == 429 else f"http_{response.status_code}"
            raise DeliveryError(reason, detail, permanent=False)
        raise DeliveryError(f"http_{response.status_code}", detail, permanent=True)

    async def close(self) -> None:
        await self._http.aclose()


class SmtpMailer:
    """Sends over a few SMTP connections kept open between messages (a new one only when none is
    idle), instead of connecting, greeting and quitting for every e-mail. A connection idle longer
    than `idle_s`, or one a send failed on, is closed rather than reused.

    A kept connection the server dropped meanwhile fails on its next use before the message is
    accepted; that send is tried once more on a new connection. Only a drop after the server took
    the message and before its answer could make that a second copy, the same identical message
    (same Message-ID) a resend after a crash gives."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        domain: str,
        timeout_s: float,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        idle_s: float = 30.0,
    ) -> None:
        self.host, self.port, self.sender, self.domain = host, port, sender, domain
        self.timeout_s, self.username, self.password, self.start_tls = timeout_s, username, password, start_tls
        self.idle_s = idle_s
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []  # (idle since, connection), most recent last
        self.connections_opened = 0

    def _headers(self, message: Outgoing) -> tuple[tuple[str, str], ...]:
        return (
            ("From", self.sender),
            ("To", message.address),
            ("Subject", message.subject),
            ("Date", format_datetime(message.first_attempt_at)),
            ("Message-ID", message_id(message.idempotency_key, self.domain)),
            ("X-Learnstreet-Notification", message.notification_id),
        )

    def build(self, message: Outgoing) -> EmailMessage:
        """The same notification always builds the same message (headers and body)."""
        mail = EmailMessage()
        for name, value in self._headers(message):
            mail[name] = value
        mail.set_content(message.body, charset="utf-8", cte="8bit")
        mail["Content-Language"] = message.language  # after set_content, which resets Content-* headers
        return mail

    def rendered(self, message: Outgoing) -> bytes:
        """`build(message)` as aiosmtplib flattens it for a server that takes 8BITMIME (same bytes)."""
        headers = b"".join(_header(name, value) for name, value in self._headers(message))
        return headers + _content(message.body, message.language)

    @functools.cached_property
    def envelope_sender(self) -> str | None:
        """The MAIL FROM address `send_message` takes from the From header."""
        mail = EmailMessage()
        mail["From"] = self.sender
        return extract_sender(mail)

    def plain_envelope(self, message: Outgoing) -> tuple[str, str] | None:
        """(sender, recipient) for `rendered`, or None when the recipient is not a plain ASCII
        address or the sender not ASCII (SMTPUTF8: left to `send_message`)."""
        sender = self.envelope_sender
        if sender is None or not sender.isascii() or not _PLAIN_HEADERS["To"].fullmatch(message.address):
            return None
        return sender, message.address

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout_s,
            username=self.username,
            password=self.password,
            start_tls=self.start_tls,
            use_tls=False,
        )
        await client.connect()
        self.connections_opened += 1
        return client

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            since, client = self._idle.pop()
            if now - since < self.idle_s and client.is_connected:
                return client
            client.close()
        return None

    async def send(self, message: Outgoing) -> str:
        mail = _Mail(self, message)
        try:
            client = self._take_idle()
            if client is not None:
                try:
                    await _send_on(client, mail)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    client = None  # dropped while idle: once more, on a new connection
            if client is None:
                client = await self._connect()
                await _send_on(client, mail)
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [r.code for r in e.recipients]
            permanent = all(c >= 500 for c in codes)
            raise DeliveryError("recipient_refused", str(e), permanent=permanent) from None
        except aiosmtplib.SMTPResponseException as e:
            raise DeliveryError(f"smtp_{e.code}", e.message, permanent=e.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            raise DeliveryError("smtp_unreachable", repr(e), permanent=False) from None
        self._idle.append((time.monotonic(), client))
        return mail.message_id

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, client in idle:
            with contextlib.suppress(Exception):
                await client.quit()
            client.close()


class _Mail:
    """One e-mail: as bytes (`SmtpMailer.rendered`) on a connection that greeted with 8BITMIME, else
    as the EmailMessage `send_message` flattens itself. Both give the server the same message."""

    def __init__(self, mailer: SmtpMailer, message: Outgoing) -> None:
        self.mailer, self.message = mailer, message
        self.envelope = mailer.plain_envelope(message)
        # built now, as before: a header the library refuses fails the send before any connection
        self.data = mailer.rendered(message) if self.envelope is not None else None
        self.mail = mailer.build(message) if self.envelope is None else None
        value = message_id(message.idempotency_key, mailer.domain)
        # what `str(mail["Message-ID"])` gives: the value itself in the plain form
        plain = _PLAIN_HEADERS["Message-ID"].fullmatch(value)
        self.message_id = value if plain else str(policy.default.header_store_parse("Message-ID", value)[1])

    async def send_on(self, client: aiosmtplib.SMTP) -> None:
        if self.data is not None and not client.is_ehlo_or_helo_needed and client.supports_extension("8bitmime"):
            sender, recipient = self.envelope
            await client.sendmail(sender, [recipient], self.data, mail_options=["BODY=8BITMIME"])
            return
        await client.send_message(self.mail or self.mailer.build(self.message))


async def _send_on(client: aiosmtplib.SMTP, mail: _Mail) -> None:
    """One message on one connection; a connection a send failed on is closed, never reused."""
    try:
        await mail.send_on(client)
    except BaseException:
        client.close()
        raise
