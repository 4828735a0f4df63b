"""The notify service's metrics (default registry; no resident ids or addresses as labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "learnstreet_notify_messages_total",
    "Notifications that reached a status, by channel (none when no channel was chosen), kind and status.",
    ["channel", "kind", "status"],
)
RETRIES = Counter(
    "learnstreet_notify_retries_total",
    "Delivery attempts that failed transiently and were scheduled again, by channel and reason.",
    ["channel", "reason"],
)
LEASES_LOST = Counter(
    "learnstreet_notify_leases_lost_total",
    "Claimed notifications not sent because the worker's lease ran out first (another instance may have them).",
    ["channel"],
)
DEAD_LETTERS = Counter(
    "learnstreet_notify_dead_letters_total", "Notifications that failed for good, by reason.", ["reason"]
)
LATENCY = Histogram(
    "learnstreet_notify_delivery_latency_seconds",
    "From the triggering event (or a reminder's scheduled time) to the channel accepting the message.",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400),
)
QUEUE_DEPTH = Gauge(
    "learnstreet_notify_queue_depth_messages",
    "Notifications not yet delivered, by status (queued, deferred, sending).",
    ["status"],
)
CREATED = Counter("learnstreet_notify_created_total", "Notifications created from consumed events, by kind.", ["kind"])

for _status in ("queued", "deferred", "sending"):
    QUEUE_DEPTH.labels(_status).set(0)
