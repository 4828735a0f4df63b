"""Erasure, the database slice (ADR 10, issue 17): a resident with contact data, an enrolment, a
vote and a check-in, known to all four services, is erased on enrolment by two operators. After
that no service's database holds their card number, phone or e-mail, no data export returns
anything about them, the compacted enrolment.contacts ends in a tombstone for their key, the
learning index is the same as before, and so is it after a rebuild from the topics, which brings
nothing of the resident back. A full read of every topic still finds the card number in old
events (resident keys are the next slice) and the contact in the compacted topic until its next
compaction: the test of `learnstreet privacy find-in-topics` says exactly where."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events.catalogue import AttendanceRecorded
from shared.events.envelope import envelop
from tests.integration.activities.helpers import checkin, make_place, now, outcome, send_checkins
from tests.support import (
    ROOT,
    client,
    env,
    eventually,
    headers_of,
    kafka_auth,
    producer,
    read_topic,
    rebuild,
    token,
    unique,
)

pytestmark = pytest.mark.integration

SERVICES = ("activities", "enrolment", "scoring", "notify")
# unique per run: an earlier run's (erased or not) resident must not be taken for this one
_RUN = uuid.uuid4().int % 10**8
PHONE, EMAIL = f"+86139{_RUN:08d}", f"erasure-{_RUN}@example.org"


async def _export(service: str, rid: str, role: str = "resident", subject: str | None = None) -> dict:
    # As the resident: their own reads are not recorded, so reading cannot put the card back.
    async with client(service, role, subject or rid) as http:
        r = await http.get(f"/v1/residents/{rid}/data-export")
        assert r.status_code == 200, r.text
        return r.json()


async def _index() -> dict:
    async with client("scoring") as http:
        views = {}
        for community in ("street", "xinnan"):
            r = await http.get(f"/v1/index/{community}")
            assert r.status_code == 200, r.text
            views[community] = r.json()
    return views


def _values(views: dict) -> dict:
    return {c: {"total": v["total"], "aspects": v["aspects"]} for c, v in views.items()}


async def _index_after(moment: datetime) -> dict:
    async def fresh():
        views = await _index()
        computed = min(datetime.fromisoformat(v["computed_at"]) for v in views.values())
        return views if computed > moment else None

    return await eventually(fresh, timeout_s=150, every_s=1)


# The live tables and the rebuilds' checkpoints (copies of projection tables, residents' rows included).
KEPT_SCHEMAS = ("public", "scoring_checkpoint", "passport_checkpoint")


async def _rows_mentioning(service: str, needles: tuple[str, ...], schema: str | None = None) -> dict[str, int]:
    """Every table of the service's database (in `schema`, or every kept schema) whose rows, as
    text, contain one of `needles`."""
    conn = await asyncpg.connect(env()[f"{service.upper()}_DATABASE_URL"])
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS t FROM information_schema.tables"
            " WHERE table_schema = ANY($1::text[]) AND table_type = 'BASE TABLE'",
            [schema] if schema else list(KEPT_SCHEMAS),
        )
        found = {}
        for (table,) in tables:
            n = await conn.fetchval(
                f"SELECT count(*) FROM {table} x WHERE strpos(x::text, $1) > 0 OR strpos(x::text, $2) > 0"
                " OR strpos(x::text, $3) > 0",
                *needles,
            )  # fmt: skip
            if n:
                found[table] = n
        return found
    finally:
        await conn.close()


async def _latest_by_key(topic: str, key: bytes) -> tuple[int, object]:
    """(records with `key`, the value of the last one) in `topic`, read from the beginning to its end."""
    consumer = AIOKafkaConsumer(topic, **kafka_auth("admin"), group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        partitions = consumer.assignment() or set()
        while not partitions:
            await consumer.getmany(timeout_ms=100)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        count, last = 0, "absent"

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    if record.key == key:
                        count, last = count + 1, record.value
        return count, last
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
async def erased() -> dict:
    """The resident, everywhere, then erased; with the index before the erasure. Waits are long:
    the services were just restarted and their groups catch up on what other tests sent."""
    rid = unique("era-r")
    place = await make_place()  # a session under way now at a xinnan venue with a kiosk
    future = unique("era-s")
    async with client("activities") as act, client("enrolment", "operator", "era-desk") as enr:
        starts = datetime.now(UTC) + timedelta(days=5)
        r = await act.post(f"/v1/courses/{place.course_id}/sessions", json={
            "session_id": future, "venue_id": place.venue_id, "capacity": 10,
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        })  # fmt: skip
        assert r.status_code == 201, r.text
        r = await enr.post("/v1/residents", json={"resident_id": rid, "community_id": "xinnan",
                                                  "audience_group": "adult", "family_id": unique("era-family"),
                                                  "employer_id": "era-employer", "phone": PHONE, "email": EMAIL,
                                                  "consent": True})  # fmt: skip
        assert r.status_code == 201, r.text

        async def enrolled():
            r = await enr.post(f"/v1/sessions/{future}/enrolments", json={"resident_id": rid})
            return r if r.status_code == 201 else None

        await eventually(enrolled, timeout_s=150, every_s=1)
        waiting = await _wait_behind_a_full_session(act, enr, place, rid)
    async with client("activities", "resident", rid) as me:

        async def voted():
            r = await me.post("/v1/needs/votes", json={"theme": "health", "community_id": "xinnan",
                                                       "topic_text": "擦除测试 erasure test"})  # fmt: skip
            return r if r.status_code == 201 else None

        await eventually(voted, timeout_s=150, every_s=1)

    async def known_to_activities():
        return (await _export("activities", rid))["tables"].get("residents") or None

    await eventually(known_to_activities, timeout_s=150, every_s=1)
    scan = checkin(place, rid, now())
    await send_checkins(scan)
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"

    everywhere = {
        "activities": lambda t: t["attendance"] and t["need_votes"] and t["enrolment_seats"],
        "enrolment": lambda t: t["residents"] and t["enrolments"] and t["passport_attendance"],
        "scoring": lambda t: t["attendance"] and t["attendees"] and t["enrolments"],
        "notify": lambda t: t["contacts"] and t["enrolments"],
    }
    for service, complete in everywhere.items():

        async def arrived(service=service, complete=complete):
            return complete((await _export(service, rid))["tables"]) or None

        await eventually(arrived, timeout_s=150, every_s=1)
    before = await _index_after(datetime.now(UTC))
    # a checkpoint of scoring's projection with the resident in it: the erasure must reach it too
    checkpoint = await rebuild("services.scoring", "checkpoint")
    assert "CHECKPOINT rows=" in checkpoint, checkpoint
    assert await _rows_mentioning("scoring", (rid, rid, rid), schema="scoring_checkpoint")

    requested = datetime.now(UTC)
    async with client("enrolment", "operator", "era-desk") as enr:
        alone = await enr.post(f"/v1/residents/{rid}/erasure",
                               json={"reason": "resident asked", "approved_by": "era-desk"})  # fmt: skip
        assert alone.status_code == 422, alone.text  # one operator alone cannot erase
        r = await enr.post(f"/v1/residents/{rid}/erasure",
                           json={"reason": "the resident's written request", "approved_by": "era-dpo"})  # fmt: skip
        assert r.status_code == 201, r.text
        request = r.json()
        status = await enr.get(f"/v1/erasures/{request['request_id']}")
        assert status.status_code == 200, status.text
    return {
        "rid": rid,
        "before": before,
        "requested": requested,
        "request": request,
        "status": status.json(),
        "waiting": waiting,
        "place": place,
    }


async def _wait_behind_a_full_session(act, enr, place, rid: str) -> dict:
    """A session of one seat, taken by another resident; the resident to be erased waits first in
    its waitlist and a third resident second."""
    full = unique("era-full")
    starts = datetime.now(UTC) + timedelta(days=6)
    r = await act.post(f"/v1/courses/{place.course_id}/sessions", json={
        "session_id": full, "venue_id": place.venue_id, "capacity": 1,
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
    })  # fmt: skip
    assert r.status_code == 201, r.text
    seated, behind = unique("era-seated"), unique("era-behind")
    for other in (seated, behind):
        r = await enr.post("/v1/residents", json={"resident_id": other, "community_id": "xinnan",
                                                  "audience_group": "adult"})  # fmt: skip
        assert r.status_code == 201, r.text
    enrolments = {}
    for who in (seated, rid, behind):

        async def enrolled(who=who):
            r = await enr.post(f"/v1/sessions/{full}/enrolments", json={"resident_id": who})
            return r.json() if r.status_code == 201 else None

        enrolments[who] = await eventually(enrolled, timeout_s=150, every_s=1)
    assert [enrolments[w]["status"] for w in (seated, rid, behind)] == ["confirmed", "waitlisted", "waitlisted"]
    assert enrolments[behind]["position"] == 2
    return {"session_id": full, "seated": enrolments[seated], "erased": enrolments[rid], "behind": enrolments[behind]}


async def test_the_erasure_request_records_who_asked_who_approved_and_why(erased):
    status = erased["status"]
    assert status["requested_by"] == "era-desk" and status["approved_by"] == "era-dpo"
    assert status["reason"] == "the resident's written request"
    assert status["services"]["enrolment"]["erased_rows"] > 0
    assert erased["rid"] not in json.dumps(status)


@pytest.mark.parametrize("service", SERVICES)
async def test_no_database_holds_the_card_number_phone_or_email(erased, service):
    needles = (erased["rid"], PHONE, EMAIL)

    async def clean():
        return (await _rows_mentioning(service, needles)) or None

    # eventually: enrolment's outbox holds resident.erased (with the card) until Kafka has it,
    # and each service erases when the event reaches it
    async def probe():
        return None if await clean() else True

    try:
        await eventually(probe, timeout_s=150, every_s=1)
    except AssertionError:
        pytest.fail(f"{service} still holds the resident in {await clean()}")


@pytest.mark.parametrize("service", SERVICES)
async def test_no_export_returns_anything_about_the_resident(erased, service):
    async def empty():
        data = await _export(service, erased["rid"])
        return data if all(rows == [] for rows in data["tables"].values()) else None

    data = await eventually(empty, timeout_s=150, every_s=1)
    assert data["access_log"] == [], "the staff accesses were pseudonymised with the rows"
    assert PHONE not in json.dumps(data) and EMAIL not in json.dumps(data)


async def test_enrolment_lists_every_service_s_completion_of_the_request(erased):
    """Each service announces its completion on privacy.erasures; enrolment's status of the
    request gathers them (service, rows, when) and says when all four are done."""
    request_id = erased["request"]["request_id"]

    async def complete():
        async with client("enrolment", "operator", "era-desk") as enr:
            r = await enr.get(f"/v1/erasures/{request_id}")
        assert r.status_code == 200, r.text
        return r.json() if r.json()["complete"] else None

    status = await eventually(complete, timeout_s=150, every_s=1)
    assert set(status["services"]) == set(SERVICES) and status["pending"] == []
    for service, done in status["services"].items():
        assert done["erased_rows"] > 0, service
        assert datetime.fromisoformat(done["erased_at"]) >= erased["requested"] - timedelta(seconds=5), service
    assert erased["rid"] not in json.dumps(status)
    # right after the request only enrolment had finished
    assert erased["status"]["complete"] is False and "enrolment" not in erased["status"]["pending"]


async def test_the_completions_on_kafka_carry_no_resident(erased):
    request_id = erased["request"]["request_id"]

    def mine(records):
        return [r for r in records if r.key == request_id.encode()]

    records = mine(await read_topic("privacy.erasures", until=lambda rs: len(mine(rs)) >= len(SERVICES),
                                    timeout_s=150))  # fmt: skip
    types = {headers_of(r)["ce_type"] for r in records}
    assert types == {f"learnstreet.{s}.resident.erasure_completed.v1" for s in SERVICES}
    for record in records:
        assert erased["rid"].encode() not in record.value and PHONE.encode() not in record.value
        assert set(json.loads(record.value)) == {"request_id", "service", "rows", "completed_at"}


async def test_the_erased_resident_s_waiting_enrolment_is_cancelled_and_frees_its_place(erased):
    waiting = erased["waiting"]
    async with client("enrolment", "operator", "era-desk") as enr:
        mine = await enr.get(f"/v1/enrolments/{waiting['erased']['enrolment_id']}")
        assert mine.status_code == 200, mine.text
        assert mine.json()["status"] == "cancelled"
        assert erased["rid"] not in mine.text
        behind = await enr.get(f"/v1/enrolments/{waiting['behind']['enrolment_id']}")
        assert behind.json()["status"] == "waitlisted" and behind.json()["position"] == 1
        # the seat frees: the resident behind gets it, never the erased one
        r = await enr.delete(f"/v1/enrolments/{waiting['seated']['enrolment_id']}")
        assert r.status_code in (200, 204), r.text
        behind = await enr.get(f"/v1/enrolments/{waiting['behind']['enrolment_id']}")
        assert behind.json()["status"] == "confirmed"
        mine = await enr.get(f"/v1/enrolments/{waiting['erased']['enrolment_id']}")
        assert mine.json()["status"] == "cancelled"


async def _stored_offset(service: str, table: str, column: str, topic: str, partition: int) -> int:
    conn = await asyncpg.connect(env()[f"{service.upper()}_DATABASE_URL"])
    try:
        return await conn.fetchval(
            f'SELECT coalesce(max({column}), -1) FROM {table} WHERE topic = $1 AND "partition" = $2', topic, partition
        )
    finally:
        await conn.close()


async def test_attendance_for_the_erased_card_arriving_late_is_not_applied(erased):
    """An attendance already in flight (or redelivered) when the erasure arrived: scoring and the
    passport must not bring the resident's rows back under the card number."""
    rid = erased["rid"]

    async def erased_everywhere():
        for service in ("scoring", "enrolment"):
            if await _rows_mentioning(service, (rid, PHONE, EMAIL)):
                return None
        return True

    await eventually(erased_everywhere, timeout_s=150, every_s=1)
    late = AttendanceRecorded(
        attendance_id=unique("era-late"), checkin_id=uuid.uuid4(), resident_id=rid, session_id=unique("era-s"),
        course_id="era-course", venue_id="era-venue", community_id="xinnan", minutes=45,
        scanned_at=datetime.now(UTC) - timedelta(minutes=50), session_starts_at=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    envelope = envelop(late, source="tests/erasure")
    kafka = await producer("activities")
    try:
        sent = await kafka.send_and_wait(envelope.topic, envelope.body(), key=envelope.key,
                                         headers=[(k, v.encode()) for k, v in envelope.headers().items()])  # fmt: skip
    finally:
        await kafka.stop()
    stores = (("scoring", "consumer_offsets", '"offset"'), ("enrolment", "passport_offsets", "last_offset"))
    for service, table, column in stores:

        async def past(service=service, table=table, column=column):
            stored = await _stored_offset(service, table, column, sent.topic, sent.partition)
            return True if stored >= sent.offset else None

        await eventually(past, timeout_s=150, every_s=1)
        assert not await _rows_mentioning(service, (rid, PHONE, EMAIL)), service


async def test_each_service_keeps_a_receipt_of_the_request_without_the_card(erased):
    request_id = erased["request"]["request_id"]
    for service in SERVICES:
        conn = await asyncpg.connect(env()[f"{service.upper()}_DATABASE_URL"])
        try:

            async def receipt(conn=conn):
                return await conn.fetchrow("SELECT * FROM erasure_receipts WHERE request_id = $1::uuid", request_id)

            row = await eventually(receipt, timeout_s=150, every_s=1)
            assert row["erased_rows"] > 0, service
        finally:
            await conn.close()


async def test_the_learning_index_is_unchanged(erased):
    # after the erasure reached scoring (no row of the resident left), the index was recomputed
    async def scoring_done():
        return None if await _rows_mentioning("scoring", (erased["rid"], PHONE, EMAIL)) else True

    await eventually(scoring_done, timeout_s=150, every_s=1)
    after = await _index_after(datetime.now(UTC))
    assert _values(after) == _values(erased["before"])


async def test_a_rebuild_after_the_erasure_gives_the_same_index_and_brings_no_card_back(erased):
    """The replay meets the resident's old events (card number included) and their late attendance
    (the test above) before and after resident.erased: the swapped-in tables must hold the index
    the live ones held, and nothing of the resident."""
    needles = (erased["rid"], PHONE, EMAIL)

    async def scoring_done():
        return None if await _rows_mentioning("scoring", needles) else True

    await eventually(scoring_done, timeout_s=150, every_s=1)
    text = await rebuild("services.scoring", "rebuild", "--quiet")
    assert "REBUILD equal=True swapped=True" in text, text
    assert await _rows_mentioning("scoring", needles) == {}
    assert _values(await _index()) == _values(erased["before"])


async def test_the_checkpoint_is_erased_and_a_rebuild_from_it_brings_no_card_back(erased):
    """scoring's checkpoint (ADR 10, amendment 2026-12-06), taken before the erasure, lost the
    resident's rows with the live tables; a rebuild from it replays only what came after (the
    erasure and the late attendance among it) and gives the live index."""
    needles = (erased["rid"], PHONE, EMAIL)

    async def erased_there():
        return None if await _rows_mentioning("scoring", needles, schema="scoring_checkpoint") else True

    await eventually(erased_there, timeout_s=150, every_s=1)
    text = await rebuild("services.scoring", "rebuild", "--quiet", "--from-checkpoint")
    assert "REBUILD equal=True swapped=True" in text, text
    assert await _rows_mentioning("scoring", needles) == {}
    assert _values(await _index()) == _values(erased["before"])


async def test_the_contacts_topic_ends_in_a_tombstone_for_the_resident(erased):
    async def tombstoned():
        count, last = await _latest_by_key("enrolment.contacts", erased["rid"].encode())
        return (count, last) if last is None else None

    count, _ = await eventually(tombstoned, timeout_s=60, every_s=1)
    assert count >= 2  # the contact, then its tombstone (compaction will drop both)


async def test_the_resident_s_scans_leave_kiosk_checkins(erased):
    """Kiosks send card numbers; kiosk.checkins kept every scan a week after activities had made it
    attendance (before: a full read found the card in the scan's key and value). After the erasure
    activities cuts the topic below its committed offsets once every scan sent before the erasure is
    consumed (services/activities/adapters/kiosk_trim.py), so the resident's scan is gone from Kafka."""
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:

        async def trimmed():
            return await conn.fetchrow(
                "SELECT kiosk_ends, trimmed_to FROM kiosk_trims WHERE request_id = $1 AND trimmed_at IS NOT NULL",
                uuid.UUID(erased["request"]["request_id"]),
            )

        row = await eventually(trimmed, timeout_s=120, every_s=1)
    finally:
        await conn.close()
    ends, cut = (json.loads(row[c]) for c in ("kiosk_ends", "trimmed_to"))  # jsonb as text: no codec here
    assert all(cut.get(p, 0) >= end for p, end in ends.items()), (ends, cut)  # every earlier scan consumed
    consumer = AIOKafkaConsumer(**kafka_auth("admin"), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition("kiosk.checkins", int(p)) for p in cut]
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    assert all(starts[TopicPartition("kiosk.checkins", int(p))] >= o for p, o in cut.items()), (starts, cut)


def test_a_full_read_of_every_topic_finds_the_phone_and_email_only_in_the_compacted_contacts(erased):
    """`learnstreet privacy find-in-topics` reads every topic of the street, dead letters included,
    from the beginning with the admin principal (the issue's check). What it finds is the known
    limit of this slice (ADR 10): the phone and e-mail only in enrolment.contacts, superseded by the
    tombstone and gone at its next compaction; the card number in the old events of the topics that
    carry resident ids (keys and values) until resident keys replace it. Nothing of the resident in
    a topic the data inventory lists no resident id for."""
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "learnstreet"), "privacy", "find-in-topics", erased["rid"],
         "--phone", PHONE, "--email", EMAIL, "--json"],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env={**os.environ, **env()},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    print(f"a full read of every topic, {report['records']} records: "
          f"{ {t['topic']: t['found'] for t in report['topics'] if t['found']} }")  # fmt: skip
    found = {t["topic"]: t["found"] for t in report["topics"]}
    # the read covered the catalogue, dead letters included, and found the resident's old events
    assert {"enrolment.contacts", "privacy.erasures", "activities.attendance.dlq"} <= set(found)
    assert report["records"] > 0
    contact_topics = {t for t, f in found.items() if f.get("phone") or f.get("email")}
    assert contact_topics <= {"enrolment.contacts"}, contact_topics
    card_topics = {t for t, f in found.items() if f.get("card")}
    assert "enrolment.residents" in card_topics  # registered, then erased: old events keep the card
    assert "kiosk.checkins" not in card_topics  # the consumed scans were cut after the erasure
    assert card_topics <= _topics_carrying_resident_ids(), card_topics


