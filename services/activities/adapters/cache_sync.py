"""Keeps every instance's caches equal to the database: PostgreSQL LISTEN/NOTIFY.

Each write the check-in path depends on announces what it changed (`announce`, called by the
repository inside the writing transaction; PostgreSQL delivers a NOTIFY only at commit, and not
at all on rollback). Every instance holds one listening connection (`CacheSync`) and refreshes
the announced entries from the database, a kind at a time, in one query per kind. Notifications
sent while an instance was not listening are lost, so the listener reloads everything each time
its connection is (re)established, after LISTEN, so nothing committed in between is missed.

Kafka alone could not do this: residents and seats arrive through the consumer group, so each
instance sees only its own partitions' events; catalogue changes arrive over HTTP at one instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import orjson

from services.activities.adapters.cache import Caches
from services.activities.metrics import CACHE_REFRESHES

log = logging.getLogger(__name__)

CHANNEL = "learnstreet_activities_cache"
# venue: its kiosks; session, course, resident: the row; seats: a session's confirmed residents;
# card: a resident's kiosk card (announced by resident id: no card goes through NOTIFY).
KINDS = ("venue", "session", "course", "resident", "seats", "card")
_MAX_PAYLOAD = 7_000  # PostgreSQL refuses payloads of 8,000 bytes and more


def payloads(kind: str, ids: Sequence[str]) -> list[str]:
    """`kind` and ids as JSON, split so that no payload exceeds the NOTIFY limit."""
    out: list[str] = []
    chunk: list[str] = []
    size = 0
    for i in dict.fromkeys(ids):
        if chunk and size + len(i) + 4 > _MAX_PAYLOAD:
            out.append(orjson.dumps({"kind": kind, "ids": chunk}).decode())
            chunk, size = [], 0
        chunk.append(i)
        size += len(i.encode()) + 4
    if chunk:
        out.append(orjson.dumps({"kind": kind, "ids": chunk}).decode())
    return out


async def announce(conn: asyncpg.Connection, kind: str, ids: Sequence[str]) -> None:
    """Tell every instance (at commit) that these entries changed."""
    assert kind in KINDS, kind
    if ids:
        await conn.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", CHANNEL, payloads(kind, ids))


class CacheSync:
    """The listener of one instance: `start()` returns after the first full load."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        caches: Caches,
        *,
        on_change: Callable[[], None] = lambda: None,
        health_every_s: float = 5.0,
        retry_after_s: float = 1.0,
    ) -> None:
        self.connect = connect
        self.caches = caches
        self.on_change = on_change  # something a parked check-in waits for may have arrived
        self.health_every_s = health_every_s
        self.retry_after_s = retry_after_s
        self._changed: dict[str, set[str]] = defaultdict(set)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loaded = asyncio.Event()

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            message = orjson.loads(payload)
            self._changed[message["kind"]].update(message["ids"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring a malformed cache notification: %.200s", payload)
            return
        self._wake.set()

    async def _session(self) -> None:
        conn = await self.connect()
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            # Announcements before LISTEN were never received: read everything after it.
            self._changed.clear()
            await self.caches.load(conn)
            CACHE_REFRESHES.labels("full").inc()
            self._loaded.set()
            self.on_change()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.health_every_s)
                self._wake.clear()
                if self._changed:
                    changed, self._changed = self._changed, defaultdict(set)
                    for kind, ids in changed.items():
                        await self.caches.refresh(conn, kind, sorted(ids))
                        CACHE_REFRESHES.labels(kind).inc()
                    self.on_change()
                else:
                    # A connection that died silently (no FIN) delivers nothing: probe it.
                    await conn.fetchval("SELECT 1", timeout=self.health_every_s)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("cache listener lost its connection (%r); reconnecting and reloading", error)
            await asyncio.sleep(self.retry_after_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="activities-cache-sync")
        loaded = asyncio.create_task(self._loaded.wait())
        done, _ = await asyncio.wait({loaded, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            loaded.cancel()
            self._task.result()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
