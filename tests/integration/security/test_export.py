"""Right of access and copy: GET /v1/residents/{id}/data-export in each service returns what that
service holds about a resident (and who accessed it), to the resident themself or an operator;
`learnstreet privacy export` gathers the four into one owner-only JSON file. A resident is
registered with contact data, enrolled and votes, through the real services and Kafka."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import ROOT, client, eventually, token, unique

pytestmark = pytest.mark.integration

SERVICES = ("activities", "enrolment", "scoring", "notify")
PHONE, EMAIL = "+8613800138017", "privacy-test@example.org"


@pytest.fixture(scope="module")
async def resident() -> dict[str, str]:
    """A resident with a phone and e-mail, one enrolment and one vote, known to every service."""
    rid, venue, course, session = unique("exp-r"), unique("exp-v"), unique("exp-c"), unique("exp-s")
    async with client("activities") as act, client("enrolment") as enr:
        reference = (await act.get("/v1/reference")).json()
        community, theme = reference["communities"][0]["id"], reference["themes"][0]["id"]
        venue_body = {"venue_id": venue, "community_id": community, "name_zh": "导出测试", "name_en": "Export test",
                      "venue_type": "library", "capacity": 30}  # fmt: skip
        r = await act.post("/v1/venues", json=venue_body)
        assert r.status_code == 201, r.text
        r = await act.post("/v1/courses", json={"course_id": course, "title_zh": "导出", "title_en": "Export",
                                                "theme": theme})  # fmt: skip
        assert r.status_code == 201, r.text
        starts = datetime.now(UTC) + timedelta(days=5)
        r = await act.post(f"/v1/courses/{course}/sessions", json={
            "session_id": session, "venue_id": venue, "capacity": 10,
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        })  # fmt: skip
        assert r.status_code == 201, r.text
        r = await enr.post("/v1/residents", json={"resident_id": rid, "community_id": community,
                                                  "audience_group": "adult", "family_id": "exp-family",
                                                  "phone": PHONE, "email": EMAIL, "consent": True})  # fmt: skip
        assert r.status_code == 201, r.text

        async def enrolled():
            r = await enr.post(f"/v1/sessions/{session}/enrolments", json={"resident_id": rid})
            return r if r.status_code == 201 else None

        enrolment_id = (await eventually(enrolled, timeout_s=60, every_s=0.5)).json()["enrolment_id"]
    async with client("activities", "resident", rid) as me:

        async def voted():
            r = await me.post("/v1/needs/votes", json={"theme": theme, "community_id": community,
                                                       "topic_text": "夜校摄影 night photography"})  # fmt: skip
            return r if r.status_code == 201 else None

        await eventually(voted, timeout_s=60, every_s=0.5)
    return {"rid": rid, "session": session, "enrolment_id": enrolment_id}


async def _export(service: str, rid: str, role: str = "operator", subject: str = "exp-op"):
    async with client(service, role, subject) as http:
        return await http.get(f"/v1/residents/{rid}/data-export", headers={"X-Access-Purpose": "copy request"})


# What each service must hold about the resident once the events have arrived.
EXPECTED = {
    "activities": lambda t, s: t["residents"] and t["enrolment_seats"] and t["need_votes"],
    "enrolment": lambda t, s: t["residents"] and t["residents"][0]["phone"] == PHONE and t["enrolments"],
    "scoring": lambda t, s: t["residents"] and t["residents"][0]["family_id"] == "exp-family" and t["enrolments"],
    "notify": lambda t, s: t["contacts"] and t["contacts"][0]["email"] == EMAIL and t["enrolments"],
}


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_exports_what_it_holds_about_the_resident(resident, service):
    rid = resident["rid"]

    async def complete():
        r = await _export(service, rid)
        assert r.status_code == 200, r.text
        return r.json() if EXPECTED[service](r.json()["tables"], resident) else None

    data = await eventually(complete, timeout_s=60, every_s=0.5)
    assert data["service"] == service and data["resident_id"] == rid
    for table, rows in data["tables"].items():
        assert all(rid in json.dumps(row, ensure_ascii=False) for row in rows), (table, rows)
    if service == "activities":
        assert data["tables"]["need_votes"][0]["topic_text"] == "夜校摄影 night photography"
    if service in ("enrolment", "notify"):
        assert resident["session"] in json.dumps(data["tables"]["enrolments"])
    # the export was an access by staff: it is in the log it returns (written before it was served)
    assert {"actor": "exp-op", "actor_role": "operator", "route": "/v1/residents/{resident_id}/data-export",
            "purpose": "copy request"}.items() <= data["access_log"][0].items()  # fmt: skip


@pytest.mark.parametrize("service", SERVICES)
async def test_a_resident_gets_their_own_export_and_not_anothers(resident, service):
    rid = resident["rid"]
    mine = await _export(service, rid, "resident", rid)
    assert mine.status_code == 200, mine.text
    assert mine.json()["resident_id"] == rid
    theirs = await _export(service, rid, "resident", unique("exp-other"))
    assert theirs.status_code == 403, theirs.text
    assert rid not in theirs.text or "only" in theirs.text


async def test_an_unknown_resident_gets_an_empty_export():
    r = await _export("enrolment", unique("exp-nobody"))
    assert r.status_code == 200, r.text
    assert all(rows == [] for rows in r.json()["tables"].values())


async def test_an_operator_reading_an_enrolment_by_its_id_is_recorded_for_its_resident(resident):
    async with client("enrolment", "operator", "exp-desk") as http:
        assert (await http.get(f"/v1/enrolments/{resident['enrolment_id']}")).status_code == 200
        log = (await http.get("/v1/audit", params={"resident_id": resident["rid"]})).json()["accesses"]
    assert any(a["actor"] == "exp-desk" and a["route"] == "/v1/enrolments/{enrolment_id}" for a in log), log


async def test_the_cli_gathers_the_four_exports_into_one_owner_only_file(resident, tmp_path: Path):
    rid, out = resident["rid"], tmp_path / "export.json"
    # the services have the resident already (the per-service test above waited for it)
    await eventually(lambda: _has_contacts(rid), timeout_s=60, every_s=0.5)
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "learnstreet"), "privacy", "export", rid, "--out", str(out),
         "--purpose", "resident asked at the service centre", "--operator", "exp-cli"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=_with_token("exp-cli"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    document = json.loads(out.read_text())
    assert document["resident_id"] == rid and set(document["services"]) == set(SERVICES)
    text = out.read_text()
    assert PHONE in text and EMAIL in text and "夜校摄影" in text
    for service in SERVICES:
        assert document["services"][service]["access_log"][0]["actor"] == "exp-cli"
        assert document["services"][service]["access_log"][0]["purpose"] == "resident asked at the service centre"


async def test_the_cli_writes_nothing_when_a_service_refuses(tmp_path: Path):
    out = tmp_path / "export.json"
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "learnstreet"), "privacy", "export", "bad id with spaces", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=_with_token("exp-cli"),
    )  # fmt: skip
    assert result.returncode != 0
    assert "nothing written" in result.stderr and not out.exists()


def _with_token(operator: str) -> dict[str, str]:
    # the command mints no token while the services take an identity provider's (LS_OIDC_ISSUER)
    return {**os.environ, "LS_TOKEN": token("operator", subject=operator)}


async def _has_contacts(rid: str) -> bool:
    r = await _export("notify", rid)
    return r.status_code == 200 and bool(r.json()["tables"]["contacts"])
