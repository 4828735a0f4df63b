"""Scoring's Prometheus metrics (served on `/metrics`; alerts in deploy/prometheus read them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INDEX_SCORE = Gauge(
    "learnstreet_scoring_index_score",
    "Learning-index score per community (street = the whole street) and aspect (total = all aspects).",
    ["community", "aspect"],
)
INDEX_FRESHNESS = Gauge(
    "learnstreet_scoring_index_last_update_timestamp_seconds", "Unix time of the last recomputation of the index."
)
REFRESH_DURATION = Histogram(
    "learnstreet_scoring_index_refresh_duration_seconds",
    "Time to recompute the index from the aggregates.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HONOURS_AWARDED = Counter(
    "learnstreet_scoring_honours_awarded_total",
    "Honours awarded: by rule (automatic selection) or at the end of their notice period (notice).",
    ["kind"],
)
HONOURS_NOMINATED = Counter("learnstreet_scoring_honours_nominated_total", "Candidates nominated.", ["kind"])
NOTICE_PASSES = Counter(
    "learnstreet_scoring_honour_notice_passes_total", "Looks of the index leader for notice periods that ended."
)
INDEX_UPDATES = Counter("learnstreet_scoring_index_updates_published_total", "IndexUpdated events written.")
DASHBOARD_PAGE_VIEWS = Counter("learnstreet_scoring_dashboard_page_views_total", "Times the dashboard page was served.")
RECTIFICATION_OVERDUE = Gauge(
    "learnstreet_rectification_tasks_overdue",
    "Rectification tasks (整改任务) past their deadline day and not done, per community (street: the street's items).",
    ["community"],
)
EVIDENCE_UPLOADED = Counter(
    "learnstreet_evidence_uploaded_total",
    "Evidence files (佐证材料) stored, by the kind their bytes show (pdf, png, jpeg, docx, ...).",
    ["kind"],
)
EVIDENCE_REFUSED = Counter(
    "learnstreet_evidence_refused_total",
    "Evidence uploads refused, by reason (too_large, unsupported_type, executable, type_mismatch, bad_form, ...).",
    ["reason"],
)
