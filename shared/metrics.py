"""Prometheus metrics every service exports (besides faststream's own `faststream_*` ones).

Names follow Prometheus' rules: `learnstreet_` prefix, base units, `_total` for counters, and
labels of low cardinality only (topic, partition, event type, reason code; never a resident).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "learnstreet_events_consumed_total",
    "Kafka records taken from a topic and handled (applied, skipped as duplicate or dead-lettered).",
    ["topic"],
)
EVENTS_APPLIED = Counter(
    "learnstreet_events_applied_total",
    "Events whose effect was applied, by outcome (applied, duplicate).",
    ["event_type", "outcome"],
)
DEAD_LETTERED = Counter(
    "learnstreet_dead_lettered_total",
    "Records sent to a dead-letter topic, by source topic and reason code.",
    ["topic", "reason"],
)
DEAD_LETTERS_QUARANTINED = Counter(
    "learnstreet_dead_letters_quarantined_total",
    "Dead letters Kafka refused, kept in the service's dead_letter_quarantine table for replay.",
    ["topic", "reason"],
)
HANDLER_RETRIES = Counter(
    "learnstreet_handler_retries_total",
    "Retries of a batch or event after a transient failure (database or broker unavailable).",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "learnstreet_consumer_lag_messages",
    "Records not yet consumed, per topic partition (high watermark minus position).",
    ["topic", "partition"],
)
LAST_BATCH = Gauge(
    "learnstreet_consumer_last_batch_timestamp_seconds",
    "Unix time when the consumer last committed a batch of this topic.",
    ["topic"],
)
BATCH_DURATION = Histogram(
    "learnstreet_consumer_batch_duration_seconds",
    "Time to handle and commit one batch of records.",
    ["topic"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHECKPOINT_TAKEN = Gauge(
    "learnstreet_checkpoint_taken_timestamp_seconds",
    "When the projection's checkpoint (the copy a rebuild --from-checkpoint starts from) was last taken.",
    ["projection"],
)
REBUILD_HISTORY_COMPLETE = Gauge(
    "learnstreet_rebuild_history_complete",
    "1 while Kafka still holds every record a rebuild of the projection would replay (those after its "
    "checkpoint, or all of them without one), else 0.",
    ["projection"],
)
OUTBOX_BACKLOG = Gauge("learnstreet_outbox_backlog_messages", "Events written to the outbox and not yet published.")
OUTBOX_PUBLISHED = Counter(
    "learnstreet_outbox_published_total", "Events the outbox relay published to Kafka.", ["topic"]
)
OUTBOX_QUARANTINED = Counter(
    "learnstreet_outbox_quarantined_total",
    "Outbox rows Kafka can never take (malformed, too large), moved to the outbox_quarantine table.",
    ["topic", "reason"],
)
OUTBOX_PUBLISH_ERRORS = Counter(
    "learnstreet_outbox_publish_errors_total", "Failed attempts of the outbox relay to publish a batch."
)

registry = REGISTRY
