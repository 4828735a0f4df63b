"""The certificate of learning: codes only the street's secret makes, that break when what they
certify is changed; the page escapes what it shows."""

from __future__ import annotations

import io

import orjson
import pytest
from pypdf import PdfReader

from services.enrolment.domain.passport import certificate_code, genuine, parse_certificate_code
from services.enrolment.entrypoints.certificate import render
from services.enrolment.entrypoints.certificate_pdf import render as pdf_render
from services.enrolment.entrypoints.certificate_pdf import render_cached
from services.enrolment.service_layer.passport import certificate_key

KEY = certificate_key(None, "x" * 40)


def test_a_code_verifies_and_any_change_breaks_it():
    code = certificate_code(KEY, "res-a-1", 2026, 220)
    claim = parse_certificate_code(code)
    assert (claim.year, claim.minutes, claim.resident_id) == (2026, 220, "res-a-1")
    assert genuine(KEY, claim)
    year, minutes, mac, resident = code.split("-", 3)
    for forged in (
        f"{year}-2200-{mac}-{resident}",
        f"2025-{minutes}-{mac}-{resident}",
        f"{year}-{minutes}-{mac}-res-b-1",
    ):
        assert not genuine(KEY, parse_certificate_code(forged)), forged
    assert not genuine(certificate_key("another street's secret", "x" * 40), claim)


def test_the_street_secret_wins_over_the_derived_key_and_the_derived_key_is_not_the_token_secret():
    assert certificate_key("street", "x" * 40) == b"street"
    assert KEY != b"x" * 40 and len(KEY) == 32


@pytest.mark.parametrize(
    "code",
    ["", "2026-220-abc-res", "2026-220-" + "g" * 20 + "-res", "y-220-" + "a" * 20 + "-r", "2026-220-" + "a" * 20 + "-"],
)
def test_malformed_codes_are_not_parsed(code):
    assert parse_certificate_code(code) is None


def test_the_page_escapes_names_and_shows_figures_and_code():
    data = {
        "resident_id": "res-1", "year": 2026, "code": certificate_code(KEY, "res-1", 2026, 90), "rule_version": "v1",
        "street": {"zh-CN": "平湖街道", "en": "Pinghu Street"},
        "summary": {"hours": 1.5, "credits": 0.5, "attendances": 1},
        "attendance": [{"date": "2026-03-02", "course": {"zh-CN": "<script>x</script>", "en": "E"},
                        "course_id": "c", "venue": None, "venue_id": "v-1", "minutes": 90}],
        "honours": [{"name": {"zh-CN": "百姓学习之星", "en": "Learning Star"}, "period": "2026"}],
    }  # fmt: skip
    page = render(data, "zh-CN")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "学习证明" in page and "平湖街道" in page and "百姓学习之星" in page and data["code"] in page
    assert "v-1" in page  # a venue the catalogue does not name shows its id
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere
    assert "Certificate of Learning" in render(data, "en")


def _data(attendances: int = 3) -> dict:
    return {
        "resident_id": "res-a-1",
        "year": 2026,
        "summary": {"hours": 3.0, "credits": 1.5, "attendances": attendances, "minutes": 180},
        "attendance": [
            {"date": f"2026-09-{1 + i % 28:02d}", "course_id": "c1",
             "course": {"zh-CN": "书法入门", "en": "Calligraphy"}, "venue_id": "v1",
             "venue": {"zh-CN": "凤凰党群服务中心", "en": "Fenghuang centre"}, "minutes": 60}
            for i in range(attendances)
        ],
        "honours": [{"name": {"zh-CN": "百姓学习之星", "en": "Learning Star"}, "period": "2026"}],
        "code": certificate_code(KEY, "res-a-1", 2026, 180),
        "street": {"zh-CN": "平湖街道", "en": "Pinghu Street"},
        "rule_version": "pinghu-credits-v1",
    }  # fmt: skip


def _text(pdf: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages).replace(" ", ""), len(reader.pages)


@pytest.mark.parametrize("lang, words", [("zh-CN", ["学习证明", "书法入门", "百姓学习之星", "平湖街道", "验证码"]),
                                         ("en", ["CertificateofLearning", "Calligraphy", "LearningStar"])])  # fmt: skip
def test_the_pdf_certificate_says_what_the_page_says_with_its_code_and_the_address_that_verifies_it(lang, words):
    data = _data()
    url = f"https://learn.pinghu.example/v1/certificates/{data['code']}"
    pdf = pdf_render(data, lang, url)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text, pages = _text(pdf)
    assert pages == 1
    for word in [*words, data["code"], url]:
        assert word in text, word


def test_a_long_year_of_learning_runs_onto_more_pages_and_markup_in_a_name_is_only_text():
    data = _data(attendances=120)
    data["attendance"][0]["course"] = {"zh-CN": "<b>粗体</b> & <font>", "en": "<b>bold</b> & <font>"}
    pdf = pdf_render(data, "en", "https://learn.pinghu.example/v1/certificates/x")
    text, pages = _text(pdf)
    assert pages > 1
    assert "<b>bold</b>&<font>" in text


def test_the_same_certificate_is_rendered_once_and_a_changed_one_again():
    data = _data()
    key = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    first = render_cached(key, "zh-CN", "https://learn.pinghu.example/v1/certificates/x")
    assert render_cached(key, "zh-CN", "https://learn.pinghu.example/v1/certificates/x") is first
    data["honours"].append({"name": {"zh-CN": "最美家庭", "en": "Most Beautiful Family"}, "period": "2026"})
    changed = render_cached(orjson.dumps(data, option=orjson.OPT_SORT_KEYS), "zh-CN",
                            "https://learn.pinghu.example/v1/certificates/x")  # fmt: skip
    assert changed is not first and "最美家庭" in _text(changed)[0]
