"""Loading a street's registry: many residents in one request, safe to run again."""

from __future__ import annotations

import pytest

from tests.support import client, headers_of, read_topic, token, unique

pytestmark = pytest.mark.integration


def _resident(resident_id: str, **overrides) -> dict:
    return {"resident_id": resident_id, "community_id": "xinmu", "audience_group": "adult",
            "phone": "+8613900000001", "consent": True, **overrides}  # fmt: skip


async def test_import_registers_new_residents_once_and_reports_existing_ones():
    ids = [unique("imp") for _ in range(3)]
    async with client("enrolment") as http:
        first = await http.post("/v1/residents/import", json={"residents": [_resident(i) for i in ids[:2]]})
        again = await http.post("/v1/residents/import", json={"residents": [_resident(i) for i in ids]})
        stored = await http.get(f"/v1/residents/{ids[2]}")
    assert first.status_code == 200, first.text
    assert first.json() == {"registered": 2, "existing": [], "erased": []}
    assert again.json() == {"registered": 1, "existing": ids[:2], "erased": []}
    assert stored.json()["community_id"] == "xinmu"

    def all_registered(records) -> bool:
        return {r.key.decode() for r in records if r.key} >= set(ids)

    records = await read_topic("enrolment.residents", until=all_registered)
    registrations = [
        r.key.decode() for r in records
        if r.key and r.key.decode() in ids and headers_of(r)["ce_type"].endswith("resident.registered.v1")
    ]  # fmt: skip
    assert sorted(registrations) == sorted(ids)  # one event each, although the import ran twice


async def test_import_refuses_bad_rows_with_the_field_and_changes_nothing():
    good, twice = unique("imp"), unique("imp")
    async with client("enrolment") as http:
        duplicate = await http.post(
            "/v1/residents/import", json={"residents": [_resident(good), _resident(twice), _resident(twice)]}
        )
        unknown = await http.post(
            "/v1/residents/import", json={"residents": [_resident(good), _resident(unique("imp"), community_id="mars")]}
        )
        nothing = await http.get(f"/v1/residents/{good}")
        resident_token = await http.post(
            "/v1/residents/import", json={"residents": [_resident(good)]},
            headers={"Authorization": f"Bearer {token('resident', good)}"},
        )  # fmt: skip
    assert duplicate.status_code == 422
    assert duplicate.json()["detail"][0]["loc"] == ["body", "residents.2.resident_id"]
    assert unknown.status_code == 422
    assert nothing.status_code == 404
    assert resident_token.status_code == 403