async def test_a_scan_of_the_erased_card_is_refused_at_once_and_its_card_kept_nowhere(erased):
    """A kiosk still holding the card (or the resident showing it again) after the erasure. Before:
    the card was unknown, so its scan was parked for the grace period (the card back in activities'
    database) and then rejected as unknown_resident in an event on activities.attendance, a topic
    kept forever. Activities keeps the erased card's keyed hash and refuses the scan at once, with
    the card masked in its ledger and in the event. (Last in the module: the scan puts the card on
    kiosk.checkins again, which the full read above must not see.)"""
    rid, request_id = erased["rid"], uuid.UUID(erased["request"]["request_id"])
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:

        async def erased_here():
            return await conn.fetchval("SELECT 1 FROM erasure_receipts WHERE request_id = $1", request_id)

        await eventually(erased_here, timeout_s=150, every_s=1)
    finally:
        await conn.close()
    scan = checkin(erased["place"], rid, now())
    await send_checkins(scan)
    refused = await outcome(scan["checkin_id"], timeout_s=60)
    assert (refused["outcome"], refused["reason"]) == ("rejected", "resident_erased"), refused
    assert rid not in json.dumps(refused, default=str)
    assert not await _rows_mentioning("activities", (rid, PHONE, EMAIL))
    consumer = AIOKafkaConsumer("activities.attendance", **kafka_auth("admin"), group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:

        async def the_rejection():
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    if scan["checkin_id"].encode() in record.value:
                        return record
            return None

        record = await eventually(the_rejection, timeout_s=120, every_s=0)
    finally:
        await consumer.stop()
    assert rid.encode() not in record.value and rid.encode() != record.key, record
    assert json.loads(record.value)["reason"] == "resident_erased"


async def test_registering_the_erased_card_again_is_refused_and_says_why(erased):
    """Scoring and the passport refuse every later attendance of an erased card (they cannot tell
    the returning resident's from the erased one's, which may still be in flight), so a registration
    under the card would be accepted and then never count: no index, no passport. Until resident keys
    give a returning resident a new key (ADR 10, step 2), enrolment refuses it with the field and
    the reason; an import (a street loading its registry again) registers the others and reports
    the erased one apart, as it reports those already registered."""
    rid = erased["rid"]
    other = unique("era-import")
    async with client("enrolment", "operator", "era-desk") as enr:
        again = {"resident_id": rid, "community_id": "xinnan", "audience_group": "adult"}
        r = await enr.post("/v1/residents", json=again)
        assert r.status_code == 409, r.text
        [problem] = r.json()["detail"]
        assert problem["loc"][-1] == "resident_id" and "erased" in problem["msg"], problem
        listed = [{**again, "resident_id": other}, again]
        r = await enr.post("/v1/residents/import", json={"residents": listed})
        assert r.status_code == 200, r.text
        assert r.json() == {"registered": 1, "existing": [], "erased": [rid]}, r.text
        assert (await enr.get(f"/v1/residents/{other}")).status_code == 200
        assert (await enr.get(f"/v1/residents/{rid}")).status_code == 404


def _topics_carrying_resident_ids() -> set[str]:
    """Topics (and their dead letters) with an event whose field the data inventory classifies as
    a resident id, the kiosks' raw scans included."""
    from shared.events.inventory import event_rows

    topics = {row.topic for row in event_rows() if row.category == "resident_id"}
    return topics | {f"{t}.dlq" for t in topics}


def test_the_cli_asks_enrolment_to_erase(tmp_path):
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "learnstreet"), "privacy", "erase", unique("era-nobody"),
         "--reason", "test", "--approved-by", "era-dpo"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        # the command mints no token while the services take an identity provider's (LS_OIDC_ISSUER)
        env={**os.environ, "LS_TOKEN": token("operator", subject="era-cli")},
    )  # fmt: skip
    # an unknown resident: enrolment answers 404 and the command says so, exit 2
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown resident" in result.stdout + result.stderr
