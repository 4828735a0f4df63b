"""Evidence files (issue 14): the kind of a file is read from its bytes, its name is made safe, its
size is limited while it streams in (domain/evidence.py, adapters/evidence_form.py), and the upload
route's body bypasses the 1 MiB limit only to meet its own (shared/runtime.py BodyLimit)."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from fastapi import FastAPI, Request

from services.scoring.adapters.evidence_form import (
    DRAIN_BYTES,
    FORM_OVERHEAD_BYTES,
    Body,
    read_form,
    refuse_declared_length,
)
from services.scoring.domain import evidence
from services.scoring.domain.evidence import Received, Refused
from shared.runtime import BodyLimit
from tests.unit.scoring import evidence_files as files

# --- sniffing by magic bytes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (files.pdf(), "pdf"),
        (files.png(), "png"),
        (files.jpeg(), "jpeg"),
        (files.docx(), "docx"),
        (files.xlsx(), "xlsx"),
        (files.pptx(), "pptx"),
        (files.odf(), "odt"),
        (files.odf("application/vnd.oasis.opendocument.spreadsheet"), "ods"),
        (files.odf("application/vnd.oasis.opendocument.presentation"), "odp"),
    ],
)
def test_each_accepted_kind_is_recognised_from_its_bytes(data, kind):
    assert evidence.sniff(data).kind == kind


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (files.windows_exe(), "executable", "Windows executable"),
        (files.elf(), "executable", "Linux executable"),
        (b"#!/bin/sh\nrm -rf /\n", "executable", "script"),
        (files.ooxml("word/document.xml", macros=True), "executable", "macros"),
        (files.plain_zip(), "unsupported_type", "not an office document"),
        (b"PK\x03\x04 not really a zip", "unsupported_type", "damaged"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "unsupported_type", ".docx"),
        (b"<html><script>alert(1)</script></html>", "unsupported_type", "accepted"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported_type", "accepted"),
    ],
)
def test_anything_else_is_refused_415_saying_what_it_is(data, code, words):
    with pytest.raises(Refused) as e:
        evidence.sniff(data)
    assert (e.value.status, e.value.field, e.value.code) == (415, "file", code)
    assert words in e.value.reason


def test_a_png_named_pdf_is_refused_422_naming_both_kinds():
    with pytest.raises(Refused) as e:
        evidence.identify("plan.pdf", files.png())
    assert (e.value.status, e.value.field, e.value.code) == (422, "file", "type_mismatch")
    assert "PNG image" in e.value.reason and ".pdf" in e.value.reason


def test_an_executable_named_pdf_is_refused_415_as_an_executable():
    with pytest.raises(Refused) as e:
        evidence.identify("plan.pdf", files.windows_exe())
    assert (e.value.status, e.value.code) == (415, "executable")


def test_the_clients_name_never_decides_the_kind_and_a_missing_extension_is_added():
    assert evidence.identify("Scan.JPG", files.jpeg()) == ("Scan.jpg", evidence.JPEG)
    assert evidence.identify("scan.jpeg", files.jpeg())[1] is evidence.JPEG
    assert evidence.identify("年度计划", files.pdf()) == ("年度计划.pdf", evidence.PDF)
    assert evidence.identify(None, files.png()) == ("evidence.png", evidence.PNG)
    with pytest.raises(Refused) as e:
        evidence.identify("empty.pdf", b"")
    assert (e.value.status, e.value.code) == (422, "empty")


# --- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\张三\\平湖街道2026年学习型社区规划.pdf", "平湖街道2026年学习型社区规划.pdf"),
        ("report\x00.pdf\r\n", "report.pdf"),
        ("<b>alert(1)<b>.pdf", "_b_alert(1)_b_.pdf"),
        ('a"; filename="evil.exe', "a__ filename__evil.exe"),  # no quote can end a header's value
        (".bashrc", "bashrc"),
        ("  ..hidden  plan .PDF  ", "hidden plan.pdf"),
        ("\u202eFDP.exe", "FDP.exe"),  # the right-to-left override that makes exe look like pdf
        ("", ""),
        ("...", ""),
    ],
)
def test_names_keep_the_last_segment_and_only_safe_characters(raw, clean):
    assert evidence.sanitise_filename(raw) == clean


def test_a_long_name_is_cut_keeping_its_extension():
    name = evidence.sanitise_filename("长" * 400 + ".docx")
    assert len(name) == evidence.MAX_FILENAME_CHARS and name.endswith("长.docx")


def test_content_disposition_is_an_attachment_with_an_ascii_fallback_and_the_utf8_name():
    header = evidence.content_disposition("规划 2026.pdf")
    assert header == "attachment; filename=\"__ 2026.pdf\"; filename*=UTF-8''%E8%A7%84%E5%88%92%202026.pdf"


# --- size ------------------------------------------------------------------------------------------------


def test_received_bytes_are_hashed_and_refused_413_one_byte_past_the_limit():
    r = Received(max_bytes=10)
    r.add(b"01234")
    r.add(b"56789")
    assert (r.size, r.content(), r.sha256) == (10, b"0123456789", hashlib.sha256(b"0123456789").hexdigest())
    with pytest.raises(Refused) as e:
        r.add(b"x")
    assert (e.value.status, e.value.field, e.value.code) == (413, "file", "too_large")
    assert "10 bytes" in e.value.reason


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    refuse_declared_length(str(1000 + FORM_OVERHEAD_BYTES), 1000)
    refuse_declared_length(None, 1000)
    with pytest.raises(Refused) as e:
        refuse_declared_length(str(1001 + FORM_OVERHEAD_BYTES), 1000)
    assert e.value.status == 413


# --- the streamed form ----------------------------------------------------------------------------------

FIELDS = frozenset({"indicator_id", "community_id", "note"})
CT = "multipart/form-data; boundary=b0undary"


async def _stream(body: bytes, size: int = 7):
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def test_the_form_is_read_in_small_chunks_with_fields_file_and_digest():
    data = files.pdf()
    body = files.multipart({"indicator_id": "planning.annual_plan", "note": "会议纪要"}, "纪要.pdf", data)
    form = await read_form(_stream(body), CT, max_file_bytes=len(data), text_fields=FIELDS)
    assert form.fields == {"indicator_id": "planning.annual_plan", "note": "会议纪要"}
    assert form.filename == "纪要.pdf" and form.file is not None
    assert (form.file.content(), form.file.sha256) == (data, hashlib.sha256(data).hexdigest())


async def test_a_gigabyte_stream_is_refused_after_the_limit_without_reading_the_rest():
    limit, chunk, sent = 1024 * 1024, 64 * 1024, 0
    head = files.multipart({"indicator_id": "x"}, "big.pdf", b"").rsplit(b"\r\n--b0undary--", 1)[0]

    async def gigabyte():
        nonlocal sent
        yield head
        block = b"%PDF-" + b"0" * (chunk - 5)
        while sent < 1024**3:
            sent += chunk
            yield block
            block = b"0" * chunk

    with pytest.raises(Refused) as e:
        await read_form(gigabyte(), CT, max_file_bytes=limit, text_fields=FIELDS)
    assert (e.value.status, e.value.field) == (413, "file")
    assert sent <= limit + chunk  # stopped at the first chunk past the limit, not at 1 GiB


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b'{"file": "x"}', "application/json", 415, "body"),
        (files.multipart({"indicator_id": "x"}, None, None), CT, 422, "file"),
        (files.multipart({"colour": "red"}, "a.pdf", files.pdf()), CT, 422, "colour"),
        (files.multipart({"indicator_id": "x"}, "a.pdf", files.pdf())[:-20], CT, 422, "body"),
        (files.multipart({"note": "n" * 5000}, "a.pdf", files.pdf()), CT, 422, "note"),
        (b"--b0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n\xff\xfe\r\n--b0undary--\r\n", CT, 422,
         "note"),
    ],
)  # fmt: skip
async def test_a_form_that_is_not_the_evidence_form_is_refused_naming_the_field(body, content_type, status, field):
    with pytest.raises(Refused) as e:
        await read_form(_stream(body, 100), content_type, max_file_bytes=10**6, text_fields=FIELDS)
    assert (e.value.status, e.value.field) == (status, field), e.value.reason


class Receive:
    """ASGI `receive` over a body of `total` bytes in `chunk`-byte messages; after the last one it
    fails the test, as a real server would wait there for the client to disconnect."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.left, self.chunk, self.read = total, chunk, 0

    async def __call__(self) -> dict:
        if self.left < 0:
            raise AssertionError("receive() called after the body ended: it would wait for the disconnect")
        n = min(self.chunk, self.left)
        self.left = self.left - n if self.left > n else -1
        self.read += n
        return {"type": "http.request", "body": b"0" * n, "more_body": self.left >= 0}


