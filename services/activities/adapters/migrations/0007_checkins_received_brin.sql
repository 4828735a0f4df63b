-- The retention task deletes ledger rows by age (services/activities/adapters/retention.py). The
-- ledger is written in time order, so a BRIN index finds old rows at almost no cost to the
-- check-in hot path (a B-tree would add an index entry per check-in).
CREATE INDEX IF NOT EXISTS checkins_received_brin ON checkins USING brin (received_at);
