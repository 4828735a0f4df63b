"""The two delivery channels: e-mail over SMTP and SMS through an HTTP gateway.

Both raise `DeliveryError`, which says whether a failure is worth retrying (network, timeouts,
429, 5xx, SMTP 4xx) or permanent (other 4xx, SMTP 5xx: a bad address or a rejected message)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime
from io import BytesIO
from urllib.parse import urlsplit

import aiosmtplib
import h11
import httpx
import orjson
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
    """Posts each SMS to the gateway over HTTP/1.1 connections kept alive between messages: one
    per send in flight, taken back once its exchange completed cleanly.

    The requests are written and the answers parsed with h11 (the HTTP/1.1 state machine httpx
    uses underneath) on asyncio streams, without httpx's client layers, which cost ~1.2 ms of CPU
    per SMS against ~0.2 ms this way (issue 18's broadcast). Same request (the JSON body,
    the bearer token, the `Idempotency-Key`), same answers and the same `DeliveryError`s;
    `timeout_s` bounds the whole exchange. TLS trusts what httpx trusts. With a proxy set in the
    environment for the gateway's URL, it goes through httpx, which honours it."""

    def __init__(self, url: str, token: str, timeout_s: float, *, idle_s: float = 4.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.idle_s = idle_s  # below uvicorn's 5 s keep-alive: the gateway should not close it first
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"SMS gateway URL must be http(s)://host/...: {url!r}")
        self._host, self._tls = parts.hostname, parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = [
            ("Host", parts.netloc.rpartition("@")[2]),
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("Accept", "*/*"),
            ("User-Agent", "learnstreet-notify"),
        ]
        self._idle: list[tuple[float, _Http11]] = []  # (idle since, connection), most recent last
        self.connections_opened = 0
        self._ssl = httpx.create_ssl_context() if self._tls else None
        self._proxied = _proxied(url)
        self._http = (
            httpx.AsyncClient(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})
            if self._proxied
            else None
        )

    async def send(self, message: Outgoing) -> str:
        body = orjson.dumps({"to": message.address, "text": message.body, "reference": message.notification_id})
        if self._http is not None:
            status, content = await self._via_httpx(body, message.idempotency_key)
        else:
            try:
                async with asyncio.timeout(self.timeout_s):
                    status, content = await self._exchange(body, message.idempotency_key)
            except TimeoutError as e:
                raise DeliveryError("timeout", f"SMS gateway did not answer: {e!r}", permanent=False) from None
            except (OSError, EOFError, h11.ProtocolError) as e:
                raise DeliveryError("unreachable", f"SMS gateway unreachable: {e!r}", permanent=False) from None
        if 200 <= status < 300:
            try:
                return str(orjson.loads(content).get("id", ""))
            except (orjson.JSONDecodeError, AttributeError):
                return ""
        detail = f"HTTP {status}: {content.decode('utf-8', 'replace')[:200]}"
        if status in RETRYABLE_HTTP or status >= 500:
            reason = "rate_limited" if status == 429 else f"http_{status}"
            raise DeliveryError(reason, detail, permanent=False)
        raise DeliveryError(f"http_{status}", detail, permanent=True)

    async def _exchange(self, body: bytes, idempotency_key: str) -> tuple[int, bytes]:
        headers = [*self._headers, ("Idempotency-Key", idempotency_key), ("Content-Length", str(len(body)))]
        connection = self._take_idle() or await self._connect()
        try:
            status, content = await connection.exchange(
                h11.Request(method="POST", target=self._target, headers=headers), body
            )
        except BaseException:
            connection.close()
            raise
        if connection.reusable():
            self._idle.append((time.monotonic(), connection))
        else:
            connection.close()
        return status, content

    async def _via_httpx(self, body: bytes, idempotency_key: str) -> tuple[int, bytes]:
        assert self._http is not None
        try:
            response = await self._http.post(
                self.url,
                content=body,
                headers={"Idempotency-Key": idempotency_key, "Content-Type": "application/json"},
            )
        except httpx.TimeoutException as e:
            raise DeliveryError("timeout", f"SMS gateway did not answer: {e!r}", permanent=False) from None
        except httpx.TransportError as e:
            raise DeliveryError("unreachable", f"SMS gateway unreachable: {e!r}", permanent=False) from None
        return response.status_code, response.content

    def _take_idle(self) -> _Http11 | None:
        now = time.monotonic()
        while self._idle:
            since, connection = self._idle.pop()
            if now - since < self.idle_s and connection.open():
                return connection
            connection.close()  # idle too long, or the gateway closed it meanwhile
        return None

    async def _connect(self) -> _Http11:
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._tls else None
        )
        self.connections_opened += 1
        return _Http11(reader, writer)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, connection in idle:
            connection.close()
        if self._http is not None:
            await self._http.aclose()


def _proxied(url: str) -> bool:
    """Whether the environment routes this URL through a proxy (as httpx's trust_env reads it)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.netloc)


class _Http11:
    """One kept-alive HTTP/1.1 client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.state = h11.Connection(h11.CLIENT)

    async def exchange(self, request: h11.Request, body: bytes) -> tuple[int, bytes]:
        state = self.state
        self.writer.write(state.send(request) + state.send(h11.Data(data=body)) + state.send(h11.EndOfMessage()))
        status, chunks = 0, []
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA:
                # b"" = closed by the gateway: h11 raises if the answer was incomplete
                state.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise EOFError("the SMS gateway closed the connection before answering")
            # an h11.InformationalResponse (1xx) precedes the answer: read on

    def reusable(self) -> bool:
        if self.state.our_state is h11.DONE and self.state.their_state is h11.DONE:
            self.state.start_next_cycle()
            return True
        return False  # the gateway said close, or answered before reading the request

    def open(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


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
