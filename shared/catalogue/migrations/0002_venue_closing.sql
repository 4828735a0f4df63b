-- A venue's latest closing (issue 14), as learnt from venue.closed.v1 / venue.reopened.v1: closed
-- from closed_on, open again from reopened_on. Scoring leaves it out of its venue and seat
-- denominators on the days it is closed.
ALTER TABLE venues ADD COLUMN IF NOT EXISTS closed_on date;
ALTER TABLE venues ADD COLUMN IF NOT EXISTS reopened_on date;
