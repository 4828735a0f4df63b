"""Fuzzing every HTTP API from its OpenAPI document (schemathesis) with a valid operator token:
whatever arrives, a service answers with a 2xx/4xx and no stack trace, never a 5xx.

Bounded: a few examples per operation, so the four services take well under two minutes."""

from __future__ import annotations

import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core.errors import LoaderError

from tests.support import service_url, token

pytestmark = pytest.mark.integration

EXAMPLES = 8
LEAKS = ("Traceback (most recent call last)", 'File "/', "asyncpg.exceptions", "sqlalchemy", "psycopg")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a red CI is reproducible
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def load(service: str):
    # loaded at collection: schemathesis' lazy `from_fixture` reads a pytest private attribute
    # that pytest 9 no longer has; a service that is down fails collection, it is never skipped
    for _ in range(60):  # a service restarting (another test's crash test) gets a minute
        try:
            return schemathesis.openapi.from_url(f"{service_url(service)}/openapi.json", timeout=10)
        except LoaderError:
            time.sleep(1)
    return schemathesis.openapi.from_url(f"{service_url(service)}/openapi.json", timeout=10)


activities = load("activities")
enrolment = load("enrolment")
scoring = load("scoring")
notify = load("notify")


def answer_is_sane(case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {token('operator', 'fuzz-operator')}"}, timeout=15)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}\nreproduce: {case.as_curl_command()}"
    for leak in LEAKS:
        assert leak not in response.text, f"{where} leaks {leak!r}: {response.text[:500]}"


@activities.parametrize()
@FUZZ
def test_fuzz_activities(case):
    answer_is_sane(case)


@enrolment.parametrize()
@FUZZ
def test_fuzz_enrolment(case):
    answer_is_sane(case)


@scoring.parametrize()
@FUZZ
def test_fuzz_scoring(case):
    answer_is_sane(case)


@notify.parametrize()
@FUZZ
def test_fuzz_notify(case):
    answer_is_sane(case)


@pytest.mark.parametrize("period", ["0000", "9999"])
def test_service_hours_of_a_year_the_calendar_cannot_bound_is_a_422_naming_the_field(period):
    # the fuzzer's find: the query spans [year, year + 1), and date() has no year 0 nor 10000
    r = httpx.get(
        f"{service_url('scoring')}/v1/volunteers/fuzz-volunteer/service-hours",
        params={"period": period},
        headers={"Authorization": f"Bearer {token('operator', 'fuzz-operator')}"},
        timeout=15,
    )
    assert r.status_code == 422, (r.status_code, r.text)
    assert r.json()["detail"][0]["loc"] == ["query", "period"], r.text
