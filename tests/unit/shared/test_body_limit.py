"""Request bodies over the limit get a clear 413, whether declared or streamed."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from shared.runtime import BodyLimit


class Body(BaseModel):
    text: str


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: Body) -> dict:
        return {"length": len(body.text)}

    app.add_middleware(BodyLimit, max_bytes=1024)
    return app


async def _chunks(*parts: bytes):
    for part in parts:
        yield part


async def test_declared_and_streamed_bodies_over_the_limit_are_refused_with_413():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as client:
        assert (await client.post("/echo", json={"text": "a" * 100})).json() == {"length": 100}
        declared = await client.post("/echo", json={"text": "a" * 2000})
        assert declared.status_code == 413
        assert "1024 bytes" in declared.json()["detail"][0]["msg"]
        streamed = await client.post(
            "/echo",
            content=_chunks(b'{"text":"', *[b"a" * 300] * 5, b'"}'),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413
        small_stream = await client.post(
            "/echo", content=_chunks(b'{"text":"', b"a" * 10, b'"}'), headers={"content-type": "application/json"}
        )
        assert small_stream.json() == {"length": 10}
