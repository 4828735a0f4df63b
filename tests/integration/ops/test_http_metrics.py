"""HTTP request metrics and request ids on the four running services: one series per route
template whatever the ids in the path, and the caller's X-Request-ID echoed."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.ops.test_metrics import scrape
from tests.support import SERVICE_PORTS, service_url, unique

pytestmark = pytest.mark.integration

TEMPLATE = "/v1/residents/{resident_id}/data-export"
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>.*)\} (?P<value>\S+)$")  # a template holds braces


def samples(text: str, name: str, service: str) -> dict[str, float]:
    """{label string: value} of `name`'s samples for `service`."""
    found = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and m["name"] == name and f'service="{service}"' in m["labels"]:
            found[m["labels"]] = float(m["value"])
    return found


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
async def test_two_resident_ids_make_one_series_named_by_the_route_template(service: str) -> None:
    ids = [unique("metrics-a"), unique("metrics-b")]
    request_id = unique("ops-req")
    async with httpx.AsyncClient(base_url=service_url(service), timeout=10) as http:
        before = samples(await scrape(service), "learnstreet_http_requests_total", service)
        answers = [await http.get(f"/v1/residents/{i}/data-export", headers={"X-Request-ID": request_id}) for i in ids]
        missing = await http.get(f"/no-such-route/{ids[0]}")
    assert [r.status_code for r in answers] == [401, 401], "no token: the route's own refusal"
    assert {r.headers["x-request-id"] for r in answers} == {request_id}
    assert missing.status_code == 404 and len(missing.headers["x-request-id"]) == 32

    text = await scrape(service)
    assert not any(i in text for i in ids), "a raw id became a label value"
    after = samples(text, "learnstreet_http_requests_total", service)
    on_route = {k: v for k, v in after.items() if f'route="{TEMPLATE}"' in k and 'status="401"' in k}
    assert len(on_route) == 1, after
    (labels, value) = next(iter(on_route.items()))
    assert 'method="GET"' in labels and value - before.get(labels, 0.0) >= 2
    assert any('route="unmatched"' in k and 'status="404"' in k for k in after)
    durations = samples(text, "learnstreet_http_request_duration_seconds_count", service)
    assert len([k for k in durations if f'route="{TEMPLATE}"' in k and 'method="GET"' in k]) == 1
