"""Several weeks of a Pinghu street, driven only through the platform's real interfaces:
operators over HTTP, residents over HTTP, kiosks through the kiosk Kafka topic (each kiosk with
its own principal, kiosk.<id>, and its own signing key) and the HTTP gateway, assessors over HTTP.

Ids are fixed by the dataset, so a second run on the same stack changes nothing twice:
existing venues, courses, sessions and residents answer 409 and are kept; repeated check-ins
are recognised as the same attendance.
"""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deploy.demo.dataset import Street, card_of
from deploy.local import keycloak, kiosk_principals
from shared.events import topics
from shared.events.catalogue import KioskCheckin
from shared.kiosk_signing import public_bytes, sign

PORTS = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}
WEEKS_OF_HISTORY = 4
SESSION_HOURS = 2


@dataclass
class Plan:
    """Which sessions exist and who attends them (decided up front, reproducibly)."""

    past: list[dict[str, Any]] = field(default_factory=list)
    upcoming: list[dict[str, Any]] = field(default_factory=list)
    live: list[dict[str, Any]] = field(default_factory=list)  # starting now: enrolled residents check in
    attendance: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (resident, session)


@dataclass
class Tally:
    requests: Counter = field(default_factory=Counter)
    checkins_sent: int = 0
    checkins_http: int = 0
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    enrolled: Counter = field(default_factory=Counter)
    cancelled: int = 0


class Platform:
    """HTTP clients for the four services and a kiosk producer, all with their own credentials."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.http = {
            name: httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{env.get(f'{name.upper()}_HTTP_PORT', port)}", timeout=30.0, limits=limits
            )
            for name, port in PORTS.items()
        }
        # one producer per kiosk, each with the kiosk's own Kafka principal (kiosk.<id>)
        self.kiosks: dict[str, AIOKafkaProducer] = {}

    # Headers are asked for at each call: an identity provider's token lives minutes, the demo
    # longer (keycloak.dev_token caches each until shortly before it expires).
    @property
    def operator(self) -> dict[str, str]:
        return self.auth("operator", "demo-operator")

    @property
    def assessor(self) -> dict[str, str]:
        return self.auth("assessor", "demo-assessor")

    def auth(self, role: str, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keycloak.dev_token(role, subject, ttl_s=7200, env=self.env)}"}

    async def bearer(self, role: str, subject: str) -> dict[str, str]:
        """`auth` off the event loop: a provider's first token for a resident is a sign-in."""
        return await asyncio.to_thread(self.auth, role, subject)

    async def prepare(self, role: str, subjects: list[str]) -> None:
        """Accounts at the identity provider for many residents or kiosks at once (one import per
        500 rather than a request each); nothing to do with development tokens."""
        if self.env.get("LS_OIDC_ISSUER"):
            users = [(role, s, None) for s in dict.fromkeys(subjects)]
            await asyncio.to_thread(keycloak.ensure_users, users, self.env)

    async def start(self) -> None:
        """Nothing to open before the street is known: the kiosks come online in `kiosks_online`."""

    async def kiosks_online(self, kiosk_ids: list[str]) -> None:
        """Each kiosk with its own Kafka principal, allowed only to write kiosk.checkins: made and
        provisioned in one batch (deploy/local/kiosk_principals.py), then one producer per kiosk."""
        todo = [k for k in dict.fromkeys(kiosk_ids) if k not in self.kiosks]
        await asyncio.to_thread(kiosk_principals.provision, self.env, todo, report=False)

        async def online(kiosk_id: str) -> None:
            producer = AIOKafkaProducer(
                **kiosk_principals.client_kwargs(kiosk_id, self.env), acks="all", enable_idempotence=True,
                linger_ms=5,
            )  # fmt: skip
            await producer.start()
            self.kiosks[kiosk_id] = producer

        await asyncio.gather(*(online(k) for k in todo))

    def kiosk(self, kiosk_id: str) -> AIOKafkaProducer:
        return self.kiosks[kiosk_id]

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.kiosks.values()), return_exceptions=True)
        for client in self.http.values():
            await client.aclose()

    async def call(self, tally: Tally, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(5):
            try:
                response = await self.http[service].request(method, path, **kwargs)
            except httpx.TransportError:
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            if response.status_code == 503:  # dependency briefly unavailable: the API says retry
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            tally.requests[f"{service} {response.status_code}"] += 1
            return response
        raise RuntimeError(f"{service} {method} {path}: no answer after retries")


async def run_all(
    progress: Progress, label: str, items: list[Any], work: Callable[[Any], Awaitable[None]], concurrency: int = 48
) -> None:
    task = progress.add_task(label, total=len(items))
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            item = queue.get_nowait()
            await work(item)
            progress.advance(task)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _ok(response: httpx.Response, *allowed: int) -> None:
    if response.status_code not in (200, 201, 202, *allowed):
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                           f"{response.text[:300]}")  # fmt: skip


