"""Residents' notification preferences: consent off by default (and documented so), their own
quiet hours set on registration and by PATCH, published on enrolment.contacts for notify."""

from __future__ import annotations

import pytest

from tests.integration.enrolment.helpers import events_of, register
from tests.support import client, read_topic

pytestmark = pytest.mark.integration


async def test_consent_defaults_to_false_and_the_api_docs_say_so():
    async with client("enrolment") as http:
        resident = await register(http, phone="+86 13800000001")
        spec = (await http.get("/openapi.json")).json()
    assert resident["consent"] is False
    described = spec["components"]["schemas"]["ResidentIn"]["properties"]["consent"]
    assert described["default"] is False
    assert "Defaults to false" in described["description"] and "默认不同意" in described["description"]


async def test_quiet_hours_are_stored_changed_by_the_resident_and_published_to_notify():
    async with client("enrolment") as http:
        resident = await register(
            http, phone="+86 13800000002", consent=True, quiet_hours_start="22:30", quiet_hours_end="07:00"
        )
        rid = resident["resident_id"]
        assert (resident["quiet_hours_start"], resident["quiet_hours_end"]) == ("22:30", "07:00")
    async with client("enrolment", role="resident", subject=rid) as own:
        patched = await own.patch(
            f"/v1/residents/{rid}", json={"quiet_hours_start": "21:00", "quiet_hours_end": "08:00"}
        )
        assert patched.status_code == 200, patched.text
        assert (patched.json()["quiet_hours_start"], patched.json()["quiet_hours_end"]) == ("21:00", "08:00")
        cleared = await own.patch(f"/v1/residents/{rid}", json={"quiet_hours_start": None, "quiet_hours_end": None})
        assert cleared.status_code == 200, cleared.text
        got = (await own.get(f"/v1/residents/{rid}")).json()
        assert (got["quiet_hours_start"], got["quiet_hours_end"]) == (None, None)
    contacts = await read_topic("enrolment.contacts", until=lambda rs: len(events_of(rs, rid, "resident_id", rid)) >= 3)
    quiet = [
        (body["quiet_hours_start"], body["quiet_hours_end"]) for _, body in events_of(contacts, rid, "resident_id", rid)
    ]
    assert quiet == [("22:30", "07:00"), ("21:00", "08:00"), (None, None)]


@pytest.mark.parametrize(
    "quiet",
    [
        {"quiet_hours_start": "22:00"},  # only one of the pair
        {"quiet_hours_start": "24:00", "quiet_hours_end": "07:00"},  # not a time of day
        {"quiet_hours_start": "7:00", "quiet_hours_end": "08:00"},  # not HH:MM
        {"quiet_hours_start": "22:00", "quiet_hours_end": None},  # one cleared, one set
    ],
)
async def test_bad_quiet_hours_are_refused_with_the_field(quiet: dict):
    async with client("enrolment") as http:
        created = await http.post("/v1/residents", json={"community_id": "pinghu", "audience_group": "adult", **quiet})
        resident = await register(http)
        patched = await http.patch(f"/v1/residents/{resident['resident_id']}", json=quiet)
    for response in (created, patched):
        assert response.status_code == 422, response.text
        assert "quiet_hours" in response.text


@pytest.mark.parametrize(
    "change, field",
    [
        ({"preferred_channel": "email"}, "preferred_channel"),  # consent given, no e-mail address held
        ({"phone": None}, "phone"),  # the channel is sms: clearing the phone leaves it nowhere to go
        ({"consent": True, "email": None, "preferred_channel": "email"}, "preferred_channel"),  # email unchanged
    ],
)
async def test_a_patch_cannot_leave_a_consenting_resident_with_a_channel_that_has_no_address(change, field):
    """Registration refuses consent with a channel that has no address; a PATCH that would reach
    the same state from a valid one is refused too (422 naming the field), and changes nothing."""
    async with client("enrolment") as http:
        resident = await register(http, phone="+86 13800000009", consent=True)
        rid = resident["resident_id"]
    async with client("enrolment", role="resident", subject=rid) as own:
        refused = await own.patch(f"/v1/residents/{rid}", json=change)
        assert refused.status_code == 422, refused.text
        assert ["body", field] in [d["loc"] for d in refused.json()["detail"]], refused.text
        after = (await own.get(f"/v1/residents/{rid}")).json()
    assert (after["preferred_channel"], after["phone"], after["consent"]) == ("sms", resident["phone"], True)
