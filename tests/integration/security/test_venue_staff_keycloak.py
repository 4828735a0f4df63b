"""Venue staff signed in at the real identity provider (the local Keycloak): the realm maps their
`venue_id` attribute into the token, and the running activities service lets them change their
own venue's sessions and refuses another venue's with the reason (issue 16)."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.activities.helpers import make_place
from tests.integration.dashboard.oidc_stack import keycloak as running_keycloak
from tests.support import client, service_url, unique

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
import keycloak as kc  # deploy/local/keycloak.py

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def keycloak() -> Iterator[dict[str, str]]:
    with running_keycloak() as creds:
        yield creds


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_venue_staff_change_their_own_venues_session_and_are_refused_anothers(keycloak: dict[str, str]):
    mine, theirs = await make_place(), await make_place()
    token = kc.access_token("venue_staff", unique("staff"), None, keycloak, venue_ids=[mine.venue_id])
    assert claims(token)["venue_id"] == [mine.venue_id]  # the realm's mapper, a list as multi-valued
    staff = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=service_url("activities"), headers=staff, timeout=15) as http:
        changed = await http.patch(f"/v1/sessions/{mine.session_id}", json={"capacity": 12})
        assert changed.status_code == 200, changed.text
        assert changed.json()["capacity"] == 12
        refused = await http.patch(f"/v1/sessions/{theirs.session_id}", json={"capacity": 12})
        assert refused.status_code == 403, refused.text
        assert mine.venue_id in refused.text and theirs.venue_id in refused.text
    async with client("activities") as op:
        assert (await op.get(f"/v1/sessions/{theirs.session_id}")).json()["capacity"] == 30  # unchanged


async def test_venue_staff_of_two_venues_reach_both(keycloak: dict[str, str]):
    one, two = await make_place(), await make_place()
    token = kc.access_token("venue_staff", unique("staff"), None, keycloak, venue_ids=[one.venue_id, two.venue_id])
    async with httpx.AsyncClient(
        base_url=service_url("activities"), headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as http:
        for place in (one, two):
            r = await http.patch(f"/v1/sessions/{place.session_id}", json={"capacity": 9})
            assert r.status_code == 200, r.text
