-- Every change to a session row bumps its version, so that a cancellation decided on an unlocked
-- read can check in its single write statement that nothing at all changed in between (else it
-- takes the locked path).
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION sessions_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS sessions_version ON sessions;
CREATE TRIGGER sessions_version BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION sessions_bump_version();
