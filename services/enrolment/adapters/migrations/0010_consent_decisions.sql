-- Consent per purpose of the street's privacy notice (services/enrolment/domain/consent.py).
-- Append-only: every agreement and withdrawal stays, with the notice version it was given under
-- and who recorded it (the resident, or an operator from a signed paper form); the latest row per
-- purpose is the resident's state.
CREATE TABLE IF NOT EXISTS consent_decisions (
    decision_id     bigserial   PRIMARY KEY,
    resident_id     text        NOT NULL,
    consent_purpose text        NOT NULL,
    granted         boolean     NOT NULL,
    notice_version  text        NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    recorded_by     text        NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_decisions_of_resident ON consent_decisions (resident_id, decision_id);
