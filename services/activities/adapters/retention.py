"""What activities prunes besides the inbox (shared/db/retention.py says when a row may go)."""

from __future__ import annotations

from shared.db.retention import PrunedTable

# The check-in ledger recognises a kiosk retry by its checkin_id. Parked scans stay: the sweep
# still judges them. Attendance keeps the checkin_id it came from; it is not pruned.
CHECKIN_LEDGER = PrunedTable(
    "checkins",
    lambda s: s.retention_checkins_days,
    """DELETE FROM checkins WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM checkins
           WHERE received_at < $1 AND received_at < $2 AND outcome IS DISTINCT FROM 'pending' LIMIT $3))""",
)

TABLES = (CHECKIN_LEDGER,)
