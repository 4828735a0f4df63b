"""The certificate of learning against the real stack: the resident prints it for a year, anyone
holding it verifies its code without signing in, and a changed figure fails verification."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from tests.integration.enrolment.helpers import LEARNER, register_many
from tests.integration.scoring.events import attendance, send
from tests.support import client, eventually, producer, unique

pytestmark = pytest.mark.integration


async def test_certificate_for_a_year_with_a_code_that_verifies_and_breaks_when_changed():
    me, other = await register_many(2, **LEARNER)
    course = unique("cert-c")
    held = datetime(2026, 9, 1, 6, tzinfo=UTC)
    kafka = await producer("activities")
    try:
        await send(kafka, attendance(me, course_id=course, minutes=100, at=held),
                   attendance(me, course_id=course, minutes=80, at=held + timedelta(days=1)),
                   attendance(me, course_id=course, minutes=45, at=datetime(2025, 5, 1, tzinfo=UTC)))  # fmt: skip
    finally:
        await kafka.stop()

    async with client("enrolment", "resident", me) as own:

        async def ready():
            response = await own.get(f"/v1/residents/{me}/passport")
            return response.status_code == 200 and len(response.json()["attendance"]) == 3

        await eventually(ready, timeout_s=30)
        page = await own.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2026})
        english = await own.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2026, "lang": "en"})
        assert (await own.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2024})).status_code == 404
        bad = await own.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2026, "lang": "fr"})
        assert bad.status_code == 422 and ["query", "lang"] in [d["loc"] for d in bad.json()["detail"]]
        pdf = await own.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2026, "format": "pdf"})
        bad_format = await own.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2026, "format": "doc"})
        assert bad_format.status_code == 422 and ["query", "format"] in [d["loc"] for d in bad_format.json()["detail"]]
        this_year = await own.get(f"/v1/residents/{me}/passport/certificate")  # the street's calendar year
        assert this_year.status_code == 200 and str(datetime.now(UTC).year) in this_year.text
    async with client("enrolment", "resident", other) as theirs:
        assert (await theirs.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2026})).status_code == 403

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "学习证明" in page.text and "平湖街道" in page.text and "3.0" in page.text  # 180 minutes = 3 hours
    assert "Certificate of Learning" in english.text
    code = re.search(r'<code id="code">([^<]+)</code>', page.text).group(1)
    assert code.startswith("2026-180-") and code.endswith(f"-{me}")

    # the PDF: the same certificate, its code, and the address anyone verifies it at (also as a QR code)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", pdf.text[:300]
    assert pdf.headers["content-disposition"] == f'attachment; filename="certificate-{me}-2026.pdf"'
    pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).replace(" ", "")
    assert "学习证明" in pdf_text and "平湖街道" in pdf_text and code in pdf_text
    assert f"/v1/certificates/{code}" in pdf_text

    async with client("enrolment", role=None) as anyone:  # no sign-in needed to verify
        checked = (await anyone.get(f"/v1/certificates/{code}")).json()
        year, minutes, mac, resident = code.split("-", 3)
        forged = (await anyone.get(f"/v1/certificates/{year}-{int(minutes) * 10}-{mac}-{resident}")).json()
        malformed = await anyone.get("/v1/certificates/2026-180-nothex-someone")
    assert checked == {"valid": True, "resident_id": me, "year": 2026, "minutes": 180, "hours": 3.0, "reason": None}
    assert forged["valid"] is False and forged["reason"]
    assert malformed.status_code == 422
