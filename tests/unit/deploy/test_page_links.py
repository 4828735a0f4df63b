"""The local stack links the residents' phone page to activities (deploy/local/stack.py
page_links): enrolment names activities' address, activities admits every enrolment instance's
origin; the values are what the two services' settings accept."""

from __future__ import annotations

import stack
import topology as topo

from services.enrolment.config import EnrolmentSettings
from shared.http.cors import origin_of, parse_origins


def test_every_enrolment_instance_is_an_admitted_origin_and_activities_is_named(monkeypatch):
    creds = {"ACTIVITIES_HTTP_PORT": "8201", "ENROLMENT_HTTP_PORT": "8202"}
    monkeypatch.setattr(
        stack, "instances", lambda name, c=None: topo.instances_of(name, 2, int(c[f"{name.upper()}_HTTP_PORT"]))
    )
    links = stack.page_links(creds)
    assert links["ENROLMENT_ACTIVITIES_PUBLIC_URL"] == "http://127.0.0.1:8201"
    assert parse_origins(links["ACTIVITIES_CORS_ORIGINS"]) == (
        "http://127.0.0.1:8202", "http://localhost:8202", "http://127.0.0.1:8212", "http://localhost:8212",
    )  # fmt: skip
    assert origin_of(links["ENROLMENT_ACTIVITIES_PUBLIC_URL"]) == links["ENROLMENT_ACTIVITIES_PUBLIC_URL"]
    assert "activities_public_url" in EnrolmentSettings.model_fields
