"""What the report shows, read from the running services' HTTP APIs with an operator token.

Scoring gives the index, the rectification list and its tasks, assessments and honours with their
selection record; activities gives the street's reference data (community names) and venues. The
evidence files API of scoring is optional: its links appear when scoring serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from shared.report.model import Sources

# Honours whose selection record is read one by one; past this the report counts the rest.
MAX_HONOUR_RECORDS = 40
# Records first of those standing in public notice now (objections may still come), then of the
# awarded, revoked and withdrawn; candidates not yet approved have no record worth a page.
_RECORD_ORDER = {"in_notice": 0, "awarded": 1, "revoked": 2, "withdrawn": 3}


@dataclass(frozen=True)
class Endpoints:
    scoring: str
    activities: str


class ReportError(Exception):
    """Why the report cannot be written, in one line for the operator."""


class ServiceDown(ReportError):
    def __init__(self, service: str, url: str, error: object) -> None:
        super().__init__(
            f"{service} is not answering at {url} ({type(error).__name__}); start the platform with `make up` "
            f"(or `.venv/bin/python deploy/local/stack.py services-up`) and check `make status`"
        )
        self.service = service


class UnknownCommunity(ReportError):
    def __init__(self, community: str, known: list[str]) -> None:
        super().__init__(f"unknown community {community!r}; known communities: {', '.join(known)}")
        self.known = known


class _Client:
    def __init__(self, http: httpx.Client, endpoints: Endpoints, step: Callable[[str], None]) -> None:
        self.http, self.endpoints, self.step = http, endpoints, step

    def get(self, service: str, path: str, **params: Any) -> Any:
        base = getattr(self.endpoints, service)
        self.step(f"{service} {path}")
        try:
            response = self.http.get(base + path, params={k: v for k, v in params.items() if v is not None})
        except httpx.TransportError as error:
            raise ServiceDown(service, base, error) from error
        if response.status_code in (401, 403):
            raise ReportError(
                f"{service} refused the token on {path} (HTTP {response.status_code}): an operator token is needed"
            )
        if response.status_code != 200:
            said = " ".join(response.text[:200].split())
            raise ReportError(f"{service} answered HTTP {response.status_code} on {path}: {said}")
        return response.json()


def fetch(
    endpoints: Endpoints,
    token: str,
    *,
    period: str,
    community: str | None = None,
    step: Callable[[str], None] = lambda _: None,
    timeout_s: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> Sources:
    """Everything the report of `community` (None: the street) for `period` shows. `step` is told
    each request before it is made (the command shows it as progress)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=timeout_s, transport=transport) as http:
        api = _Client(http, endpoints, step)
        reference = api.get("activities", "/v1/reference")
        overview = api.get("scoring", "/v1/index")
        known = [c["community_id"] for c in overview.get("communities", []) if c["community_id"] != "street"]
        known = known or [c["id"] for c in reference.get("communities", [])]
        if community is not None and community not in known:
            names = {c["id"]: c.get("name_zh", "") for c in reference.get("communities", [])}
            raise UnknownCommunity(community, [f"{c} ({names[c]})" if names.get(c) else c for c in sorted(known)])
        scope = [community] if community else ["street", *known]
        details = {c: api.get("scoring", f"/v1/index/{c}") for c in scope}
        rectification = {c: api.get("scoring", f"/v1/index/{c}/rectification")["items"] for c in scope}
        venues = api.get("activities", "/v1/venues", community_id=community)
        tasks = api.get("scoring", "/v1/rectification-tasks", community_id=community, limit=1000)["items"]
        assessments = api.get("scoring", "/v1/assessments", community_id=community, limit=1000)["items"]
        honours = api.get("scoring", "/v1/honours", period=period, community_id=community, state="all", limit=1000)[
            "items"
        ]
        newest_first = sorted(honours, key=_moment, reverse=True)
        chosen = sorted(newest_first, key=lambda h: _RECORD_ORDER.get(h.get("state", ""), 9))  # stable
        records = {
            h["honour_id"]: api.get("scoring", f"/v1/honours/{h['honour_id']}") for h in chosen[:MAX_HONOUR_RECORDS]
        }
        paths = api.get("scoring", "/openapi.json").get("paths", {})
    return Sources(
        period=period, community=community, reference=reference,
        venues=venues if isinstance(venues, list) else venues.get("items", []), overview=overview,
        details=details, rectification=rectification, tasks=tasks, assessments=assessments, honours=honours,
        records=records, evidence_api="/v1/evidence" in paths, scoring_url=endpoints.scoring,
    )  # fmt: skip


def _moment(honour: dict[str, Any]) -> str:
    # ISO-8601 UTC text sorts as time does
    return honour.get("awarded_at") or honour.get("notice_starts_at") or honour.get("nominated_at") or ""
