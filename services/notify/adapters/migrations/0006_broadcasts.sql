-- Broadcasts (宣传): an operator's announcement or course promotion to many residents. Targeting
-- needs each resident's community and audience group (from enrolment.residents, no contact data).
ALTER TABLE residents ADD COLUMN IF NOT EXISTS community_id text;
ALTER TABLE residents ADD COLUMN IF NOT EXISTS audience_group text;
CREATE INDEX IF NOT EXISTS residents_community ON residents (community_id);

CREATE TABLE IF NOT EXISTS broadcasts (
    broadcast_id    uuid        PRIMARY KEY,
    category        text        NOT NULL,
    kind            text        NOT NULL,
    message_zh      text        NOT NULL,
    message_en      text        NOT NULL,
    audience        jsonb       NOT NULL,
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- residents the audience matched, and those of them notify holds no contact for (not queued)
    targeted        int         NOT NULL,
    without_contact int         NOT NULL
);

-- A broadcast's report counts its messages by status: find them without scanning every message.
CREATE INDEX IF NOT EXISTS notifications_broadcast ON notifications ((params->>'broadcast_id'))
    WHERE kind IN ('announcement', 'promotion');
