"""Venue staff in the committed realm (deploy/keycloak/learnstreet-realm.json): every client that
issues tokens maps the multi-valued `venue_id` user attribute into the `venue_id` claim the
services read (shared/http/auth.py), only administrators set it, and the local token helper
(deploy/local/keycloak.py) makes venue staff with their venues."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
import keycloak as kc  # deploy/local/keycloak.py

REALM = json.loads(kc.REALM_FILE.read_text(encoding="utf-8"))
TOKEN_CLIENTS = [c for c in REALM["clients"] if c.get("standardFlowEnabled") or c.get("directAccessGrantsEnabled")]


@pytest.mark.parametrize("client", TOKEN_CLIENTS, ids=[c["clientId"] for c in TOKEN_CLIENTS])
def test_every_token_client_maps_the_venue_attribute_into_a_list_claim(client: dict) -> None:
    [mapper] = [m for m in client["protocolMappers"] if m["name"] == "venue_id"]
    config = mapper["config"]
    assert mapper["protocolMapper"] == "oidc-usermodel-attribute-mapper"
    assert (config["user.attribute"], config["claim.name"], config["multivalued"]) == ("venue_id", "venue_id", "true")
    assert config["access.token.claim"] == "true"


def test_the_venue_attribute_is_declared_multi_valued_and_only_administrators_set_it() -> None:
    attribute, mappers = kc._realm_venue_parts()
    assert attribute["multivalued"] is True
    assert attribute["permissions"]["edit"] == ["admin"]
    assert set(mappers) == {c["clientId"] for c in TOKEN_CLIENTS}


def test_token_for_takes_venues_and_venue_staff_with_venues_are_other_users() -> None:
    assert kc._token_for_args(["venue_staff", "s1", "--venue", "v-1", "--venue=v-2"]) == (
        "venue_staff", "s1", None, ("v-1", "v-2"),
    )  # fmt: skip
    assert kc._token_for_args(["community_worker", "w1", "xinnan"]) == ("community_worker", "w1", "xinnan", ())
    assert kc._token_for_args(["venue_staff", "s1", "--venue"]) is None
    assert kc._token_for_args(["venue_staff"]) is None
    # users made before venues existed keep their names; the venues are part of a staff user's name
    assert kc.user_name("resident", "r1", None) == kc.user_name("resident", "r1", None, ())
    one = kc.user_name("venue_staff", "s1", None, ("v-1",))
    assert one != kc.user_name("venue_staff", "s1", None, ("v-2",))
    assert kc.user_name("venue_staff", "s1", None, ("v-2", "v-1")) == kc.user_name(
        "venue_staff", "s1", None, ("v-1", "v-2")
    )
    assert kc._attributes("s1", None, ("v-2", "v-1"))["venue_id"] == ["v-1", "v-2"]
