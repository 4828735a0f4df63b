"""A small HTTP/1.1 load client for a fixed list of requests (wrk runs for a duration, not a count).

Each of `connections` keep-alive connections takes the next request from one shared queue, so the
requests leave in list order as fast as the server answers; each request's latency is measured from
its write to the end of its response. The client does no JSON or header parsing beyond
Content-Length, so it costs far less per request than the server it measures.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench import stats


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""


@dataclass
class Burst:
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)  # in the order of the request list

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return stats.percentile(self.latencies_ms, q)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def run(base_url: str, token: str, requests: list[Request], connections: int = 64) -> Burst:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    encoded = [
        (
            f"{r.method} {r.path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(r.body)}\r\n\r\n"
        ).encode()
        + r.body
        for r in requests
    ]
    latencies = [0.0] * len(requests)
    bodies = [b""] * len(requests)
    statuses: dict[int, int] = {}
    next_index = 0
    streams = [await asyncio.open_connection(host, port) for _ in range(connections)]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal next_index
        while next_index < len(encoded):
            i = next_index
            next_index += 1
            sent = time.perf_counter()
            writer.write(encoded[i])
            status, body = await _read_response(reader)
            latencies[i] = (time.perf_counter() - sent) * 1000
            statuses[status] = statuses.get(status, 0) + 1
            bodies[i] = body

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(r, w) for r, w in streams))
    finally:
        for _, writer in streams:
            writer.close()
    return Burst(time.perf_counter() - started, latencies, statuses, bodies)
