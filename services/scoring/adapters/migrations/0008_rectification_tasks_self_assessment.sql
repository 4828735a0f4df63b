-- Rectification tasks (整改任务, domain/rectification.py): an item of a rectification list (an indicator
-- of a community or the street below its pass line) tracked with an owner, a deadline and a status.
CREATE TABLE IF NOT EXISTS rectification_tasks (
    task_id      uuid PRIMARY KEY,
    community_id text NOT NULL,  -- a community, or 'street'
    indicator_id text NOT NULL,
    owner_kind   text NOT NULL CHECK (owner_kind IN ('department', 'community')),
    owner        text NOT NULL,  -- a street department's name, or a community workstation's community id
    deadline     date NOT NULL,  -- the last day, in the street's calendar
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done', 'verified')),
    item         jsonb NOT NULL DEFAULT '{}',  -- the list's item (value, pass line, gap) when the task was opened
    opened_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
-- One task in hand per item: a second one for the same indicator waits until the first is verified.
CREATE UNIQUE INDEX IF NOT EXISTS rectification_tasks_in_hand
    ON rectification_tasks (community_id, indicator_id) WHERE status <> 'verified';
-- The overdue gauge reads the tasks not done yet.
CREATE INDEX IF NOT EXISTS rectification_tasks_pending
    ON rectification_tasks (deadline) WHERE status IN ('open', 'in_progress');

-- Every change of a task with who made it and when (opened, status steps, assignments, comments).
CREATE TABLE IF NOT EXISTS rectification_task_steps (
    step_id    bigserial PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES rectification_tasks (task_id),
    step       text NOT NULL,
    actor      text NOT NULL,
    actor_role text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS rectification_task_steps_task ON rectification_task_steps (task_id, step_id);

CREATE TABLE IF NOT EXISTS rectification_task_comments (
    comment_id uuid PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES rectification_tasks (task_id),
    actor      text NOT NULL,
    actor_role text NOT NULL,
    body       text NOT NULL,
    at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rectification_task_comments_task ON rectification_task_comments (task_id, at);

-- Self-assessment (自评) and expert assessment (专家评估) kept apart: the index uses an indicator's
-- latest expert score, else its latest self score (domain/assessment.py). Rows from before the split
-- were recorded as expert assessments, which is what the API called them.
ALTER TABLE assessments ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'expert';
ALTER TABLE assessments ALTER COLUMN kind DROP DEFAULT;
ALTER TABLE assessments DROP CONSTRAINT IF EXISTS assessments_kind_check;
ALTER TABLE assessments ADD CONSTRAINT assessments_kind_check CHECK (kind IN ('self', 'expert'));
ALTER TABLE assessments ADD COLUMN IF NOT EXISTS actor_role text;
CREATE INDEX IF NOT EXISTS assessments_latest_kind ON assessments (community_id, indicator_id, kind, recorded_at DESC);
