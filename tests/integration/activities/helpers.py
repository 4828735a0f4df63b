"""Set-up helpers for the activities integration tests: a venue with a kiosk, a course, a session,
residents and enrolments published the way enrolment publishes them, and a tail of a topic that
reads only what arrives after it was opened (the topics are shared and ever-growing)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.events.catalogue import KioskCheckin
from shared.events.envelope import EventData, envelop
from shared.events.topics import all_topic_specs
from shared.kiosk_signing import public_bytes, sign
from tests.support import client, env, eventually, headers_of, kafka_auth, producer, unique


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Place:
    venue_id: str
    kiosk_id: str
    course_id: str
    session_id: str
    starts_at: datetime
    ends_at: datetime


# Kiosks made with make_place(signing=True): send_checkins signs their scans (contract v2).
SIGNING_KIOSKS: set[str] = set()


def kiosk_key(kiosk_id: str):
    """A kiosk's local Ed25519 key, the one the demo and chaos kiosks use (derived per kiosk id)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
    import kiosk_principals  # deploy/local/kiosk_principals.py

    return kiosk_principals.signing_key(kiosk_id)


def signature_of(body: dict) -> list[tuple[str, bytes]]:
    """The contract-v2 headers of `body` when its kiosk signs and it can be signed, else none
    (a malformed body goes unsigned: the decoder refuses it before any signature check)."""
    if body.get("kiosk_id") not in SIGNING_KIOSKS:
        return []
    try:
        checkin = KioskCheckin.model_validate(body)
    except ValueError:
        return []
    return [(k, v.encode()) for k, v in sign(kiosk_key(checkin.kiosk_id), checkin).items()]