def plan(street: Street, now: datetime, seed: int = 7) -> Plan:
    """Sessions: weekly ones over the past weeks (attended by walk-in scans), one upcoming per
    course (enrolment, waitlists), and a few that started minutes ago (enrolled residents scan)."""
    rng = random.Random(seed)
    p = Plan()
    venues_by_community: dict[str, list] = {}
    for v in street.venues:
        venues_by_community.setdefault(v.community_id, []).append(v)
    for i, course in enumerate(street.courses):
        venue = rng.choice(venues_by_community.get(course.community_id) or street.venues)
        hour = rng.choice([9, 10, 14, 15, 19])
        for week in range(WEEKS_OF_HISTORY, 0, -1):
            day = (now - timedelta(weeks=week)).replace(hour=hour, minute=0, second=0, microsecond=0)
            start = day - timedelta(days=rng.randint(0, 5))
            p.past.append(_session(f"{course.course_id}-w{week}", course, venue, start, min(venue.capacity, 60)))
        start = (now + timedelta(days=1 + i % 13)).replace(hour=hour, minute=0, second=0, microsecond=0)
        cap = rng.choice([10, 15, 20, 30])
        p.upcoming.append(_session(f"{course.course_id}-next", course, venue, start, min(venue.capacity, cap)))
        if i % 25 == 0:
            # Starts in 20 minutes: residents can still enrol, and scans now fall in [start − 30 min, end].
            live_start = now + timedelta(minutes=20)
            p.live.append(_session(f"{course.course_id}-live", course, venue, live_start, min(venue.capacity, 40)))
    # Attendance: keen learners come to many sessions, families to several, a broad public to a few.
    residents = street.residents
    by_community: dict[str, list] = {}
    for r in residents:
        by_community.setdefault(r.community_id, []).append(r)
    past_by_community: dict[str, list] = {}
    for s in p.past:
        past_by_community.setdefault(s["community_id"], []).append(s)
    seats: Counter = Counter()

    def attend(resident, sessions: list[dict[str, Any]], n: int) -> None:
        for s in rng.sample(sessions, min(n, len(sessions))):
            if seats[s["session_id"]] < s["capacity"]:
                seats[s["session_id"]] += 1
                p.attendance.append((resident.resident_id, s))

    keen = rng.sample(residents, min(150, len(residents) // 50))
    for r in keen:
        attend(r, past_by_community.get(r.community_id, p.past), 24)
    families: dict[str, list] = {}
    for r in residents:
        if r.family_id:
            families.setdefault(r.family_id, []).append(r)
    big_families = [m for m in families.values() if len(m) >= 3]
    for members in rng.sample(big_families, min(60, len(big_families))):
        for r in members:
            attend(r, past_by_community.get(r.community_id, p.past), 7)
    employers: dict[str, list] = {}
    for r in residents:
        if r.employer_id:
            employers.setdefault(r.employer_id, []).append(r)
    for staff in list(employers.values())[:8]:
        for r in staff[: int(len(staff) * 0.6) + 1]:
            attend(r, past_by_community.get(r.community_id, p.past), 1)
    for r in rng.sample(residents, int(len(residents) * 0.3)):
        attend(r, past_by_community.get(r.community_id, p.past), rng.choice([1, 1, 2, 3]))
    return p


def _session(session_id: str, course, venue, start: datetime, capacity: int) -> dict[str, Any]:
    return {
        "session_id": session_id, "course_id": course.course_id, "venue_id": venue.venue_id,
        "community_id": venue.community_id, "kiosk_ids": venue.kiosk_ids, "capacity": max(1, capacity),
        "starts_at": start, "ends_at": start + timedelta(hours=SESSION_HOURS),
        "elderly": course.theme == "elderly_learning", "audiences": list(course.audiences),
    }  # fmt: skip


async def load_street(platform: Platform, street: Street, p: Plan, tally: Tally, progress: Progress) -> None:
    async def venue(v) -> None:
        body = {"venue_id": v.venue_id, "community_id": v.community_id, "name_zh": v.name_zh, "name_en": v.name_en,
                "venue_type": v.venue_type, "capacity": v.capacity, "kiosk_ids": v.kiosk_ids}  # fmt: skip
        _ok(await platform.call(tally, "activities", "POST", "/v1/venues", json=body, headers=platform.operator), 409)

    provider_names = {
        "school_teacher": ("学校教师", "School teacher"),
        "training_lecturer": ("培训讲师", "Lecturer"),
        "doctor": ("社区医生", "Community doctor"),
        "counsellor": ("心理咨询师", "Counsellor"),
        "industry_leader": ("行业骨干", "Industry leader"),
        "volunteer": ("志愿者", "Volunteer"),
    }
    providers = {c.provider_id: c.provider_kind for c in street.courses if c.provider_id}

    async def provider(item) -> None:
        provider_id, kind = item
        zh, en = provider_names.get(kind, (kind, kind))
        body = {
            "provider_id": provider_id,
            "kind": kind,
            "name_zh": f"{zh}{provider_id[-4:]}",
            "name_en": f"{en} {provider_id[-4:]}",
        }
        _ok(
            await platform.call(tally, "activities", "POST", "/v1/providers", json=body, headers=platform.operator), 409
        )

    async def course(c) -> None:
        body = {"course_id": c.course_id, "title_zh": c.title_zh, "title_en": c.title_en, "theme": c.theme,
                "audiences": c.audiences, "provider_kind": c.provider_kind, "provider_id": c.provider_id,
                "brand": c.brand, "community_id": c.community_id}  # fmt: skip
        _ok(await platform.call(tally, "activities", "POST", "/v1/courses", json=body, headers=platform.operator), 409)

    async def session(s) -> None:
        body = {"session_id": s["session_id"], "venue_id": s["venue_id"], "starts_at": s["starts_at"].isoformat(),
                "ends_at": s["ends_at"].isoformat(), "capacity": s["capacity"]}  # fmt: skip
        response = await platform.call(
            tally, "activities", "POST", f"/v1/courses/{s['course_id']}/sessions", json=body, headers=platform.operator
        )
        _ok(response, 409)

    def resident(r) -> dict[str, Any]:
        return {
            "resident_id": r.resident_id,
            "card_number": r.card_number,
            "community_id": r.community_id,
            "audience_group": r.audience_group,
            "family_id": r.family_id,
            "employer_id": r.employer_id,
            "volunteer": r.volunteer,
            "phone": r.phone,
            "email": r.email,
            "language": r.language,
            "consent": r.consent,
            "consents": r.consents,
            "preferred_channel": r.preferred_channel if (r.email or r.preferred_channel == "sms") else "sms",
        }

    async def registry(chunk) -> None:
        # The street loads its registry in chunks; already registered residents are reported, not changed.
        response = await platform.call(
            tally,
            "enrolment",
            "POST",
            "/v1/residents/import",
            json={"residents": [resident(r) for r in chunk]},
            headers=platform.operator,
        )
        _ok(response)
        progress.advance(residents_task, len(chunk))

    await run_all(progress, "场地 venues (operators, HTTP)", street.venues, venue, 8)

    async def kiosk_key(kiosk_id: str) -> None:
        # contract v2: each kiosk's public key, registered by an operator; its scans are signed
        public = base64.b64encode(public_bytes(kiosk_principals.signing_key(kiosk_id))).decode()
        path = f"/v1/kiosks/{kiosk_id}/keys"
        _ok(
            await platform.call(
                tally, "activities", "POST", path, json={"public_key": public}, headers=platform.operator
            )
        )

    kiosks = [k for v in street.venues for k in v.kiosk_ids]
    await run_all(progress, "签到机密钥 kiosk signing keys (operators, HTTP)", kiosks, kiosk_key, 8)
    online = progress.add_task("签到机身份 kiosks' own Kafka principals", total=len(kiosks))
    await platform.kiosks_online(kiosks)
    progress.advance(online, len(kiosks))
    await run_all(progress, "授课者 providers (operators, HTTP)", list(providers.items()), provider, 16)
    await run_all(progress, "课程 courses (operators, HTTP)", street.courses, course, 16)
    await run_all(progress, "课节 sessions (operators, HTTP)", p.past + p.upcoming + p.live, session, 32)
    residents_task = progress.add_task("居民登记 residents' registry (operators, HTTP)", total=len(street.residents))
    await asyncio.gather(*(registry(chunk) for chunk in chunks(street.residents, 500)))


async def vote_needs(platform: Platform, street: Street, tally: Tally, progress: Progress, seed: int = 11) -> None:
    rng = random.Random(seed)
    voters = rng.sample(street.residents, min(1500, len(street.residents) // 10))
    popular = ["vocational_digital", "health", "parenting", "elderly_learning", "law", "environment"]

    await platform.prepare("resident", [r.resident_id for r in voters])

    async def vote(r) -> None:
        theme = rng.choice(popular) if rng.random() < 0.7 else rng.choice(street.themes)
        headers = await platform.bearer("resident", r.resident_id)
        body = {"theme": theme, "community_id": r.community_id}
        _ok(await platform.call(tally, "activities", "POST", "/v1/needs/votes", json=body, headers=headers), 409)

    await run_all(progress, "需求投票 needs votes (residents, HTTP)", voters, vote, 32)


async def enrol(platform: Platform, street: Street, p: Plan, tally: Tally, progress: Progress, seed: int = 13) -> list:
    """Residents enrol in upcoming sessions (popular ones fill and waitlist), then some cancel and
    the waitlist promotes; residents also enrol in the sessions running now, then scan in."""
    rng = random.Random(seed)
    by_community: dict[str, list] = {}
    for r in street.residents:
        by_community.setdefault(r.community_id, []).append(r)
    requests: list[tuple[Any, dict[str, Any]]] = []
    for s in p.upcoming + p.live:
        pool = by_community.get(s["community_id"], street.residents)
        demand = int(s["capacity"] * rng.choice([0.5, 0.9, 1.3, 2.0]))
        for r in rng.sample(pool, min(len(pool), demand)):
            if s["audiences"] and r.audience_group not in s["audiences"]:
                continue  # residents choose courses meant for them; the API would refuse the others
            requests.append((r, s))
    rng.shuffle(requests)
    await platform.prepare("resident", [r.resident_id for r, _ in requests])
    confirmed: list[tuple[str, str, dict[str, Any]]] = []

    async def one(item) -> None:
        r, s = item
        headers = await platform.bearer("resident", r.resident_id)
        response = await platform.call(
            tally, "enrolment", "POST", f"/v1/sessions/{s['session_id']}/enrolments",
            json={"resident_id": r.resident_id}, headers=headers,
        )  # fmt: skip
        if response.status_code == 201:
            body = response.json()
            tally.enrolled[body.get("status", "?")] += 1
            if body.get("status") == "confirmed":
                confirmed.append((body["enrolment_id"], r.resident_id, s))
        else:
            tally.enrolled[f"refused {response.status_code}"] += 1

    await run_all(progress, "报名 enrolments (residents, HTTP)", requests, one, 48)
    cancellations = [c for c in confirmed if c[2] in p.upcoming]
    cancellations = rng.sample(cancellations, len(cancellations) // 10)

    async def cancel(item) -> None:
        enrolment_id, resident_id, _ = item
        headers = await platform.bearer("resident", resident_id)
        response = await platform.call(tally, "enrolment", "DELETE", f"/v1/enrolments/{enrolment_id}", headers=headers)
        _ok(response, 404, 409)
        tally.cancelled += 1

    await run_all(progress, "取消与候补递补 cancellations → promotions", cancellations, cancel, 32)
    return [c for c in confirmed if c[2] in p.live and c not in cancellations]


def checkin(resident_id: str, s: dict[str, Any], at: datetime, rng: random.Random, direction: str = "in") -> dict:
    """A kiosk's scan of the resident's card (the kiosk reads the card, not the id)."""
    # Seeded (a rerun sends the same ids, taken as kiosk retries) and tied to the session, whose id
    # carries the run: another street's scans with the same seed would reuse this street's ids
    # and be dead-lettered as checkin_id_conflict.
    seeded = uuid.UUID(int=rng.getrandbits(128), version=4)
    return {
        "checkin_id": str(uuid.uuid5(seeded, s["session_id"])), "kiosk_id": rng.choice(s["kiosk_ids"]),
        "venue_id": s["venue_id"], "resident_id": card_of(resident_id), "session_id": s["session_id"],
        "scanned_at": at.astimezone(UTC).isoformat(), "direction": direction,
    }  # fmt: skip


async def scan(platform: Platform, p: Plan, live: list, tally: Tally, progress: Progress, seed: int = 17) -> None:
    """Kiosk traffic: most scans through the kiosk topic, some through the HTTP gateway; 5%
    duplicates (kiosk retries), an offline kiosk whose scans sync at the end, 1% malformed."""
    rng = random.Random(seed)
    scans: list[dict] = []
    for resident_id, s in p.attendance:
        at = s["starts_at"] - timedelta(minutes=rng.randint(0, 25))
        scans.append(checkin(resident_id, s, at, rng))
        if rng.random() < 0.3:  # a check-out: minutes attended from the kiosk's pair of scans
            scans.append(checkin(resident_id, s, s["ends_at"] - timedelta(minutes=rng.randint(0, 40)), rng, "out"))
    for _enrolment_id, resident_id, s in live:
        scans.append(checkin(resident_id, s, datetime.now(UTC) - timedelta(seconds=rng.randint(0, 60)), rng))
    offline_kiosk = p.past[0]["kiosk_ids"][0] if p.past else None
    held_back = [c for c in scans if c["kiosk_id"] == offline_kiosk]
    online = [c for c in scans if c["kiosk_id"] != offline_kiosk]
    duplicates = rng.sample(online, len(online) // 20)
    malformed = [_malformed(rng, i) for i in range(max(1, len(online) // 100))]
    via_http = set(rng.sample(range(len(online)), min(300, len(online))))
    task = progress.add_task("签到 kiosk check-ins (Kafka + HTTP gateway)", total=len(online) + len(duplicates))
    futures = []
    http_items = []
    for i, c in enumerate(online + duplicates):
        if i in via_http:
            http_items.append(c)
            continue
        futures.append(await platform.kiosk(c["kiosk_id"]).send(
            topics.KIOSK_CHECKINS.name, orjson.dumps(c), key=c["resident_id"].encode(), headers=signed(c)))  # fmt: skip
        if len(futures) >= 5000:
            await asyncio.gather(*futures)
            progress.advance(task, len(futures))
            futures.clear()
    await asyncio.gather(*futures)
    progress.advance(task, len(futures))

    await platform.prepare("kiosk", [c["kiosk_id"] for c in http_items])

    async def gateway(c) -> None:
        headers = await platform.bearer("kiosk", c["kiosk_id"])  # a kiosk may only report its own scans
        headers.update((k, v.decode()) for k, v in signed(c))
        _ok(await platform.call(tally, "activities", "POST", "/v1/checkins", json=c, headers=headers))
        tally.checkins_http += 1
        progress.advance(task)

    await asyncio.gather(*(gateway(c) for c in http_items))
    for raw, key in malformed:  # from a kiosk with broken firmware, through its own principal
        await platform.kiosk(online[0]["kiosk_id"]).send_and_wait(topics.KIOSK_CHECKINS.name, raw, key=key)
    offline = progress.add_task(f"离线签到机补传 offline kiosk {offline_kiosk} syncs late", total=len(held_back))
    for c in held_back:
        await platform.kiosk(c["kiosk_id"]).send(
            topics.KIOSK_CHECKINS.name, orjson.dumps(c), key=c["resident_id"].encode(), headers=signed(c)
        )
        progress.advance(offline)
    await asyncio.gather(*(producer.flush() for producer in platform.kiosks.values()))
    tally.checkins_sent = len(online) + len(held_back)
    tally.duplicates, tally.late, tally.malformed = len(duplicates), len(held_back), len(malformed)


def signed(c: dict) -> list[tuple[str, bytes]]:
    """The Kafka headers signing scan `c` with its kiosk's local key (contract v2)."""
    headers = sign(kiosk_principals.signing_key(c["kiosk_id"]), KioskCheckin.model_validate(c))
    return [(k, v.encode()) for k, v in headers.items()]


def _malformed(rng: random.Random, i: int) -> tuple[bytes, bytes]:
    kinds = [
        b"{\"checkin_id\": \"not-a-uuid\", \"kiosk_id\": \"k\", \"venue_id\": \"v\", \"resident_id\": \"r\"}",
        b"\x00\x01 garbled scan",
        orjson.dumps({"checkin_id": str(uuid.uuid4()), "kiosk_id": "k1", "venue_id": "v1", "resident_id": "r1",
                      "scanned_at": "yesterday"}),
        orjson.dumps({"checkin_id": str(uuid.uuid4()), "kiosk_id": "k1", "resident_id": "r1",
                      "scanned_at": "2026-11-01T10:00:00+08:00"}),
    ]  # fmt: skip
    return kinds[i % len(kinds)], f"malformed-{i}".encode()


async def assess(platform: Platform, street: Street, tally: Tally, progress: Progress, seed: int = 19) -> None:
    rng = random.Random(seed)
    response = await platform.call(tally, "scoring", "GET", "/v1/indicators", headers=platform.operator)
    _ok(response)
    assessed = [i for a in response.json()["aspects"] for i in a["indicators"] if i["kind"] == "assessed"]
    work = []
    for community in street.communities:
        for ind in assessed:
            quality = rng.uniform(0.6, 1.0)
            work.append({
                "indicator_id": ind["id"], "community_id": community.id, "score": round(ind["max"] * quality, 1),
                "evidence_text": f"{community.name_zh}社区：{ind['name_zh']}材料齐备，现场走访核实。"
                                 f" / {community.name_en}: {ind['name_en']} documents reviewed and verified on site.",
                "evidence_url": f"https://evidence.example.org/{community.id}/{ind['id']}.pdf",
            })  # fmt: skip

    async def one(body) -> None:
        _ok(await platform.call(tally, "scoring", "POST", "/v1/assessments", json=body, headers=platform.assessor))

    await run_all(progress, "专家评估 expert assessments (assessors, HTTP)", work, one, 16)


async def competition(platform: Platform, street: Street, tally: Tally, seed: int = 23) -> None:
    rng = random.Random(seed)
    winners = rng.sample(street.residents, min(6, len(street.residents)))
    # Results name a set-up competition and its round (POST /v1/competitions; 200 when set up already).
    setup = {"competition_id": "pinghu-knowledge-contest", "name_zh": "平湖街道全民学习知识竞赛",
             "name_en": "Pinghu learning knowledge contest", "rounds": 1, "places": len(winners)}  # fmt: skip
    _ok(await platform.call(tally, "scoring", "POST", "/v1/competitions", json=setup, headers=platform.operator), 409)
    body = {
        "period": str(datetime.now(UTC).year),
        "round": 1,
        "results": [
            {"place": i + 1, "resident_id": r.resident_id, "community_id": r.community_id}
            for i, r in enumerate(winners)
        ],
    }
    response = await platform.call(
        tally, "scoring", "POST", "/v1/competitions/pinghu-knowledge-contest/results", json=body,
        headers=platform.operator,
    )  # fmt: skip
    _ok(response, 409)


def chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- residents' feedback: a needs survey (问卷) and satisfaction after sessions (满意度) --------------

SATISFACTION = [5] * 45 + [4] * 35 + [3] * 12 + [2] * 5 + [1] * 3  # how residents rate a session


def needs_survey(survey_id: str, community_id: str) -> dict[str, Any]:
    return {
        "survey_id": survey_id,
        "title_zh": "社区学习需求问卷",
        "title_en": "Community learning needs survey",
        "audience": {"community_ids": [community_id]},
        "questions": [
            {"id": "often", "kind": "single", "title_zh": "您多久参加一次社区学习活动？",
             "title_en": "How often do you join a community learning activity?",
             "options": [{"id": "weekly", "label_zh": "每周", "label_en": "Weekly"},
                         {"id": "monthly", "label_zh": "每月", "label_en": "Monthly"},
                         {"id": "rarely", "label_zh": "很少", "label_en": "Rarely"}]},
            {"id": "themes", "kind": "multiple", "title_zh": "您希望增加哪些主题的课程？",
             "title_en": "Which themes would you like more courses on?",
             "options": [{"id": "digital", "label_zh": "数字技能", "label_en": "Digital skills"},
                         {"id": "health", "label_zh": "健康养生", "label_en": "Health"},
                         {"id": "parenting", "label_zh": "家庭教育", "label_en": "Parenting"},
                         {"id": "culture", "label_zh": "文化艺术", "label_en": "Culture and arts"}]},
            {"id": "offer", "kind": "scale", "scale_max": 5, "title_zh": "您对街道学习活动的总体满意度",
             "title_en": "Overall, how satisfied are you with the street's learning offer?"},
            {"id": "ideas", "kind": "text", "required": False, "title_zh": "其他建议", "title_en": "Other suggestions"},
        ],
    }  # fmt: skip


async def feedback(
    platform: Platform, street: Street, p: Plan, tally: Tally, progress: Progress, survey_id: str, seed: int = 29
) -> None:
    """A community's residents answer the needs survey; residents rate some sessions they attended
    (a rating needs a recorded attendance, so this runs once the scans are applied)."""
    rng = random.Random(seed)
    community = street.communities[0]
    body = needs_survey(survey_id, community.id)
    _ok(await platform.call(tally, "activities", "POST", "/v1/surveys", json=body, headers=platform.operator), 409)
    # a survey's answers are processed only for residents who agreed to surveys (the privacy notice)
    neighbours = [r for r in street.residents if r.community_id == community.id and "surveys" in r.consents]
    respondents = rng.sample(neighbours, min(len(neighbours), max(20, len(neighbours) // 5)))
    raters = rng.sample(p.attendance, min(len(p.attendance), max(50, len(p.attendance) // 12)))
    await platform.prepare("resident", [r.resident_id for r in respondents] + [rid for rid, _ in raters])

    async def answer(r) -> None:
        headers = await platform.bearer("resident", r.resident_id)
        answers = [
            {"question_id": "often", "value": rng.choice(["weekly", "monthly", "monthly", "rarely"])},
            {"question_id": "themes", "value": rng.sample(["digital", "health", "parenting", "culture"], 2)},
            {"question_id": "offer", "value": rng.choice(SATISFACTION)},
        ]
        if rng.random() < 0.2:
            answers.append({"question_id": "ideas", "value": rng.choice(
                ["希望增加周末晚上的课程", "希望多开老年人智能手机课", "More evening classes, please"])})  # fmt: skip
        path = f"/v1/surveys/{survey_id}/responses"
        response = await platform.call(tally, "activities", "POST", path, json={"answers": answers}, headers=headers)
        if response.status_code == 403 and '"consent"' in response.text:
            # registered by an earlier run, before the notice's purposes: they agree on the phone page,
            # as it asks them to, and answer once activities has heard
            await agree_to_surveys(r.resident_id, headers)
            for _ in range(60):
                response = await platform.call(tally, "activities", "POST", path, json={"answers": answers},
                                               headers=headers)  # fmt: skip
                if response.status_code != 403:
                    break
                await asyncio.sleep(0.5)
        _ok(response, 409)

    notice: dict[str, str] = {}

    async def agree_to_surveys(resident_id: str, headers: dict[str, str]) -> None:
        if not notice:
            r = await platform.call(tally, "enrolment", "GET", "/v1/privacy-notice")
            notice["version"] = r.json()["version"]
        path = f"/v1/residents/{resident_id}/consents/surveys"
        _ok(await platform.call(tally, "enrolment", "PUT", path, json={"notice_version": notice["version"]},
                                headers=headers))  # fmt: skip

    async def rate(item) -> None:
        resident_id, session = item
        headers = await platform.bearer("resident", resident_id)
        path = f"/v1/sessions/{session['session_id']}/satisfaction"
        body = {"score": rng.choice(SATISFACTION)}
        response = await platform.call(tally, "activities", "POST", path, json=body, headers=headers)
        # 403: that scan was not recorded (late or malformed), or no consent to surveys; 409: rated before
        _ok(response, 403, 409)

    await run_all(progress, f"问卷 needs survey ({community.name_zh}, residents, HTTP)", respondents, answer, 32)
    await run_all(progress, "满意度 session ratings (residents, HTTP)", raters, rate, 32)
