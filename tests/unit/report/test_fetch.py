"""The API client: what it asks each service, and the one-line errors an operator gets."""

from __future__ import annotations

import httpx
import pytest

from shared.report import fetch
from tests.unit.report.sources import REFERENCE, detail, sources

ENDPOINTS = fetch.Endpoints(scoring="http://scoring.test", activities="http://activities.test")


def api(asked: list[str], *, honours: int = 1, down: str | None = None) -> httpx.MockTransport:
    made = sources()

    def answer(request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        asked.append(f"{host.split('.')[0]} {path}?{request.url.query.decode()}".rstrip("?"))
        if down and host.startswith(down):
            raise httpx.ConnectError("connection refused", request=request)
        assert request.headers["authorization"] == "Bearer op-token"
        if path == "/v1/reference":
            return httpx.Response(200, json=REFERENCE)
        if path == "/v1/venues":
            return httpx.Response(200, json=made.venues)
        if path == "/v1/index":
            return httpx.Response(200, json=made.overview)
        if path.endswith("/rectification"):
            return httpx.Response(200, json={"items": made.rectification.get(path.split("/")[3], [])})
        if path.startswith("/v1/index/"):
            return httpx.Response(200, json=detail(path.split("/")[3]))
        if path == "/v1/honours":
            states = ["nominated", "awarded", "in_notice"]
            items = [{"honour_id": f"h{i}", "state": states[i % 3], "nominated_at": f"2026-06-{i % 28 + 1:02d}"}
                     for i in range(honours)]  # fmt: skip
            return httpx.Response(200, json={"items": items})
        if path.startswith("/v1/honours/"):
            return httpx.Response(200, json={"honour_id": path.split("/")[3], "steps": []})
        if path == "/openapi.json":
            return httpx.Response(200, json={"paths": {"/v1/evidence": {}}})
        return httpx.Response(200, json={"items": []})

    return httpx.MockTransport(answer)


def test_the_street_report_reads_every_community_and_the_period_honours():
    asked: list[str] = []
    got = fetch.fetch(ENDPOINTS, "op-token", period="2026", transport=api(asked))
    assert set(got.details) == {"street", "north", "south"} and got.evidence_api
    assert "scoring /v1/honours?period=2026&state=all&limit=1000" in asked
    assert "scoring /v1/index/south/rectification" in asked


def test_a_community_report_asks_for_that_community_only():
    asked: list[str] = []
    got = fetch.fetch(ENDPOINTS, "op-token", period="2026", community="north", transport=api(asked))
    assert set(got.details) == {"north"}
    assert not [a for a in asked if "south" in a]
    assert "scoring /v1/rectification-tasks?community_id=north&limit=1000" in asked


def test_selection_records_are_read_for_those_in_notice_first_then_the_awarded_and_bounded():
    asked: list[str] = []
    got = fetch.fetch(ENDPOINTS, "op-token", period="2026", transport=api(asked, honours=fetch.MAX_HONOUR_RECORDS * 2))
    assert len(got.records) == fetch.MAX_HONOUR_RECORDS
    states = {h["honour_id"]: h["state"] for h in got.honours}
    in_notice = sum(1 for s in states.values() if s == "in_notice")
    read = [states[h] for h in got.records]
    assert read == ["in_notice"] * in_notice + ["awarded"] * (fetch.MAX_HONOUR_RECORDS - in_notice)


def test_an_unknown_community_is_answered_with_the_known_ones():
    with pytest.raises(fetch.UnknownCommunity) as refused:
        fetch.fetch(ENDPOINTS, "op-token", period="2026", community="west", transport=api([]))
    assert str(refused.value) == "unknown community 'west'; known communities: north (北岭), south (南湾)"


@pytest.mark.parametrize("service", ["activities", "scoring"])
def test_a_service_down_is_named_with_how_to_start_it(service):
    with pytest.raises(fetch.ServiceDown) as down:
        fetch.fetch(ENDPOINTS, "op-token", period="2026", transport=api([], down=service))
    message = str(down.value)
    assert message.startswith(f"{service} is not answering at http://{service}.test")
    assert "make up" in message and "\n" not in message
