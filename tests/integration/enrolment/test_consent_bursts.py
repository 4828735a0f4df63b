"""Consent decisions from a buggy page or a hostile script (issue 17, ADR 0019 amendment "bursts
and two tabs"): a decision that changes nothing records and publishes nothing; agreements beyond
the hourly limit per purpose are refused (429, Retry-After, naming the field) while a withdrawal
never is; two tabs deciding at once leave the state, the history, the last event on the topic and
the resident's `consent` flag agreeing."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re

import pytest

from services.enrolment.config import EnrolmentSettings
from tests.integration.enrolment.helpers import events_of, register
from tests.support import client, read_topic

pytestmark = pytest.mark.integration

# The limit the running stack enforces (ENROLMENT_CONSENT_CHANGES_PER_HOUR, default of the settings).
LIMIT = int(
    os.environ.get("ENROLMENT_CONSENT_CHANGES_PER_HOUR")
    or EnrolmentSettings.model_fields["consent_changes_per_hour"].default
)
HAN = re.compile(r"[\u4e00-\u9fff]")


def purposes(view: dict) -> dict[str, bool]:
    return {p["purpose"]: p["granted"] for p in view["purposes"]}


def rows(view: dict, purpose: str | None = None) -> list[tuple[str, bool]]:
    return [(d["purpose"], d["granted"]) for d in view["history"] if purpose in (None, d["purpose"])]


async def announced(rid: str, count: int) -> list[list[str]]:
    """The purposes of the resident's `consents_changed` events on enrolment.residents, in order,
    once there are at least `count` of them."""

    def of(records) -> list[list[str]]:
        return [body["purposes"] for kind, body in events_of(records, rid, "resident_id", rid)
                if kind == "consents_changed"]  # fmt: skip

    return of(await read_topic("enrolment.residents", until=lambda rs: len(of(rs)) >= count))


async def contact_flags(rid: str, count: int) -> list[bool]:
    """The `consent` of the resident's contact events on enrolment.contacts (what notify holds)."""
    records = await read_topic(
        "enrolment.contacts", until=lambda rs: len(events_of(rs, rid, "resident_id", rid)) >= count
    )
    return [body["consent"] for _, body in events_of(records, rid, "resident_id", rid)]


async def test_a_decision_identical_to_the_state_records_and_publishes_nothing():
    async with client("enrolment") as http:
        rid = (await register(http, phone="+86 13800000081"))["resident_id"]
        version = (await http.get("/v1/privacy-notice")).json()["version"]
    agree = {"notice_version": version}
    async with client("enrolment", role="resident", subject=rid) as me:
        for purpose in ("surveys", "notifications"):
            for _ in range(3):
                r = await me.put(f"/v1/residents/{rid}/consents/{purpose}", json=agree)
                assert r.status_code == 200 and purposes(r.json())[purpose] is True, r.text
            for _ in range(3):
                r = await me.delete(f"/v1/residents/{rid}/consents/{purpose}")
                assert r.status_code == 200 and purposes(r.json())[purpose] is False, r.text
        # the old flag is the notifications purpose: a PATCH that changes nothing records nothing
        r = await me.patch(f"/v1/residents/{rid}", json={"consent": False})
        assert r.status_code == 200, r.text
        r = await me.put(f"/v1/residents/{rid}/consents/notifications", json=agree)  # a real change, last
        assert r.status_code == 200, r.text
        view = (await me.get(f"/v1/residents/{rid}/consents")).json()
        assert (await me.get(f"/v1/residents/{rid}")).json()["consent"] is True
    assert rows(view) == [
        ("surveys", True),
        ("surveys", False),
        ("notifications", True),
        ("notifications", False),
        ("notifications", True),
    ]
    # the last change's event arrived, so every earlier one of the same key did: none more
    assert await announced(rid, 5) == [["surveys"], [], ["notifications"], [], ["notifications"]]
    assert await contact_flags(rid, 4) == [False, True, False, True]


