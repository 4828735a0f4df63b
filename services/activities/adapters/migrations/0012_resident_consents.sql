-- The purposes each resident agrees to now (enrolment's resident.consents_changed): survey answers
-- and session ratings are taken only from residents agreeing to `surveys`. No row: never agreed.
CREATE TABLE IF NOT EXISTS resident_consents (
    resident_id    text        PRIMARY KEY,
    purposes       text[]      NOT NULL,
    notice_version text        NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
