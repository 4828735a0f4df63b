"""notify's SMS client (`SmsGateway`) speaks HTTP/1.1 to the gateway itself (h11 on asyncio
streams) instead of through httpx's client, which cost ~1.2 ms of CPU per SMS (issue 18). Against
a scripted server: the request the gateway gets, kept-alive connections (and new ones where the
gateway closed them), chunked answers, and the same `DeliveryError`s as before for refusals,
timeouts and a gateway that is gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest

from services.notify.adapters.channels import DeliveryError, Outgoing, SmsGateway


def _answer(status: int, body: bytes = b'{"id": "m-1", "status": "accepted"}', *, close: bool = False) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


class Gateway:
    """Answers each request with the next scripted reply: bytes to write, then "close" (drop the
    connection after writing), or "hang" (never answer)."""

    def __init__(self) -> None:
        self.script: list[tuple[bytes, str]] = []
        self.requests: list[tuple[bytes, dict[str, str], bytes]] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode().split("\r\n")[:-2]
                headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.requests.append((line.encode(), headers, body))
                reply, then = self.script.pop(0) if self.script else (_answer(201), "")
                if then == "hang":
                    await asyncio.sleep(3600)
                writer.write(reply)
                await writer.drain()
                if then == "close":
                    break
        writer.close()

    async def __aenter__(self) -> Gateway:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            if "_serve" in repr(task.get_coro()):
                task.cancel()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/messages"


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with Gateway() as g:
        yield g


def _sms(n: int = 1) -> Outgoing:
    return Outgoing(
        notification_id=f"n-{n}", resident_id="r", idempotency_key=f"key-{n}", address="+8613900000001",
        subject="", body="平湖学习周下周一开幕。", language="zh-CN", first_attempt_at=datetime(2026, 12, 5, tzinfo=UTC),
    )  # fmt: skip


async def test_the_gateway_gets_the_message_its_token_and_key_over_one_kept_connection(gateway: Gateway):
    client = SmsGateway(gateway.url, "tok", 5.0)
    try:
        ids = [await client.send(_sms(n)) for n in range(3)]
    finally:
        await client.close()
    assert ids == ["m-1"] * 3
    assert gateway.connections == 1 and client.connections_opened == 1
    line, headers, body = gateway.requests[0]
    assert line == b"POST /v1/messages HTTP/1.1"
    assert headers["host"] == f"127.0.0.1:{gateway.port}"
    assert headers["authorization"] == "Bearer tok"
    assert headers["idempotency-key"] == "key-0"
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"to": "+8613900000001", "text": "平湖学习周下周一开幕。", "reference": "n-0"}
    assert [h["idempotency-key"] for _, h, _ in gateway.requests] == ["key-0", "key-1", "key-2"]


async def test_concurrent_sends_use_one_connection_each_and_keep_them(gateway: Gateway):
    client = SmsGateway(gateway.url, "tok", 5.0)
    try:
        for _ in range(3):
            await asyncio.gather(*(client.send(_sms(n)) for n in range(4)))
    finally:
        await client.close()
    assert client.connections_opened == gateway.connections <= 4
    assert len(gateway.requests) == 12


async def test_a_chunked_answer_is_read(gateway: Gateway):
    chunked = b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"id"\r\n9\r\n: "m-77"}\r\n0\r\n\r\n'
    gateway.script = [(chunked, ""), (_answer(201), "")]
    client = SmsGateway(gateway.url, "tok", 5.0)
    try:
        assert await client.send(_sms()) == "m-77"
        assert await client.send(_sms(2)) == "m-1"  # the connection stayed usable
    finally:
        await client.close()
    assert gateway.connections == 1


async def test_a_connection_the_gateway_closes_is_not_reused(gateway: Gateway):
    gateway.script = [(_answer(201, close=True), "close"), (_answer(201), "close"), (_answer(201), "")]
    client = SmsGateway(gateway.url, "tok", 5.0)
    try:
        assert await client.send(_sms(1)) == "m-1"  # said "Connection: close"
        assert await client.send(_sms(2)) == "m-1"  # closed without saying so
        await asyncio.sleep(0.05)  # the close reaches the client while the connection is idle
        assert await client.send(_sms(3)) == "m-1"
    finally:
        await client.close()
    assert gateway.connections == 3 and len(gateway.requests) == 3  # no request was sent twice


async def test_an_idle_connection_past_its_time_is_replaced(gateway: Gateway):
    client = SmsGateway(gateway.url, "tok", 5.0, idle_s=0.05)
    try:
        await client.send(_sms(1))
        await asyncio.sleep(0.1)
        await client.send(_sms(2))
    finally:
        await client.close()
    assert gateway.connections == 2


@pytest.mark.parametrize(
    ("status", "reason", "permanent"),
    [(429, "rate_limited", False), (500, "http_500", False), (503, "http_503", False), (409, "http_409", False),
     (400, "http_400", True), (401, "http_401", True), (404, "http_404", True)],
)  # fmt: skip
async def test_refusals_are_the_delivery_errors_they_were(gateway: Gateway, status: int, reason: str, permanent: bool):
    gateway.script = [(_answer(status, b'{"error": "no"}'), "")]
    client = SmsGateway(gateway.url, "tok", 5.0)
    try:
        with pytest.raises(DeliveryError) as raised:
            await client.send(_sms())
        assert await client.send(_sms(2)) == "m-1"  # a refusal leaves the connection usable
    finally:
        await client.close()
    assert (raised.value.reason, raised.value.permanent) == (reason, permanent)
    assert raised.value.detail == f'HTTP {status}: {{"error": "no"}}'


async def test_an_answer_that_is_not_json_still_counts_as_sent(gateway: Gateway):
    gateway.script = [(_answer(201, b"accepted"), "")]
    client = SmsGateway(gateway.url, "tok", 5.0)
    try:
        assert await client.send(_sms()) == ""
    finally:
        await client.close()


async def test_a_gateway_that_does_not_answer_is_a_timeout_and_its_connection_is_dropped(gateway: Gateway):
    gateway.script = [(b"", "hang")]
    client = SmsGateway(gateway.url, "tok", 0.3)
    try:
        with pytest.raises(DeliveryError) as raised:
            await client.send(_sms())
        assert (raised.value.reason, raised.value.permanent) == ("timeout", False)
        assert await client.send(_sms(2)) == "m-1"
    finally:
        await client.close()
    assert gateway.connections == 2


async def test_a_gateway_that_closes_mid_answer_or_is_gone_is_unreachable(gateway: Gateway):
    gateway.script = [(b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{"id"', "close")]
    client = SmsGateway(gateway.url, "tok", 5.0)
    try:
        with pytest.raises(DeliveryError) as raised:
            await client.send(_sms())
        assert (raised.value.reason, raised.value.permanent) == ("unreachable", False)
    finally:
        await client.close()
    gone = SmsGateway("http://127.0.0.1:9/v1/messages", "tok", 5.0)  # nothing listens on the discard port
    with pytest.raises(DeliveryError) as raised:
        await gone.send(_sms())
    assert (raised.value.reason, raised.value.permanent) == ("unreachable", False)


async def test_a_proxy_in_the_environment_sends_through_httpx(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = SmsGateway("http://sms.example/v1/messages", "tok", 5.0)
    monkeypatch.setenv("NO_PROXY", "sms.example")
    direct = SmsGateway("http://sms.example/v1/messages", "tok", 5.0)
    try:
        assert proxied._http is not None and direct._http is None
    finally:
        await proxied.close()
        await direct.close()
