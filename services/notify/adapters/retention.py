"""What notify prunes besides the inbox (shared/db/retention.py says when a row may go)."""

from __future__ import annotations

from shared.db.retention import PrunedTable

# Settled messages (every status the delivery worker no longer picks up), with their dead-letter
# rows, once settled longer than the retention and created before the safe-before time: the key
# of a pruned message is no longer there to stop its trigger, so the trigger must not come back.
NOTIFICATION_HISTORY = PrunedTable(
    "notifications",
    lambda s: s.retention_notifications_days,
    """WITH doomed AS (
           SELECT notification_id FROM notifications
           WHERE status NOT IN ('queued', 'deferred', 'sending') AND updated_at < $1 AND created_at < $2
           LIMIT $3 FOR UPDATE SKIP LOCKED),
       letters AS (DELETE FROM dead_letters d USING doomed WHERE d.notification_id = doomed.notification_id)
       DELETE FROM notifications n USING doomed WHERE n.notification_id = doomed.notification_id""",
)

TABLES = (NOTIFICATION_HISTORY,)
