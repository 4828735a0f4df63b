"""Evidence files on the real stack (issue 14): uploaded to the running scoring service, stored in its
PostgreSQL, downloaded byte for byte with their SHA-256, refused when they are not what they claim,
too large, or uploaded by someone who may not; linked from the index; every upload and removal an
event on Kafka carrying the metadata and never the bytes."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from services.scoring.config import ScoringSettings
from tests.support import client, read_topic, service_url, token, unique
from tests.unit.scoring import evidence_files as files

pytestmark = pytest.mark.integration
COMMUNITY, OTHER, INDICATOR = "shangmugu", "xinmu", "planning.annual_plan"
LIMIT = ScoringSettings.model_fields["evidence_max_bytes"].default  # the stack runs the default


def worker(community: str, subject: str) -> httpx.AsyncClient:
    bearer = token("community_worker", subject, community_id=community)
    return httpx.AsyncClient(base_url=service_url("scoring"), headers={"Authorization": f"Bearer {bearer}"},
                             timeout=30.0)  # fmt: skip


async def _upload(http: httpx.AsyncClient, filename: str, data: bytes, **fields: str) -> httpx.Response:
    return await http.post("/v1/evidence", data=fields, files={"file": (filename, data, "application/pdf")})


def _refusal(r: httpx.Response, status: int, field: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"][-1] == field, r.text
    return detail["msg"]


async def test_evidence_is_stored_downloaded_linked_and_removed_with_its_events():
    run = unique("evidence")
    pdf, png = files.pdf(f"{run} annual plan"), files.png(3, 2)
    async with client("scoring", "operator", subject=f"{run}-op") as op, \
            client("scoring", "assessor", subject=f"{run}-expert") as expert, \
            worker(COMMUNITY, f"{run}-ws") as ws:  # fmt: skip
        r = await _upload(op, f"{run} 年度计划.pdf", pdf, indicator_id=INDICATOR, community_id=COMMUNITY,
                          note="signed by the street office")  # fmt: skip
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["filename"], doc["content_type"], doc["size"]) == (
            f"{run} 年度计划.pdf",
            "application/pdf",
            len(pdf),
        )
        assert (doc["sha256"], doc["uploaded_by"], doc["community_id"]) == (
            hashlib.sha256(pdf).hexdigest(), f"{run}-op", COMMUNITY)  # fmt: skip

        # A community workstation uploads for its own community without naming it; the type comes
        # from the bytes, whatever the client claimed (application/pdf above).
        r = await _upload(ws, "photo.png", png, indicator_id=INDICATOR)
        assert r.status_code == 201, r.text
        photo = r.json()
        assert (photo["community_id"], photo["content_type"], photo["uploader_role"]) == (
            COMMUNITY, "image/png", "community_worker")  # fmt: skip

        # Downloads are the bytes as uploaded, as attachments, never sniffed, tagged with the digest.
        for reader in (expert, op, ws):
            r = await reader.get(doc["url"])
            assert r.status_code == 200, r.text
            assert r.content == pdf and hashlib.sha256(r.content).hexdigest() == doc["sha256"]
            assert r.headers["content-type"] == "application/pdf"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["etag"] == f'"{doc["sha256"]}"'
            assert r.headers["content-disposition"].startswith("attachment;")
            assert "filename*=UTF-8''" in r.headers["content-disposition"]
        r = await expert.get(photo["url"])
        assert (r.status_code, r.content, r.headers["content-type"]) == (200, png, "image/png")
        assert (await expert.get(doc["url"], headers={"If-None-Match": f'"{doc["sha256"]}"'})).status_code == 304

        # Listed by indicator and community, and linked from the index's assessed leaf.
        listed = await expert.get("/v1/evidence", params={"indicator_id": INDICATOR, "community_id": COMMUNITY})
        ids = [e["id"] for e in listed.json()["items"]]
        assert doc["id"] in ids and photo["id"] in ids
        assert (await expert.get(f"/v1/evidence/{doc['id']}")).json()["sha256"] == doc["sha256"]
        view = (await expert.get(f"/v1/index/{COMMUNITY}")).json()
        leaf = next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == INDICATOR)
        assert {"id": doc["id"], "filename": doc["filename"], "url": doc["url"]} in leaf["evidence"]

        # Only an operator removes; the record stays, downloads answer 410, lists and the index drop it.
        assert (await expert.delete(f"/v1/evidence/{photo['id']}")).status_code == 403
        r = await op.delete(f"/v1/evidence/{photo['id']}", params={"reason": "wrong photo"})
        assert r.status_code == 200 and r.json()["removed_by"] == f"{run}-op", r.text
        assert (await expert.get(photo["url"])).status_code == 410
        assert (await expert.get(f"/v1/evidence/{photo['id']}")).json()["removal_reason"] == "wrong photo"
        listed = await expert.get("/v1/evidence", params={"indicator_id": INDICATOR, "community_id": COMMUNITY})
        assert photo["id"] not in [e["id"] for e in listed.json()["items"]]
        view = (await expert.get(f"/v1/index/{COMMUNITY}")).json()
        leaf = next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == INDICATOR)
        assert photo["id"] not in [e["id"] for e in leaf["evidence"]]

    def mine(records) -> list[dict]:
        out = []
        for rec in records:
            body = json.loads(rec.value)
            data = body.get("data", body)
            if data.get("evidence_id") in (doc["id"], photo["id"]):
                out.append({"type": dict(rec.headers).get("ce_type", b"").decode(), **data, "_bytes": len(rec.value)})
        return out

    records = await read_topic("scoring.assessments", until=lambda rs: len(mine(rs)) >= 3, timeout_s=30)
    events = mine(records)
    uploaded = next(e for e in events if e["evidence_id"] == doc["id"])
    assert (uploaded["sha256"], uploaded["size"], uploaded["actor"]) == (doc["sha256"], len(pdf), f"{run}-op")
    assert uploaded["_bytes"] < 2000  # metadata only: the file's bytes never travel on Kafka
    removed = [e for e in events if e["evidence_id"] == photo["id"] and e.get("reason") == "wrong photo"]
    assert removed and removed[0]["actor"] == f"{run}-op"


async def test_files_that_are_not_what_they_claim_or_too_large_are_refused_with_field_and_reason():
    run = unique("evidence-bad")
    async with client("scoring", "operator", subject=f"{run}-op") as op:
        base = {"indicator_id": INDICATOR, "community_id": COMMUNITY}
        msg = _refusal(await _upload(op, "plan.pdf", files.png(), **base), 422, "file")
        assert "PNG image" in msg and ".pdf" in msg
        msg = _refusal(await _upload(op, "plan.pdf", files.windows_exe(), **base), 415, "file")
        assert "executable" in msg
        msg = _refusal(await _upload(op, "plan.pdf", files.pdf(), indicator_id="planning.no_such_thing"),
                       422, "indicator_id")  # fmt: skip
        assert "planning.no_such_thing" in msg
        _refusal(await _upload(op, "plan.pdf", files.pdf(), indicator_id=INDICATOR, community_id="atlantis"),
                 422, "community_id")  # fmt: skip

        # Declared too large: refused before the body is read.
        msg = _refusal(await _upload(op, "big.pdf", b"%PDF-" + b"0" * LIMIT, **base), 413, "file")
        assert str(LIMIT) in msg

        # Streamed without a length (chunked): refused once the file passes the limit; a client that sent
        # a little more gets the answer (the rest is drained), one streaming a gigabyte is cut off (the
        # service read and discarded the whole gigabyte before).
        head = files.multipart(base, "big.pdf", b"").rsplit(b"\r\n--b0undary--", 1)[0] + b"%PDF-"
        multipart = {"Content-Type": "multipart/form-data; boundary=b0undary"}
        sent = 0

        async def stream(total: int):
            nonlocal sent
            sent = 0
            yield head
            while sent < total:
                sent += 1024**2
                yield b"0" * 1024**2

        r = await op.post("/v1/evidence", content=stream(LIMIT + 2 * 1024**2), headers=multipart)
        assert str(LIMIT) in _refusal(r, 413, "file")
        try:
            r = await op.post("/v1/evidence", content=stream(1024**3), headers=multipart)
            _refusal(r, 413, "file")
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            pass  # the connection closed under a client still sending: it may see that instead of the 413
        assert sent < 8 * LIMIT, f"{sent >> 20} MiB sent before the service stopped the upload"

        # Nothing of it was kept.
        listed = await op.get("/v1/evidence", params={"indicator_id": INDICATOR, "community_id": COMMUNITY})
        assert not [e for e in listed.json()["items"] if e["uploaded_by"] == f"{run}-op"]


async def test_only_staff_of_the_community_upload_or_read_its_evidence():
    run = unique("evidence-who")
    async with client("scoring", "operator", subject=f"{run}-op") as op, \
            worker(OTHER, f"{run}-other") as other, client("scoring", "kiosk", subject=f"{run}-kiosk") as kiosk, \
            client("scoring", "resident", subject=f"{run}-resident") as resident:  # fmt: skip
        r = await _upload(op, "plan.pdf", files.pdf(run), indicator_id=INDICATOR, community_id=COMMUNITY)
        assert r.status_code == 201, r.text
        doc = r.json()

        assert (await _upload(other, "plan.pdf", files.pdf(), indicator_id=INDICATOR,
                              community_id=COMMUNITY)).status_code == 403  # fmt: skip
        assert (await other.get(doc["url"])).status_code == 403
        assert (await other.get(f"/v1/evidence/{doc['id']}")).status_code == 403
        assert (await other.get("/v1/evidence", params={"community_id": COMMUNITY})).status_code == 403
        # The index shows a resident how many files back a leaf, not their names (a name may name a person).
        view = (await resident.get(f"/v1/index/{COMMUNITY}")).json()
        leaf = next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == INDICATOR)
        assert leaf["evidence_count"] >= 1 and "evidence" not in leaf, leaf
        for outsider in (kiosk, resident):
            assert (await _upload(outsider, "plan.pdf", files.pdf(), indicator_id=INDICATOR)).status_code == 403
            assert (await outsider.get(doc["url"])).status_code == 403
            assert (await outsider.get("/v1/evidence")).status_code == 403
        assert (await op.delete(f"/v1/evidence/{doc['id']}", params={"reason": run})).status_code == 200