async def make_place(
    *,
    starts_at: datetime | None = None,
    minutes: int = 90,
    capacity: int = 30,
    theme: str = "health",
    signing: bool = False,
) -> Place:
    """A venue with one kiosk, a course and a session; `signing`: the kiosk's key is registered
    (from then on its scans must be signed: send_checkins signs them)."""
    venue_id, kiosk_id, course_id, session_id = unique("v"), unique("k"), unique("c"), unique("s")
    starts_at = starts_at or now() - timedelta(minutes=10)
    ends_at = starts_at + timedelta(minutes=minutes)
    async with client("activities") as op:
        r = await op.post(
            "/v1/venues",
            json={"venue_id": venue_id, "community_id": "xinnan", "name_zh": "新南社区学校", "name_en": "Xinnan school",
                  "venue_type": "community_school", "capacity": 200, "kiosk_ids": [kiosk_id]},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = await op.post(
            "/v1/courses",
            json={"course_id": course_id, "title_zh": "急救", "title_en": "First aid", "theme": theme,
                  "provider_kind": "doctor"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = await op.post(
            f"/v1/courses/{course_id}/sessions",
            json={"session_id": session_id, "venue_id": venue_id, "starts_at": starts_at.isoformat(),
                  "ends_at": ends_at.isoformat(), "capacity": capacity},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        if signing:
            public = base64.b64encode(public_bytes(kiosk_key(kiosk_id))).decode()
            r = await op.post(f"/v1/kiosks/{kiosk_id}/keys", json={"public_key": public})
            assert r.status_code == 201, r.text
            SIGNING_KIOSKS.add(kiosk_id)
    return Place(venue_id, kiosk_id, course_id, session_id, starts_at, ends_at)


async def publish_events(principal: str, *events: EventData) -> None:
    kafka = await producer(principal)
    try:
        for data in events:
            e = envelop(data, source="tests")
            await kafka.send_and_wait(
                e.topic, e.body(), key=e.key, headers=[(k, v.encode()) for k, v in e.headers().items()]
            )
    finally:
        await kafka.stop()


async def register_residents(*resident_ids: str, community_id: str = "xinnan", purposes: tuple[str, ...] = ()) -> None:
    """As enrolment announces registrations; with `purposes`, what each agreed to, announced first
    (same key, same partition) so that a resident activities knows has their consents known too."""
    from shared.events.catalogue import ResidentConsentsChanged, ResidentRegistered

    events = []
    for r in resident_ids:
        if purposes:
            events.append(ResidentConsentsChanged(resident_id=r, purposes=list(purposes), notice_version="test"))
        events.append(ResidentRegistered(resident_id=r, community_id=community_id, audience_group="adult"))
    await publish_events("enrolment", *events)


def checkin(place: Place, resident_id: str, at: datetime, **extra) -> dict:
    body = {
        "checkin_id": str(uuid.uuid4()),
        "kiosk_id": place.kiosk_id,
        "venue_id": place.venue_id,
        "resident_id": resident_id,
        "scanned_at": at.isoformat(),
    }
    body.update(extra)
    return body


async def send_checkins(*bodies: dict, raw: list[tuple[bytes | None, bytes]] = ()) -> None:
    """Produce check-ins as a kiosk does (kiosk principal, key = resident id), signed for the
    kiosks of make_place(signing=True)."""
    kafka = await producer("kiosk")
    try:
        for body in bodies:
            await kafka.send_and_wait(
                "kiosk.checkins", orjson.dumps(body), key=body["resident_id"].encode(), headers=signature_of(body)
            )
        for key, value in raw:
            await kafka.send_and_wait("kiosk.checkins", value, key=key)
    finally:
        await kafka.stop()


async def outcome(checkin_id: str, *, settled: bool = True, timeout_s: float = 30.0) -> dict:
    async with client("activities", role="operator") as op:

        async def probe():
            r = await op.get(f"/v1/checkins/{checkin_id}")
            if r.status_code != 200:
                return None
            body = r.json()
            return body if (body["outcome"] != "pending" or not settled) else None

        return await eventually(probe, timeout_s=timeout_s)


async def attendance(resident_id: str, session_id: str) -> dict | None:
    async with client("activities", role="operator") as op:
        r = await op.get(f"/v1/residents/{resident_id}/attendance/{session_id}")
    return r.json() if r.status_code == 200 else None


class Tail:
    """Records of a topic produced after `open()`; use as `async with Tail(topic) as tail:`."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord] = []
        self.consumer = AIOKafkaConsumer(**kafka_auth("admin"), group_id=None, enable_auto_commit=False)

    async def __aenter__(self) -> Tail:
        await self.consumer.start()
        try:
            await self._seek_to_end()
        except BaseException:
            await self.consumer.stop()
            raise
        return self

    async def _seek_to_end(self) -> None:
        spec = {t.name: t for t in all_topic_specs()}[self.topic]
        tps = [TopicPartition(self.topic, p) for p in range(spec.partitions)]
        self.consumer.assign(tps)
        ends = await self.consumer.end_offsets(tps)
        for tp, offset in ends.items():
            self.consumer.seek(tp, offset)

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def wait_for(self, predicate, *, count: int = 1, timeout_s: float = 30.0) -> list[ConsumerRecord]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                self.records.extend(recs)
            found = [r for r in self.records if predicate(r)]
            if len(found) >= count:
                return found
        found = [r for r in self.records if predicate(r)]
        raise AssertionError(f"{self.topic}: {len(found)} of {count} matching records within {timeout_s}s")

    def matching(self, predicate) -> list[ConsumerRecord]:
        return [r for r in self.records if predicate(r)]


def event_type(record: ConsumerRecord) -> str:
    return headers_of(record).get("ce_type", "")


def body(record: ConsumerRecord) -> dict:
    return orjson.loads(record.value)


def kcat_produce(lines: bytes, *, principal: str = "kiosk", timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    """Produce `key|value` lines with kcat (librdkafka, a non-Python client) as `principal`.

    Debian 12's librdkafka 2.0.2 fails SCRAM against Kafka >= 4.0 (edenhill/kcat#462, fixed in
    librdkafka 2.6.1), so kcat is pointed at the newer librdkafka bundled in the confluent-kafka
    wheel; kcat's ABI is stable across 2.x. The password goes in a 0600 file, not in argv."""
    import confluent_kafka

    e = env()
    prefix = f"{principal.upper()}_KAFKA"
    with tempfile.TemporaryDirectory(prefix="kcat-") as tmp:
        libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
        found = sorted(libs.glob("librdkafka*.so.1"))
        assert found, f"no bundled librdkafka in {libs}"
        (Path(tmp) / "librdkafka.so.1").symlink_to(found[0])
        conf = Path(tmp) / "kcat.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                f"bootstrap.servers={e.get('KAFKA_BOOTSTRAP', '127.0.0.1:19092')}\nsecurity.protocol=SASL_PLAINTEXT\n"
                f"sasl.mechanisms=SCRAM-SHA-512\nsasl.username={e[prefix + '_USERNAME']}\n"
                f"sasl.password={e[prefix + '_PASSWORD']}\nacks=all\nenable.idempotence=true\n"
            )
        return subprocess.run(
            ["kcat", "-P", "-F", str(conf), "-t", "kiosk.checkins", "-K", "|"],
            input=lines,
            capture_output=True,
            timeout=timeout_s,
            env={**os.environ, "LD_LIBRARY_PATH": tmp},
        )