async def test_agreements_beyond_the_hourly_limit_are_refused_but_a_withdrawal_never_is():
    async with client("enrolment") as http:
        rid = (await register(http, phone="+86 13800000082"))["resident_id"]
        version = (await http.get("/v1/privacy-notice")).json()["version"]
    agree = {"notice_version": version}
    # LIMIT real changes of surveys, alternating, the last of them an agreement
    sequence = [(LIMIT - 1 - i) % 2 == 0 for i in range(LIMIT)]
    async with client("enrolment", role="resident", subject=rid) as me:
        for granted in sequence:
            if granted:
                r = await me.put(f"/v1/residents/{rid}/consents/surveys", json=agree)
            else:
                r = await me.delete(f"/v1/residents/{rid}/consents/surveys")
            assert r.status_code == 200 and purposes(r.json())["surveys"] is granted, r.text
        r = await me.delete(f"/v1/residents/{rid}/consents/surveys")  # withdrawing is never refused
        assert r.status_code == 200 and purposes(r.json())["surveys"] is False, r.text
        r = await me.put(f"/v1/residents/{rid}/consents/surveys", json=agree)
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 3600, r.headers
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", "purpose"] and "surveys" in detail["msg"] and HAN.search(detail["msg"]), detail
        r = await me.delete(f"/v1/residents/{rid}/consents/surveys")  # already withdrawn: nothing to record
        assert r.status_code == 200, r.text
        # the limit is per purpose
        r = await me.put(f"/v1/residents/{rid}/consents/learning_record", json=agree)
        assert r.status_code == 200, r.text
        # the old flag through PATCH is the notifications purpose, under the same limit
        for granted in sequence:
            if granted:
                r = await me.patch(f"/v1/residents/{rid}", json={"consent": True})
            else:
                r = await me.delete(f"/v1/residents/{rid}/consents/notifications")
            assert r.status_code == 200, r.text
            assert (await me.get(f"/v1/residents/{rid}")).json()["consent"] is granted
        r = await me.patch(f"/v1/residents/{rid}", json={"consent": False})
        assert r.status_code == 200 and r.json()["consent"] is False, r.text
        r = await me.patch(f"/v1/residents/{rid}", json={"consent": True})
        assert r.status_code == 429 and r.json()["detail"][0]["loc"] == ["body", "consent"], r.text
        assert int(r.headers["Retry-After"]) >= 1
        r = await me.put(f"/v1/residents/{rid}/consents/notifications", json=agree)
        assert r.status_code == 429 and r.json()["detail"][0]["loc"] == ["body", "purpose"], r.text
        assert (await me.get(f"/v1/residents/{rid}")).json()["consent"] is False
        view = (await me.get(f"/v1/residents/{rid}/consents")).json()
    assert purposes(view) == {"learning_record": True, "notifications": False, "surveys": False}
    assert [g for _, g in rows(view, "surveys")] == [*sequence, False]
    assert [g for _, g in rows(view, "notifications")] == [*sequence, False]
    # one event per recorded decision, none for the refusals
    assert len(await announced(rid, len(view["history"]))) == len(view["history"])


async def test_two_tabs_deciding_at_once_leave_state_history_events_and_flag_agreeing():
    async with client("enrolment") as http:
        rid = (await register(http, phone="+86 13800000083"))["resident_id"]
        version = (await http.get("/v1/privacy-notice")).json()["version"]
    agree = {"notice_version": version}
    async with client("enrolment", role="resident", subject=rid) as me:

        def decision(purpose: str, granted: bool):
            if granted:
                return me.put(f"/v1/residents/{rid}/consents/{purpose}", json=agree)
            return me.delete(f"/v1/residents/{rid}/consents/{purpose}")

        requests = [(p, g) for p in ("notifications", "surveys") for g in (True, False) for _ in range(8)]
        random.Random(17).shuffle(requests)
        answers = await asyncio.gather(*(decision(p, g) for p, g in requests))
        assert {r.status_code for r in answers} <= {200, 429}, [r.text for r in answers if r.status_code >= 300]
        view = (await me.get(f"/v1/residents/{rid}/consents")).json()
        flag = (await me.get(f"/v1/residents/{rid}")).json()["consent"]
    history = view["history"]
    assert history, "no decision was recorded"
    state = purposes(view)
    for purpose in ("notifications", "surveys"):
        mine = rows(view, purpose)
        if mine:
            assert mine[-1][1] is state[purpose], (purpose, mine)
            # no two consecutive rows of a purpose repeat a state: each one was a change
            assert all(a[1] != b[1] for a, b in itertools.pairwise(mine)), mine
    assert flag is state["notifications"]
    # recorded in the order they were decided
    decided = [d["decided_at"] for d in history]
    assert decided == sorted(decided), decided
    # one event per decision; the last tells what the API says
    events = await announced(rid, len(history))
    assert len(events) == len(history)
    assert events[-1] == [p for p in ("learning_record", "notifications", "surveys") if state[p]]
    # notify's copy of the flag: registration's contact event, then one per flip of the flag
    flips, previous = 0, False
    for _, granted in rows(view, "notifications"):
        flips += granted != previous
        previous = granted
    flags = await contact_flags(rid, 1 + flips)
    assert len(flags) == 1 + flips and flags[-1] is flag, flags
