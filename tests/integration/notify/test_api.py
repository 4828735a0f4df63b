"""The notify HTTP API: who may see which notifications, validation, operator endpoints, metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from tests.integration.notify.helpers import confirmed, contact, phone, publish, wait_status
from tests.support import client, service_url, unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def delivered() -> tuple[str, dict]:
    resident = unique("res")
    await publish("enrolment", contact(resident, phone=phone(), language="en"))
    await publish("enrolment", confirmed(resident, starts_in=timedelta(days=4)))
    return resident, await wait_status(resident, "enrolment_confirmed", "sent")


async def test_resident_sees_their_own_notifications_with_status_and_timestamps(delivered):
    resident, sent = delivered
    async with client("notify", role="resident", subject=resident) as http:
        response = await http.get(f"/v1/residents/{resident}/notifications")
        one = await http.get(f"/v1/notifications/{sent['notification_id']}")
    assert response.status_code == 200
    by_kind = {n["kind"]: n for n in response.json()["notifications"]}
    assert set(by_kind) == {"enrolment_confirmed", "reminder_24h", "reminder_2h"}
    confirmed_ = by_kind["enrolment_confirmed"]
    assert confirmed_["status"] == "sent" and confirmed_["channel"] == "sms" and confirmed_["language"] == "en"
    assert confirmed_["created_at"] <= confirmed_["sent_at"] and confirmed_["text"].startswith("Hello!")
    assert one.status_code == 200 and one.json()["idempotency_key"] == sent["idempotency_key"]


async def test_status_filter(delivered):
    resident, _ = delivered
    async with client("notify") as http:
        queued = (await http.get(f"/v1/residents/{resident}/notifications", params={"status": "queued"})).json()
        bad = await http.get(f"/v1/residents/{resident}/notifications", params={"status": "lost"})
        too_many = await http.get(f"/v1/residents/{resident}/notifications", params={"limit": 100000})
    assert {n["kind"] for n in queued["notifications"]} == {"reminder_24h", "reminder_2h"}
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_other_residents_and_anonymous_callers_are_refused(delivered):
    resident, sent = delivered
    async with client("notify", role="resident", subject=unique("someone-else")) as http:
        assert (await http.get(f"/v1/residents/{resident}/notifications")).status_code == 403
        assert (await http.get(f"/v1/notifications/{sent['notification_id']}")).status_code == 403
        assert (await http.get("/v1/dead-letters")).status_code == 403
        assert (await http.post(f"/v1/dead-letters/{sent['notification_id']}/replay")).status_code == 403
    async with httpx.AsyncClient(base_url=service_url("notify")) as anonymous:
        assert (await anonymous.get(f"/v1/residents/{resident}/notifications")).status_code == 401
        assert (await anonymous.get("/v1/dead-letters")).status_code == 401


async def test_unknown_ids_are_404_and_malformed_ids_422(delivered):
    _, sent = delivered
    async with client("notify") as http:
        missing = await http.get(f"/v1/notifications/{uuid.uuid4()}")
        malformed = await http.get("/v1/notifications/not-a-uuid")
        replay_missing = await http.post(f"/v1/dead-letters/{uuid.uuid4()}/replay")
        replay_sent = await http.post(f"/v1/dead-letters/{sent['notification_id']}/replay")
        nobody = await http.get(f"/v1/residents/{unique('nobody')}/notifications")
    assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["body", "notification_id"]
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["loc"] == ["path", "notification_id"]
    assert replay_missing.status_code == 404
    assert replay_sent.status_code == 404  # a sent notification has no dead letter
    assert nobody.status_code == 200 and nobody.json()["notifications"] == []


async def test_metrics_count_messages_latency_and_queue_depth(delivered):
    async with httpx.AsyncClient(base_url=service_url("notify")) as http:
        text = (await http.get("/metrics")).text
    assert 'learnstreet_notify_messages_total{channel="sms",kind="enrolment_confirmed",status="sent"}' in text
    assert 'learnstreet_notify_delivery_latency_seconds_count{channel="sms"}' in text
    assert 'learnstreet_notify_queue_depth_messages{status="queued"}' in text
    assert "learnstreet_notify_retries_total" in text
