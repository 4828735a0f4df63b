-- Where scoring's attendance stood when it erased a card (docs/decisions/0010-erasure.md,
-- amendment): per partition of activities.attendance the last offset applied by then. The card's
-- attendance at or below it was applied before the erasure (and pseudonymised by it); above it,
-- it arrived after and is not applied. A rebuild applies the same rule, so it equals the live index.
ALTER TABLE erased_cards ADD COLUMN IF NOT EXISTS attendance_offsets jsonb NOT NULL DEFAULT '{}';
-- Cards erased before this column existed: what scoring had applied by now counts as before the
-- erasure (the best line left; an erasure and this migration ship together, so only a
-- development database has such rows).
UPDATE erased_cards SET attendance_offsets = coalesce(
    (SELECT jsonb_object_agg(partition::text, "offset") FROM consumer_offsets
     WHERE topic = 'activities.attendance' OR topic LIKE '%.activities.attendance'), '{}')
WHERE attendance_offsets = '{}';
