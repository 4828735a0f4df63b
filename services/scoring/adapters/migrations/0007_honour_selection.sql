-- Selection (评选, domain/selection.py): an honour row is a candidate until its notice period ends.
-- Rows from before selection existed were awarded directly: they stay awarded (or revoked).
ALTER TABLE honours ADD COLUMN IF NOT EXISTS state text;
UPDATE honours SET state = CASE WHEN revoked_at IS NULL THEN 'awarded' ELSE 'revoked' END WHERE state IS NULL;
ALTER TABLE honours ALTER COLUMN state SET NOT NULL;
-- A row inserted without a state is a candidate, never an award by accident.
ALTER TABLE honours ALTER COLUMN state SET DEFAULT 'nominated';
ALTER TABLE honours DROP CONSTRAINT IF EXISTS honours_state_check;
ALTER TABLE honours ADD CONSTRAINT honours_state_check CHECK (state IN (
    'nominated', 'community_approved', 'rejected', 'in_notice', 'withdrawn', 'awarded', 'revoked'));
-- A candidate has no award time yet.
ALTER TABLE honours ALTER COLUMN awarded_at DROP NOT NULL;
ALTER TABLE honours ALTER COLUMN awarded_at DROP DEFAULT;
ALTER TABLE honours ADD COLUMN IF NOT EXISTS nominated_at timestamptz;
UPDATE honours SET nominated_at = awarded_at WHERE nominated_at IS NULL;
ALTER TABLE honours ALTER COLUMN nominated_at SET NOT NULL;
ALTER TABLE honours ALTER COLUMN nominated_at SET DEFAULT now();
ALTER TABLE honours ADD COLUMN IF NOT EXISTS place integer;  -- a competition place's rank
ALTER TABLE honours ADD COLUMN IF NOT EXISTS notice_starts_at timestamptz;
ALTER TABLE honours ADD COLUMN IF NOT EXISTS notice_ends_at timestamptz;
-- The leader's periodic look for notice periods that have ended reads only honours in notice.
CREATE INDEX IF NOT EXISTS honours_in_notice ON honours (notice_ends_at) WHERE state = 'in_notice';
CREATE INDEX IF NOT EXISTS honours_state ON honours (state, community_id);

-- Every step of every honour, with who took it and when: the selection record (GET /v1/honours/{id}).
-- acted_by: a staff member's id, `rules` for a nomination by rule, `notice` for an award at the end
-- of the notice period, or the resident who lodged an objection.
CREATE TABLE IF NOT EXISTS honour_steps (
    step_id      bigserial PRIMARY KEY,
    honour_id    uuid NOT NULL REFERENCES honours (honour_id),
    step         text NOT NULL,
    acted_by     text NOT NULL,
    actor_role   text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    objection_id uuid,
    at           timestamptz NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS honour_steps_honour ON honour_steps (honour_id, step_id);
CREATE INDEX IF NOT EXISTS honour_steps_acted_by ON honour_steps (acted_by);

-- Objections lodged during a notice period (公示异议); open while outcome is NULL.
CREATE TABLE IF NOT EXISTS honour_objections (
    objection_id      uuid PRIMARY KEY,
    honour_id         uuid NOT NULL REFERENCES honours (honour_id),
    lodged_by         text NOT NULL,
    lodged_role       text NOT NULL,
    reason            text NOT NULL,
    lodged_at         timestamptz NOT NULL,
    outcome           text CHECK (outcome IN ('upheld', 'dismissed')),
    resolved_by       text,
    resolution_reason text,
    resolved_at       timestamptz
);
CREATE INDEX IF NOT EXISTS honour_objections_open ON honour_objections (honour_id) WHERE outcome IS NULL;
CREATE INDEX IF NOT EXISTS honour_objections_lodged_by ON honour_objections (lodged_by);
