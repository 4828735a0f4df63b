"""The enrolment ceiling: the least an enrolment endpoint can do on this stack (uvicorn with uvloop,
an asyncpg pool, one `INSERT … RETURNING` per request, no framework, no validation), loaded with the
same wrk script as the enrolment API. The enrolment API's rate is judged against it.

    .venv/bin/python -m bench.ceiling_app PORT    # DSN in ENROLMENT_DATABASE_URL
"""

from __future__ import annotations

import os
import sys

import asyncpg
import orjson
import uvicorn

SCHEMA = "bench_ceiling"
POOL: asyncpg.Pool | None = None


async def app(scope, receive, send) -> None:
    global POOL
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                POOL = await asyncpg.create_pool(os.environ["ENROLMENT_DATABASE_URL"], min_size=10, max_size=10)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await POOL.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    row_id = await POOL.fetchval(
        f"INSERT INTO {SCHEMA}.enrolments (path, body) VALUES ($1, $2) RETURNING id", scope["path"], body
    )
    answer = orjson.dumps({"enrolment_id": str(row_id)})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


async def create_table(conn: asyncpg.Connection) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    await conn.execute(f"CREATE SCHEMA {SCHEMA}")
    await conn.execute(f"CREATE TABLE {SCHEMA}.enrolments (id bigserial PRIMARY KEY, path text, body bytea)")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", log_level="warning", access_log=False)