async def test_after_a_refusal_a_small_rest_is_drained_so_the_client_gets_the_answer():
    receive = Receive(DRAIN_BYTES // 2)
    body = Body(receive)
    await anext(body.chunks())
    assert await body.drain() is True and receive.read == DRAIN_BYTES // 2


async def test_after_a_refusal_a_large_rest_is_not_read_beyond_the_drain():
    receive = Receive(1024**3)
    body = Body(receive)
    await anext(body.chunks())
    assert await body.drain() is False and receive.read <= DRAIN_BYTES + 2 * receive.chunk
    declared = Receive(1024**3)
    assert await Body(declared, str(1024**3)).drain() is False and declared.read == 0


async def test_a_body_read_to_its_end_is_not_read_again():
    receive = Receive(1000)
    body = Body(receive)
    assert sum([len(c) async for c in body.chunks()]) == 1000
    assert await body.drain() is True  # Receive fails the test if called again


async def test_a_client_gone_mid_body_is_a_refusal_not_a_hang():
    async def gone() -> dict:
        return {"type": "http.disconnect"}

    with pytest.raises(Refused) as e:
        await anext(Body(gone).chunks())
    assert e.value.code == "disconnected"


# --- the 1 MiB body limit and the upload route ----------------------------------------------------------


async def test_a_route_with_its_own_limit_gets_its_body_unbuffered_and_others_keep_the_limit():
    app = FastAPI()

    @app.post("/own")
    @app.post("/other")
    async def count(request: Request) -> dict:
        return {"bytes": sum([len(c) async for c in request.stream()])}

    app.add_middleware(BodyLimit, max_bytes=1024, own_limit=frozenset({"/own"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.post("/own", content=b"x" * 5000)).json() == {"bytes": 5000}
        assert (await client.post("/other", content=b"x" * 5000)).status_code == 413


# --- links from the index -----------------------------------------------------------------------------


async def test_the_index_names_evidence_only_to_those_who_may_read_it(monkeypatch):
    from services.scoring.service_layer import evidence as use_cases

    file_id = uuid.uuid4()

    async def links(uow_factory, community_id):
        return {"planning.annual_plan": [{"evidence_id": file_id, "filename": "张三家庭申报.pdf"}]}

    monkeypatch.setattr(use_cases, "links", links)
    cached = [{"id": "planning", "indicators": [{"id": "planning.annual_plan", "kind": "assessed"},
                                                {"id": "participation.rate", "kind": "computed"}]}]  # fmt: skip

    def leaf(aspects):
        return aspects[0]["indicators"][0]

    for role, own in (("operator", None), ("assessor", None), ("community_worker", "shangmugu")):
        shown = leaf(await use_cases.with_links(None, "shangmugu", cached, role, own))
        assert shown["evidence"] == [
            {"id": str(file_id), "filename": "张三家庭申报.pdf", "url": f"/v1/evidence/{file_id}/content"}
        ]
    for role, own in (("resident", None), ("community_worker", "xinmu")):
        shown = leaf(await use_cases.with_links(None, "shangmugu", cached, role, own))
        assert shown["evidence_count"] == 1 and "evidence" not in shown
    computed = (await use_cases.with_links(None, "shangmugu", cached, "operator", None))[0]["indicators"][1]
    assert "evidence" not in computed and "evidence_count" not in computed
    assert "evidence" not in leaf(cached)  # the cached view shared by every request is not changed
