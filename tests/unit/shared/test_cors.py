"""Cross-origin calls from the residents' phone page (enrolment's origin) to activities
(shared/http/cors.py): only the configured origins, GET and POST, the Authorization and
Content-Type headers; none at all when the setting is empty; a setting that is no origin stops
the start-up naming it."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter
from pydantic import SecretStr, ValidationError

from services.activities.config import ActivitiesSettings
from shared.http.cors import origin_of, parse_origins
from shared.http.errors import Conflict
from shared.runtime import create_app

PAGE = "http://127.0.0.1:8102"
router = APIRouter(prefix="/v1")


@router.post("/surveys/{survey_id}/responses")
async def answer(survey_id: str) -> None:
    raise Conflict(f"you answered survey {survey_id} already", field="survey_id")


@router.get("/surveys")
async def surveys() -> list:
    return []


def _client(origins: tuple[str, ...]) -> httpx.AsyncClient:
    settings = SimpleNamespace(service="unit-cors", jwt_secret=SecretStr(secrets.token_hex(32)))
    app = create_app(SimpleNamespace(settings=settings), title="t", routers=[router], cors_origins=origins)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://activities")


def _preflight(origin: str, method: str = "POST", headers: str = "authorization,content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


def test_origins_are_a_comma_separated_list_normalised():
    assert parse_origins("") == ()
    assert parse_origins(" , ") == ()
    listed = "http://127.0.0.1:8102, http://LOCALHOST:8102/ ,,https://m.example.cn,http://127.0.0.1:8102"
    assert parse_origins(listed) == (
        "http://127.0.0.1:8102", "http://localhost:8102", "https://m.example.cn",
    )  # fmt: skip
    assert origin_of("http://127.0.0.1:8101/v1/surveys") == "http://127.0.0.1:8101"
    assert origin_of("https://[::1]:8443") == "https://[::1]:8443"


@pytest.mark.parametrize(
    "bad",
    ["*", "http://127.0.0.1:8102/m/", "127.0.0.1:8102", "ftp://example.cn", "http://u:p@example.cn",
     "http://*.example.cn", "http://example.cn?x=1", "http://example.cn:99999"],
)  # fmt: skip
def test_an_entry_that_is_no_origin_is_refused_by_name(bad: str):
    with pytest.raises(ValueError, match=repr(bad).replace("*", r"\*").replace("?", r"\?")[:12]):
        parse_origins(f"http://127.0.0.1:8102,{bad}")


def _activities(**values) -> ActivitiesSettings:
    return ActivitiesSettings(service="activities", kafka_username="a", kafka_password="p", database_url="postgresql://x",
                              http_port=8101, LS_JWT_SECRET=secrets.token_hex(32), **values)  # fmt: skip


def test_activities_reads_its_origins_from_ACTIVITIES_CORS_ORIGINS(monkeypatch):
    assert _activities().cors_origins == ""
    monkeypatch.setenv("ACTIVITIES_CORS_ORIGINS", "http://127.0.0.1:8102/, http://localhost:8102")
    monkeypatch.setenv("ACTIVITIES_KAFKA_USERNAME", "a")
    monkeypatch.setenv("ACTIVITIES_KAFKA_PASSWORD", "p")
    monkeypatch.setenv("ACTIVITIES_DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("ACTIVITIES_HTTP_PORT", "8101")
    monkeypatch.setenv("LS_JWT_SECRET", secrets.token_hex(32))
    from services.activities.config import settings

    assert settings().cors_origins == "http://127.0.0.1:8102,http://localhost:8102"
    with pytest.raises(ValidationError, match="cors_origins"):
        _activities(cors_origins="http://127.0.0.1:8102/m/")


async def test_the_page_origin_is_admitted_for_get_and_post_with_its_two_headers():
    async with _client((PAGE,)) as http:
        r = await http.options("/v1/surveys/s1/responses", headers=_preflight(PAGE))
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == PAGE
        assert {m.strip() for m in r.headers["access-control-allow-methods"].split(",")} >= {"GET", "POST"}
        assert {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")} >= {
            "authorization", "content-type",
        }  # fmt: skip
        assert "access-control-allow-credentials" not in r.headers
        # the answers themselves, errors included, are readable by the page: it tells 409 apart
        r = await http.post("/v1/surveys/s1/responses", headers={"Origin": PAGE})
        assert r.status_code == 409 and r.headers["access-control-allow-origin"] == PAGE
        r = await http.get("/v1/surveys", headers={"Origin": PAGE})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == PAGE


@pytest.mark.parametrize(
    "origin, method, headers",
    [("http://127.0.0.1:9999", "POST", "authorization"), ("https://evil.example", "GET", "authorization"),
     (PAGE, "DELETE", "authorization"), (PAGE, "PUT", "content-type"), (PAGE, "POST", "x-kiosk-signature")],
)  # fmt: skip
async def test_another_origin_method_or_header_is_not_admitted(origin: str, method: str, headers: str):
    async with _client((PAGE,)) as http:
        r = await http.options("/v1/surveys/s1/responses", headers=_preflight(origin, method, headers))
        assert r.status_code == 400
        if origin != PAGE:
            assert "access-control-allow-origin" not in r.headers
        r = await http.get("/v1/surveys", headers={"Origin": origin})
        if origin != PAGE:
            assert "access-control-allow-origin" not in r.headers


async def test_no_origins_no_cors_at_all():
    async with _client(()) as http:
        r = await http.options("/v1/surveys/s1/responses", headers=_preflight(PAGE))
        assert r.status_code == 405 and "access-control-allow-origin" not in r.headers
        r = await http.get("/v1/surveys", headers={"Origin": PAGE})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_the_activities_app_takes_its_origins_from_the_settings():
    from starlette.middleware.cors import CORSMiddleware

    from services.activities.bootstrap import build_app

    app = build_app(_activities(cors_origins=f"{PAGE},http://localhost:8102"))
    [cors] = [m for m in app.user_middleware if m.cls is CORSMiddleware]
    assert cors.kwargs["allow_origins"] == [PAGE, "http://localhost:8102"]
    assert not [m for m in build_app(_activities()).user_middleware if m.cls is CORSMiddleware]
