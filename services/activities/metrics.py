"""Prometheus metrics of the activities service (default registry, low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CHECKINS = Counter(
    "learnstreet_activities_checkins_total",
    "Kiosk check-ins by outcome (recorded, adjusted, merged, duplicate, conflict, parked, rejected).",
    ["outcome"],
)
REJECTED = Counter("learnstreet_activities_checkins_rejected_total", "Check-ins rejected, by reason code.", ["reason"])
STAGE = Histogram(
    "learnstreet_activities_checkin_batch_stage_seconds",
    "Time of each stage of one check-in batch (judge, load, claim, write, commit).",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_SIZE = Histogram(
    "learnstreet_activities_checkin_batch_records",
    "Check-ins per batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
PARKED = Gauge("learnstreet_activities_checkins_pending", "Check-ins parked until their resident or session is known.")
CACHE_REFRESHES = Counter(
    "learnstreet_activities_cache_refreshes_total",
    "Cache refreshes from the database: full (listener (re)connected) or the entries of one kind "
    "another transaction announced (venue, session, course, resident, seats).",
    ["kind"],
)
CACHE_MISSES = Counter(
    "learnstreet_activities_cache_lookups_total",
    "Check-in batch misses (kiosk, resident, session) looked up in the database before judging.",
    ["kind"],
)
for _kind in ("full", "venue", "session", "course", "resident", "seats"):
    CACHE_REFRESHES.labels(_kind)
for _kind in ("kiosk", "resident", "session"):
    CACHE_MISSES.labels(_kind)
