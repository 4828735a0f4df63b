"""Prometheus metrics of the enrolment service (default registry, low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "learnstreet_enrolment_requests_total",
    "Enrolment and cancellation requests by operation and outcome (status reached, or a refusal code).",
    ["operation", "outcome"],
)
REQUEST_DURATION = Histogram(
    "learnstreet_enrolment_request_duration_seconds",
    "Time to handle an enrolment or cancellation in the database (lock wait included).",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ENROL_RETRIES = Counter(
    "learnstreet_enrolment_enrol_retries_total",
    "Enrolments read again because the session's schedule or state changed between the read and the write.",
)
CANCEL_LOCKED_PATH = Counter(
    "learnstreet_enrolment_cancel_locked_path_total",
    "Cancellations that took the locked path because their session changed between the read and the write.",
)
PROMOTIONS = Counter(
    "learnstreet_enrolment_promotions_total",
    "Waitlisted residents promoted to a seat, by trigger (cancellation, capacity_change).",
    ["trigger"],
)
CANCELLED_BY_CATALOGUE = Counter(
    "learnstreet_enrolment_cancelled_by_catalogue_total",
    "Enrolments cancelled because their session or course was cancelled.",
    ["trigger"],
)
RESIDENTS = Counter(
    "learnstreet_enrolment_resident_changes_total",
    "Residents registered or updated.",
    ["action"],
)

for _op in ("enrol", "cancel"):
    REQUEST_DURATION.labels(_op)
for _trigger in ("cancellation", "capacity_change"):
    PROMOTIONS.labels(_trigger)
