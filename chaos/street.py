"""Registering a run's street through the services' HTTP APIs, and the enrolment traffic.

Everything goes through the public APIs with an operator token, as an operator's tools would:
venues with their kiosks, one course, its sessions (activities), residents (enrolment). Then,
during the load, residents enrol in small sessions and cancel, so waitlists are promoted while
the services are being killed.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.plan import Street
from chaos.processes import service_url
from deploy.local import kiosk_principals
from deploy.local.keycloak import dev_token
from shared.kiosk_signing import public_bytes

RETRY_STATUS = {404, 429, 502, 503, 504}  # 404: the session has not reached the service yet


class Api:
    def __init__(self, env: dict[str, str], concurrency: int = 16) -> None:
        self.env = env
        self.http = httpx.AsyncClient(timeout=15.0)
        self.limit = asyncio.Semaphore(concurrency)
        self.errors: dict[str, int] = {}

    def auth(self) -> dict[str, str]:
        # asked for each call: an identity provider's token lives minutes, the run an hour or more
        # (cached by dev_token until shortly before it expires)
        token = dev_token("operator", "chaos-operator", ttl_s=6 * 3600, env=self.env)
        return {"Authorization": f"Bearer {token}"}

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self, method: str, service: str, path: str, json: Any = None, *, ok=(200, 201, 202), retry_s: float = 90.0
    ) -> httpx.Response | None:
        """Retries while the service is down or restarting; None when it never succeeded."""
        url = service_url(service, self.env) + path
        deadline = asyncio.get_running_loop().time() + retry_s
        delay = 0.2
        async with self.limit:
            while True:
                try:
                    r = await self.http.request(method, url, json=json, headers=self.auth())
                    if r.status_code in ok:
                        return r
                    key = f"{service} {method} {r.status_code}"
                    if r.status_code not in RETRY_STATUS:
                        self.errors[key] = self.errors.get(key, 0) + 1
                        return r
                except httpx.HTTPError:
                    key = f"{service} {method} unreachable"
                if asyncio.get_running_loop().time() > deadline:
                    self.errors[key] = self.errors.get(key, 0) + 1
                    return None
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 1.5)


async def _all(calls: list[Awaitable[Any]], progress: Callable[[int], None] | None = None) -> list[Any]:
    async def one(c: Awaitable[Any]) -> Any:
        out = await c
        if progress:
            progress(1)
        return out

    return await asyncio.gather(*(one(c) for c in calls))


async def reference(api: Api) -> tuple[list[str], list[str]]:
    r = await api.call("GET", "activities", "/v1/reference")
    if r is None or r.status_code != 200:
        raise RuntimeError("activities /v1/reference is not available")
    data = r.json()
    return [c["id"] for c in data["communities"]], [t["id"] for t in data.get("themes", [])]


async def register(api: Api, street: Street, contacts: set[str], progress: Callable[[int], None]) -> None:
    """Venues, course, sessions, residents. Residents in `contacts` consent to notifications."""
    created = (200, 201, 409)  # 409: already there (a retried call that had succeeded)
    await _all(
        [
            api.call("POST", "activities", "/v1/venues", {
                "venue_id": v.venue_id, "community_id": v.community_id, "name_zh": f"学习点 {v.venue_id}",
                "name_en": f"Learning point {v.venue_id}", "venue_type": "library", "capacity": 100_000,
                "kiosk_ids": list(v.kiosk_ids),
            }, ok=created)
            for v in street.venues
        ],
        progress,
    )  # fmt: skip
    # contract v2: the signing kiosks' public keys, registered by the operator (200: already there);
    # without them every signed scan would be dead-lettered, so the run stops here instead
    keys = await _all([
        api.call("POST", "activities", f"/v1/kiosks/{kiosk_id}/keys", {
            "public_key": base64.b64encode(public_bytes(kiosk_principals.signing_key(kiosk_id))).decode(),
        })
        for kiosk_id in street.signing_kiosks
    ])  # fmt: skip
    refused = [
        k for k, r in zip(street.signing_kiosks, keys, strict=True) if r is None or r.status_code not in (200, 201)
    ]
    if refused:
        raise RuntimeError(f"activities did not register the keys of kiosks {refused[:3]}")
    await api.call("POST", "activities", "/v1/courses", {
        "course_id": street.course_id, "title_zh": "混沌测试课程", "title_en": "Chaos test course",
        "theme": street.theme, "audiences": [],
    }, ok=created)  # fmt: skip
    progress(1)
    await _all(
        [
            api.call("POST", "activities", f"/v1/courses/{street.course_id}/sessions", {
                "session_id": s.session_id, "venue_id": s.venue.venue_id, "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(), "capacity": s.capacity,
            }, ok=created)
            for s in street.all_sessions
        ],
        progress,
    )  # fmt: skip

    def resident(r) -> dict[str, Any]:
        body: dict[str, Any] = {"resident_id": r.resident_id, "community_id": r.community_id,
                                "audience_group": r.audience_group}  # fmt: skip
        if r.resident_id in contacts:
            n = int(r.resident_id.rsplit("r", 1)[1])
            if n % 2:
                body |= {"consent": True, "preferred_channel": "sms", "phone": f"+86138{n:08d}"}
            else:
                body |= {"consent": True, "preferred_channel": "email", "email": f"{r.resident_id}@example.org"}
        return body

    await _all(
        [api.call("POST", "enrolment", "/v1/residents", resident(r), ok=created) for r in street.all_residents],
        progress,
    )


@dataclass
class EnrolmentTraffic:
    """Enrol and cancel concurrently in small sessions; counts what the API answered."""

    api: Api
    street: Street
    residents: list[str]
    seed: int
    enrolled: dict[str, list[str]] = field(default_factory=dict)  # session -> enrolment ids
    counts: dict[str, int] = field(default_factory=dict)

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    async def run(self, rounds: int = 3, per_session: int = 8) -> None:
        rng = random.Random(self.seed)
        sessions = list(self.street.enrol_sessions)
        pool = list(self.residents)
        rng.shuffle(pool)
        for round_no in range(rounds):
            batch = []
            for s in sessions:
                for _ in range(per_session):
                    if not pool:
                        break
                    batch.append((s.session_id, pool.pop()))
            results = await asyncio.gather(*(self._enrol(s, r) for s, r in batch))
            for (session_id, _), enrolment_id in zip(batch, results, strict=True):
                if enrolment_id:
                    self.enrolled.setdefault(session_id, []).append(enrolment_id)
            await asyncio.sleep(1 + round_no)
            # cancel a few, some twice at once: a freed seat must go to exactly one waiting resident
            cancels = []
            for s in sessions:
                ids = self.enrolled.get(s.session_id, [])
                for eid in rng.sample(ids, min(3, len(ids))):
                    ids.remove(eid)
                    cancels += [eid, eid] if rng.random() < 0.5 else [eid]
            await asyncio.gather(*(self._cancel(e) for e in cancels))

    async def _enrol(self, session_id: str, resident_id: str) -> str | None:
        r = await self.api.call(
            "POST", "enrolment", f"/v1/sessions/{session_id}/enrolments", {"resident_id": resident_id}, ok=(201, 409)
        )
        if r is None:
            self._count("enrol_unanswered")
            return None
        self._count(f"enrol_{r.status_code}")
        return r.json().get("enrolment_id") if r.status_code == 201 else None

    async def _cancel(self, enrolment_id: str) -> None:
        r = await self.api.call("DELETE", "enrolment", f"/v1/enrolments/{enrolment_id}", ok=(200, 404, 409))
        self._count("cancel_unanswered" if r is None else f"cancel_{r.status_code}")
