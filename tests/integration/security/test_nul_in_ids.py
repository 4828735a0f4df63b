"""An id with a NUL character (`%00`) in the path or the query: PostgreSQL cannot store or compare
NUL in text, so without a check at the door the first query fails and the caller gets a 500.
Found by the privacy slice's audit tests on notify (GET /v1/courses/a%00b)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import service_url, token

pytestmark = pytest.mark.integration

ROUTES = [
    ("notify", "/v1/courses/a%00b"),
    ("notify", "/v1/residents/a%00b/notifications"),
    ("enrolment", "/v1/residents/a%00b"),
    ("activities", "/v1/sessions/a%00b"),
    ("scoring", "/v1/index/a%00b"),
    ("activities", "/v1/venues?community_id=a%00b"),
]


@pytest.mark.parametrize(("service", "path"), ROUTES, ids=[f"{s} {p}" for s, p in ROUTES])
def test_a_nul_character_in_an_id_is_a_422_naming_where(service, path):
    r = httpx.get(service_url(service) + path, headers={"Authorization": f"Bearer {token('operator')}"}, timeout=10)
    assert r.status_code == 422, (r.status_code, r.text)
    detail = r.json()["detail"][0]
    assert detail["loc"][0] in ("path", "query") and "NUL" in detail["msg"], r.text
